"""Free Spoken Digit Dataset (FSDD): 3000 recordings of the digits 0-9 by 6 English speakers, 8 kHz mono.

Source: Z. Jackson, C. Souza, J. Flaks, Y. Pan, H. Nicolas and A. Thite,
"Jakobovski/free-spoken-digit-dataset", GitHub, doi:10.5281/zenodo.1342401, licensed CC BY-SA 4.0.
Not bundled: :func:`download_fsdd` fetches the repository's archive at a pinned commit once and checks
every recording against a digest of their contents (GitHub's zip bytes are not stable, the files are), or
point ``$POLYMODAL_FSDD`` at a copy of its ``recordings/`` folder. Files are named
``{digit}_{speaker}_{index}.wav`` (50 per digit and speaker); the repository's test split is indices 0-4.

Real voices for the spoken-digit benchmarks: real recordings of other speakers than the Tux Paint test's
(``benchmarks/bench_av_digits.py --fsdd``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from polymodal.core.errors import DatasetError

__all__ = ["FSDD_ENV", "FSDD_SPEAKERS", "FSDD_URL", "fsdd_dir", "fsdd_files", "fsdd_labels", "load_fsdd",
           "download_fsdd", "fsdd_digest"]

FSDD_ENV = "POLYMODAL_FSDD"
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"  # 2024-05-02, 3000 recordings
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip"
FSDD_SHA256 = "99aa5e3a7c822ab55b2a3b47e0b05aeb9f011c54837a12e3831ad24108330829"  # fsdd_digest of the 3000 files
FSDD_TEST_INDICES = 5  # indices 0-4 of each digit and speaker: the repository's test split
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def fsdd_dir() -> Path:
    """Where the recordings live: ``$POLYMODAL_FSDD`` or ``~/.cache/polymodal/fsdd/recordings``."""
    value = os.environ.get(FSDD_ENV)
    return Path(value) if value else Path.home() / ".cache" / "polymodal" / "fsdd" / "recordings"


def _parse(path: Path) -> tuple[int, str, int]:
    match = _NAME.match(path.name)
    if match is None:
        raise DatasetError(f"FSDD file {path} is not named {{digit}}_{{speaker}}_{{index}}.wav")
    return int(match[1]), match[2], int(match[3])


def fsdd_files(root: str | os.PathLike | None = None, *, speakers=None, split: str | None = None) -> list[Path]:
    """The recordings under ``root`` (default :func:`fsdd_dir`), sorted by name.

    ``speakers``: keep these speakers only (each must occur); ``split``: ``"test"`` (indices 0-4, the
    repository's split), ``"train"`` (the others) or None (all).
    """
    folder = Path(root) if root is not None else fsdd_dir()
    if split not in (None, "train", "test"):
        raise DatasetError(f"FSDD split must be 'train', 'test' or None, got {split!r}")
    if not folder.is_dir():
        raise DatasetError(f"no FSDD recordings at {folder}: run `python -c 'from polymodal.data import "
                           f"download_fsdd; download_fsdd()'` or set ${FSDD_ENV} to a copy of its recordings/")
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise DatasetError(f"no .wav files in {folder} (expected FSDD's {{digit}}_{{speaker}}_{{index}}.wav)")
    parsed = [(f, *_parse(f)) for f in files]
    if speakers is not None:
        unknown = sorted(set(speakers) - {s for _, _, s, _ in parsed})
        if unknown:
            raise DatasetError(f"FSDD speakers {unknown} are not in {folder}")
        parsed = [p for p in parsed if p[2] in set(speakers)]
    if split is not None:
        parsed = [p for p in parsed if (p[3] < FSDD_TEST_INDICES) == (split == "test")]
    return [p[0] for p in parsed]


def load_fsdd(root: str | os.PathLike | None = None, *, speakers=None, split: str | None = None):
    """Read the recordings of :func:`fsdd_files`.

    Returns
    -------
    recordings : list of (waveform float64 (n,), sample_rate int)
        As stored (mono 8 kHz); pass them through :func:`polymodal.encoders.prepare_speech`.
    labels : ndarray (N,) int
    speakers : ndarray (N,) str
    """
    from polymodal.data.audio import read_audio_file

    files = fsdd_files(root, speakers=speakers, split=split)
    recordings = []
    for f in files:
        data, rate = read_audio_file(f)  # DatasetError for an unreadable or empty file
        recordings.append((data.mean(axis=1), rate))
    return (recordings, *fsdd_labels(files))


def fsdd_labels(files) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (N,) int, speakers (N,) str)`` of FSDD files, read from their names (no audio is read)."""
    parsed = [_parse(Path(f)) for f in files]
    return np.array([p[0] for p in parsed]), np.array([p[1] for p in parsed])


def fsdd_digest(root: str | os.PathLike) -> str:
    """SHA-256 over the sorted ``name\\0sha256(bytes)`` lines of every ``.wav`` in ``root``: the same for any
    copy of the recordings, whichever archive they came from."""
    lines = [f"{f.name}\0{hashlib.sha256(f.read_bytes()).hexdigest()}\n" for f in sorted(Path(root).glob("*.wav"))]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def download_fsdd(root: str | os.PathLike | None = None, *, url: str = FSDD_URL,
                  sha256: str | None = FSDD_SHA256, progress: bool = True) -> Path:
    """Fetch FSDD's recordings into ``root`` (default :func:`fsdd_dir`) and return it; nothing is done if
    ``root`` already holds recordings with the expected :func:`fsdd_digest`.

    Only ``*/recordings/*.wav`` members are extracted (names checked, no other path), into a temporary
    folder that replaces ``root`` once the digest matches (``sha256=None`` skips the check): an interrupted
    or corrupted download leaves nothing behind.
    """
    target = Path(root) if root is not None else fsdd_dir()
    if target.is_dir() and any(target.glob("*.wav")) and (sha256 is None or fsdd_digest(target) == sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "fsdd.zip"
        if progress:
            print(f"downloading {url}")
        with urllib.request.urlopen(url) as response, open(archive, "wb") as out:  # noqa: S310 (https / file)
            shutil.copyfileobj(response, out)
        staged = Path(tmp) / "recordings"
        staged.mkdir()
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    parts = member.split("/")
                    if len(parts) == 3 and parts[1] == "recordings" and parts[2]:
                        _parse(Path(parts[2]))
                        (staged / parts[2]).write_bytes(zf.read(member))
        except zipfile.BadZipFile as err:
            raise DatasetError(f"{url} is not a zip archive: {err}") from err
        if not any(staged.glob("*.wav")):
            raise DatasetError(f"{url} holds no recordings/*.wav")
        if sha256 is not None and (found := fsdd_digest(staged)) != sha256:
            raise DatasetError(f"FSDD recordings from {url} have digest {found}, expected {sha256}")
        if target.exists():
            shutil.rmtree(target)
        staged.replace(target)
    return target
