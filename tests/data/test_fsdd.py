"""polymodal.data.fsdd on files in FSDD's real format: 8 kHz 16-bit mono WAV named {digit}_{speaker}_{index}.wav
inside the GitHub archive's ``free-spoken-digit-dataset-COMMIT/recordings/`` folder."""

import zipfile

import numpy as np
import pytest
import soundfile

from polymodal.data import download_fsdd, fsdd_files, fsdd_labels, load_fsdd
from polymodal.data.fsdd import FSDD_SHA256, fsdd_digest
from polymodal.errors import DatasetError


def _recordings(folder, speakers=("george", "theo"), indices=(0, 4, 5, 49)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for speaker in speakers:
        for digit in (0, 7):
            for i in indices:
                wave = 0.2 * rng.standard_normal(3000 + 10 * i)
                soundfile.write(str(folder / f"{digit}_{speaker}_{i}.wav"), wave, 8000, subtype="PCM_16")
    return folder


def _github_zip(path, recordings, extra=()):
    top = "free-spoken-digit-dataset-26eb9aaf76e81b692f806f9140c2d2777410d7a1"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/README.md", "FSDD")
        zf.writestr(f"{top}/recordings/", "")
        for f in sorted(recordings.glob("*.wav")):
            zf.write(f, f"{top}/recordings/{f.name}")
        for name, data in extra:
            zf.writestr(name, data)
    return path


def test_files_split_by_index_and_speaker(tmp_path):
    root = _recordings(tmp_path / "rec")
    test = fsdd_files(root, split="test")
    assert [f.name for f in test] == ["0_george_0.wav", "0_george_4.wav", "0_theo_0.wav", "0_theo_4.wav",
                                      "7_george_0.wav", "7_george_4.wav", "7_theo_0.wav", "7_theo_4.wav"]
    train = fsdd_files(root, speakers=["theo"], split="train")
    assert [f.name for f in train] == ["0_theo_49.wav", "0_theo_5.wav", "7_theo_49.wav", "7_theo_5.wav"]
    assert len(fsdd_files(root)) == 16


def test_load_reads_waveforms_labels_and_speakers_as_stored(tmp_path):
    root = _recordings(tmp_path / "rec")
    recordings, labels, speakers = load_fsdd(root, speakers=["george"], split="test")
    assert labels.tolist() == [0, 0, 7, 7] and speakers.tolist() == ["george"] * 4
    wave, rate = recordings[1]
    assert rate == 8000 and wave.dtype == np.float64 and wave.shape == (3040,)
    stored, _ = soundfile.read(str(root / "0_george_4.wav"))
    np.testing.assert_array_equal(wave, stored)
    names_only = fsdd_labels(fsdd_files(root, speakers=["george"], split="test"))  # the same, no audio read
    assert names_only[0].tolist() == labels.tolist() and names_only[1].tolist() == speakers.tolist()
    with pytest.raises(DatasetError, match="is not named"):
        fsdd_labels([root / "george_0_1.wav"])


def test_errors_name_the_folder_the_speaker_and_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_FSDD", str(tmp_path / "absent"))
    with pytest.raises(DatasetError, match="download_fsdd"):
        fsdd_files()
    root = _recordings(tmp_path / "rec")
    with pytest.raises(DatasetError, match=r"speakers \['zoe'\] are not in"):
        fsdd_files(root, speakers=["zoe"])
    with pytest.raises(DatasetError, match="split must be"):
        fsdd_files(root, split="valid")
    (root / "notes.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="notes.wav is not named"):
        fsdd_files(root)


def test_download_extracts_only_the_recordings_and_checks_their_digest(tmp_path):
    source = _recordings(tmp_path / "source")
    archive = _github_zip(tmp_path / "fsdd.zip", source)
    target = tmp_path / "cache" / "recordings"
    digest = fsdd_digest(source)
    assert download_fsdd(target, url=archive.as_uri(), sha256=digest, progress=False) == target
    assert sorted(f.name for f in target.iterdir()) == sorted(f.name for f in source.glob("*.wav"))
    assert fsdd_digest(target) == digest
    archive.unlink()  # present and intact: nothing is fetched again
    assert download_fsdd(target, url=archive.as_uri(), sha256=digest, progress=False) == target


def test_download_refuses_a_wrong_digest_and_leaves_nothing(tmp_path):
    source = _recordings(tmp_path / "source")
    archive = _github_zip(tmp_path / "fsdd.zip", source)
    target = tmp_path / "cache" / "recordings"
    with pytest.raises(DatasetError, match=f"expected {FSDD_SHA256}"):
        download_fsdd(target, url=archive.as_uri(), progress=False)
    assert not target.exists() and list((tmp_path / "cache").iterdir()) == []


def test_download_ignores_other_members_and_refuses_misnamed_recordings(tmp_path):
    source = _recordings(tmp_path / "source", speakers=("lucas",), indices=(1,))
    escape = ("free-spoken-digit-dataset-x/../../evil.wav", b"x")  # never written: not a recordings/ member
    archive = _github_zip(tmp_path / "ok.zip", source, extra=[escape])
    target = download_fsdd(tmp_path / "a", url=archive.as_uri(), sha256=None, progress=False)
    assert sorted(f.name for f in target.iterdir()) == ["0_lucas_1.wav", "7_lucas_1.wav"]
    assert not (tmp_path / "evil.wav").exists()
    bad = _github_zip(tmp_path / "bad.zip", source, extra=[("top/recordings/x.wav", b"x")])
    with pytest.raises(DatasetError, match="x.wav is not named"):
        download_fsdd(tmp_path / "b", url=bad.as_uri(), sha256=None, progress=False)
    (tmp_path / "not.zip").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(DatasetError, match="is not a zip archive"):
        download_fsdd(tmp_path / "c", url=(tmp_path / "not.zip").as_uri(), sha256=None, progress=False)
