"""Safe unpickling and the MultiBench/MulT affective pickle reader, on files
written in exactly that format."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from polymodal.data import Batch, collate, list_datasets, load_dataset, read_affective_pickle, safe_pickle
from polymodal.errors import DatasetError, ModalityError


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalExploit:
    def __reduce__(self):
        return (eval, ("__import__('os').getpid()",))


# -- safe_pickle --------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_pickle_round_trips_plain_data(protocol):
    data = {
        "f64": np.linspace(-1, 1, 12).reshape(3, 4),
        "f32_fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "int": np.arange(5, dtype=np.int16),
        "bytes_ids": np.array([[b"vid", b"1", b"2"], [b"vid", b"3", b"4"]]),
        "obj": np.array([b"x", ("a", 1)], dtype=object),
        "scalar": np.float64(2.5),
        "nested": [1, 2.0, "s", b"b", (None, True), {"k": -np.inf}],
        "complex": 1 + 2j,
    }
    out = safe_pickle.loads(pickle.dumps(data, protocol=protocol))
    for key in ("f64", "f32_fortran", "int", "bytes_ids"):
        np.testing.assert_array_equal(out[key], data[key])
        assert out[key].dtype == data[key].dtype
    assert out["obj"].tolist() == data["obj"].tolist()
    assert out["scalar"] == 2.5 and out["complex"] == 1 + 2j
    assert out["nested"][:5] == data["nested"][:5] and out["nested"][5]["k"] == -np.inf


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"train": {"vision": np.zeros(2), "evil": _Exploit(marker)}})
    path = tmp_path / "mosi_raw.pkl"
    path.write_bytes(payload)
    with pytest.raises(DatasetError, match=r"refusing to unpickle global '(posix|os|nt)\.system'"):
        safe_pickle.load(path)
    with pytest.raises(DatasetError, match="refusing"):
        read_affective_pickle(path)
    assert not marker.exists()
    # sanity check that the payload really is live with the plain unpickler
    pickle.loads(payload)
    assert marker.exists()


def test_other_globals_are_refused():
    with pytest.raises(DatasetError, match=r"'builtins\.eval'"):
        safe_pickle.loads(pickle.dumps(_EvalExploit()))
    from collections import OrderedDict

    with pytest.raises(DatasetError, match=r"'collections\.OrderedDict'"):
        safe_pickle.loads(pickle.dumps(OrderedDict(a=1)))
    # a hand-written GLOBAL opcode for getattr (the classic gadget)
    with pytest.raises(DatasetError, match=r"'builtins\.getattr'"):
        safe_pickle.loads(b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'x'\ntR.")


def test_truncated_or_missing_pickle_is_a_dataset_error(tmp_path):
    data = pickle.dumps({"a": np.arange(10)})
    with pytest.raises(DatasetError, match="not a readable pickle"):
        safe_pickle.load(io.BytesIO(data[:20]))
    with pytest.raises(DatasetError, match="not found"):
        safe_pickle.load(tmp_path / "nope.pkl")


# -- affective fixture -------------------------------------------------------
T = 6


def _split(rng, n, start_rows, labels, zero_text=()):
    """n samples, left-zero-padded: sample i has real steps from start_rows[i] on."""
    vision = rng.normal(size=(n, T, 3))
    audio = rng.normal(size=(n, T, 2))
    text = rng.normal(size=(n, T, 4))
    for i, s in enumerate(start_rows):
        vision[i, :s] = audio[i, :s] = text[i, :s] = 0.0
    for i in zero_text:
        text[i] = 0.0
    ids = np.array([[b"video%d" % i, b"%d" % i, b"%d" % (i + 1)] for i in range(n)])
    return {"vision": vision, "audio": audio, "text": text,
            "labels": np.asarray(labels, dtype=np.float32).reshape(n, 1, 1), "id": ids}


@pytest.fixture
def mosi_file(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "train": _split(rng, 4, [2, 0, 5, 3], [2.4, -0.6, 0.0, -3.0], zero_text=[3]),
        "valid": _split(rng, 2, [1, 4], [1.0, -1.2]),
        "test": _split(rng, 3, [0, 2, 3], [0.2, -2.8, 3.0]),
    }
    data["train"]["audio"][1, 4, 0] = -np.inf
    data["train"]["vision"][0, 3, 1] = np.nan
    path = tmp_path / "mosi_raw.pkl"
    with path.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    return path, data


def test_affective_round_trip_with_multibench_cleaning(mosi_file):
    path, raw = mosi_file
    splits = read_affective_pickle(path, name="mosi")
    train = splits.train
    # sample 3 has all-zero text: dropped as MultiBench's drop_entry does
    assert len(train) == 3 and splits.cleaning["train"]["dropped_zero_text"] == 1
    assert splits.cleaning["train"]["nonfinite"]["audio"] == 1 and splits.cleaning["train"]["nan"]["vision"] == 1
    assert train.ids == [("video0", "0", "1"), ("video1", "1", "2"), ("video2", "2", "3")]
    np.testing.assert_allclose(train.target, [2.4, -0.6, 0.0], rtol=1e-6)
    for i, start in enumerate([2, 0, 5]):
        for m in ("vision", "audio", "text"):
            expected = raw["train"][m][i, start:].astype(np.float32)
            expected[~np.isfinite(expected)] = 0.0
            np.testing.assert_array_equal(train.modalities[m][i], expected)
    assert train.modalities["audio"][1][4, 0] == 0.0  # -inf -> 0
    assert train.modalities["vision"][0][1, 1] == 0.0  # NaN (step 3 - start 2) -> 0
    assert train.specs["text"].shape == (None, 4) and train.specs["audio"].dim == 2
    # variable lengths are padded by collate with the right lengths
    batch: Batch = collate([train[i] for i in range(3)])
    assert batch.lengths["text"].tolist() == [4, 6, 1]
    assert len(splits.valid) == 2 and len(splits.test) == 3


def test_affective_dense_and_classification(mosi_file):
    path, raw = mosi_file
    splits = read_affective_pickle(path, task="classification", trim_padding=False, drop_zero_text=False,
                                   modalities=["audio", "text"])
    train = splits.train
    assert list(train.modalities) == ["audio", "text"]
    assert train.modalities["text"].shape == (4, T, 4) and train.modalities["text"].dtype == np.float32
    assert train.target.tolist() == [1, 0, 0, 0]  # label > 0 (0.0 is not positive)
    assert splits.test.target.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(train.modalities["text"][3], 0.0)


def test_affective_concatenated_split_and_catalog(mosi_file, monkeypatch):
    path, _ = mosi_file
    full, split = read_affective_pickle(path).concatenated()
    assert len(full) == 3 + 2 + 3
    assert split.train.tolist() == [0, 1, 2] and split.val.tolist() == [3, 4] and split.test.tolist() == [5, 6, 7]
    names = {info.name: info for info in list_datasets()}
    monkeypatch.delenv("POLYMODAL_MOSI", raising=False)
    assert names["mosi"].availability()[0] is False
    with pytest.raises(DatasetError, match="POLYMODAL_MOSI"):
        load_dataset("mosi")
    monkeypatch.setenv("POLYMODAL_MOSI", str(path))
    assert names["mosi"].availability()[0] is True
    valid = load_dataset("mosi", split="valid")
    np.testing.assert_allclose(valid.target, [1.0, -1.2], rtol=1e-6)
    assert len(load_dataset("mosi")) == 8
    assert load_dataset("mustard", path=path, split="test").task == "classification"


def test_affective_malformed_files(tmp_path):
    def write(obj):
        p = tmp_path / "bad.pkl"
        p.write_bytes(pickle.dumps(obj))
        return p

    rng = np.random.default_rng(1)
    good = _split(rng, 2, [0, 0], [1, -1])
    with pytest.raises(DatasetError, match="keys"):
        read_affective_pickle(write({"train": good, "test": good}))
    missing = {k: v for k, v in good.items() if k != "audio"}
    with pytest.raises(DatasetError, match="lacks key 'audio'"):
        read_affective_pickle(write({"train": missing, "valid": good, "test": good}))
    short = dict(good, labels=np.zeros((3, 1, 1)))
    with pytest.raises(DatasetError, match="labels has 3 values"):
        read_affective_pickle(write({"train": good, "valid": short, "test": good}))
    unaligned = dict(good, audio=np.zeros((2, T + 1, 2)))
    with pytest.raises(DatasetError, match="not word-aligned"):
        read_affective_pickle(write({"train": unaligned, "valid": good, "test": good}), aligned=True)
    with pytest.raises(ModalityError, match="subset"):
        read_affective_pickle(write({"train": good, "valid": good, "test": good}), modalities=["video"])


def test_unaligned_file_trims_each_modality_at_its_own_start(tmp_path):
    """MulT's *_noalign pickles: a different T per modality, cut separately."""
    rng = np.random.default_rng(2)
    split = _split(rng, 3, [1, 0, 2], [0.5, -0.5, 1.5])
    vision = rng.normal(size=(3, 9, 3))
    vision[0, :4] = 0.0
    vision[2, :8] = 0.0
    split["vision"] = vision
    path = tmp_path / "mosi_noalign.pkl"
    path.write_bytes(pickle.dumps({"train": split, "valid": split, "test": split}))
    train = read_affective_pickle(path).train
    assert [len(v) for v in train.modalities["vision"]] == [5, 9, 1]
    assert [len(t) for t in train.modalities["text"]] == [5, 6, 4]
    np.testing.assert_array_equal(train.modalities["vision"][0], vision[0, 4:].astype(np.float32))
    batch = collate([train[i] for i in range(3)])
    assert batch.lengths["vision"].tolist() == [5, 9, 1] and batch.lengths["audio"].tolist() == [5, 6, 4]
