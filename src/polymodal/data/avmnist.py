"""Reader for AV-MNIST in MultiBench's ``.npy`` layout.

AV-MNIST (Vielzeuf et al., ECCV Workshops 2018; MultiBench, Liang et al.,
NeurIPS 2021) pairs MNIST digit images, with 75% of their energy removed by
PCA, with spectrograms of spoken digits (FSDD + ESC-50 noise)::

    <dir>/image/train_data.npy   (60000, 784)      pixels 0-255
    <dir>/image/test_data.npy    (10000, 784)
    <dir>/audio/train_data.npy   (60000, 112, 112) spectrograms 0-255
    <dir>/audio/test_data.npy    (10000, 112, 112)
    <dir>/train_labels.npy       (60000,)          digits 0-9
    <dir>/test_labels.npy        (10000,)

The last ``val_size`` (5000) training rows are the validation split, as in
MultiBench. Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.spec import ModalitySpec
from polymodal.errors import DatasetError

__all__ = ["AVMNISTSplits", "read_avmnist", "load_avmnist", "AVMNIST_ENV"]

AVMNIST_ENV = "POLYMODAL_AVMNIST"


@dataclass
class AVMNISTSplits:
    """AV-MNIST train/valid/test, each a :class:`MultimodalDataset` with
    ``image`` ``(N, 1, 28, 28)`` and ``audio`` ``(N, 1, 112, 112)``."""

    train: MultimodalDataset
    valid: MultimodalDataset
    test: MultimodalDataset


def _load(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"AV-MNIST file not found: {path}")
    try:
        # memory-mapped first: a header promising more bytes than the file holds fails here, before allocating
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as error:  # object arrays need pickle: refuse
        raise DatasetError(f"{path}: not a plain numeric .npy file ({error})") from None
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"{path}: expected a .npy array, got an .npz archive")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise DatasetError(f"{path}: expected a real numeric array, got dtype {array.dtype}")
    _check_finite(array, path)
    return array if mmap else np.array(array)


def _check_finite(array: np.ndarray, path: Path, rows: int = 4096) -> None:
    """Refuse NaN/inf in a float array, naming the file and the first bad row (read in chunks)."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    flat = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
    for start in range(0, len(flat), rows):
        bad = ~np.isfinite(flat[start:start + rows]).all(axis=1)
        if bad.any():
            raise DatasetError(f"{path}: row {start + int(np.argmax(bad))} contains NaN or inf; "
                               "AV-MNIST values must be finite")


def _part(directory: Path, part: str, mmap: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = _load(directory / "image" / f"{part}_data.npy", mmap)
    audio = _load(directory / "audio" / f"{part}_data.npy", mmap)
    labels = _load(directory / f"{part}_labels.npy", False)
    if image.ndim != 2 or image.shape[1] != 784:
        raise DatasetError(f"{directory}/image/{part}_data.npy must have shape (N, 784), got {image.shape}")
    if audio.ndim != 3:
        raise DatasetError(f"{directory}/audio/{part}_data.npy must have shape (N, 112, 112), got {audio.shape}")
    labels = labels.reshape(-1)
    if not (len(image) == len(audio) == len(labels)):
        raise DatasetError(
            f"AV-MNIST {part}: image has {len(image)} rows, audio {len(audio)}, labels {len(labels)}; they must agree"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9 or not np.all(labels == np.round(labels))):
        raise DatasetError(f"AV-MNIST {part}_labels.npy must hold digits 0-9, got {labels.min()}..{labels.max()}")
    return image, audio, labels.astype(np.int64)


def _dataset(image, audio, labels, normalize: bool, ids) -> MultimodalDataset:
    image = np.asarray(image).reshape(len(image), 1, 28, 28)
    audio = np.asarray(audio)[:, None]
    if normalize:
        image, audio = (image / 255.0).astype(np.float32), (audio / 255.0).astype(np.float32)
    specs = {
        "image": ModalitySpec("image", "image", image.shape[1:], description="MNIST digit, 75% PCA energy removed"),
        "audio": ModalitySpec("audio", "audio", audio.shape[1:], description="spoken-digit spectrogram"),
    }
    return MultimodalDataset({"image": image, "audio": audio}, labels, specs=specs, ids=list(ids),
                             task="classification", classes=[str(d) for d in range(10)], name="avmnist",
                             check_finite=False)


def read_avmnist(
    directory: str | os.PathLike, *, val_size: int = 5000, normalize: bool = True, mmap: bool = True
) -> AVMNISTSplits:
    """Read AV-MNIST from MultiBench's folder layout.

    Parameters
    ----------
    directory : path holding ``image/``, ``audio/`` and ``*_labels.npy``.
    val_size : int
        The last ``val_size`` training rows form the validation split (5000).
    normalize : bool
        Scale pixels and spectrogram values from 0-255 to [0, 1] (float32).
    mmap : bool
        Memory-map the arrays (only the rows used are read when ``normalize=False``).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "image").mkdir(); (d / "audio").mkdir()
    >>> for part, n in [("train", 3), ("test", 2)]:
    ...     np.save(d / "image" / f"{part}_data.npy", np.zeros((n, 784), np.uint8))
    ...     np.save(d / "audio" / f"{part}_data.npy", np.zeros((n, 112, 112), np.uint8))
    ...     np.save(d / f"{part}_labels.npy", np.arange(n))
    >>> s = read_avmnist(d, val_size=1)
    >>> len(s.train), len(s.valid), len(s.test), s.train.specs["audio"].shape
    (2, 1, 2, (1, 112, 112))
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"AV-MNIST folder not found: {directory}")
    image, audio, labels = _part(directory, "train", mmap)
    if not 0 <= val_size < len(labels):
        raise DatasetError(f"val_size must be in [0, {len(labels)}) (training rows), got {val_size}")
    cut = len(labels) - val_size
    t_image, t_audio, t_labels = _part(directory, "test", mmap)
    n = len(labels)
    return AVMNISTSplits(
        _dataset(image[:cut], audio[:cut], labels[:cut], normalize, range(cut)),
        _dataset(image[cut:], audio[cut:], labels[cut:], normalize, range(cut, n)),
        _dataset(t_image, t_audio, t_labels, normalize, range(n, n + len(t_labels))),
    )


def _available() -> bool | str:
    value = os.environ.get(AVMNIST_ENV)
    if value is None:
        return f"set ${AVMNIST_ENV} to the AV-MNIST folder (image/, audio/, *_labels.npy)"
    return True if (Path(value) / "train_labels.npy").is_file() else f"${AVMNIST_ENV}={value} has no train_labels.npy"


@register_dataset(
    "avmnist",
    description="AV-MNIST: MNIST images (PCA-degraded) + spoken-digit spectrograms, 70000 samples, 10 classes",
    source=f"MultiBench avmnist.tar.gz (.npy layout; not bundled, folder from ${AVMNIST_ENV})",
    licence="MNIST (CC BY-SA 3.0) + FSDD (CC BY-SA 4.0) + ESC-50 (CC BY-NC 3.0)",
    available=_available,
)
def load_avmnist(path: str | os.PathLike | None = None, *, split: str = "all", **kwargs: Any) -> MultimodalDataset:
    """Load AV-MNIST from ``path`` or ``$POLYMODAL_AVMNIST``; ``split`` is
    ``"train"``, ``"valid"``, ``"test"`` or ``"all"`` (the three concatenated,
    in that order). Other keywords go to :func:`read_avmnist`."""
    chosen = path if path is not None else os.environ.get(AVMNIST_ENV)
    if chosen is None:
        raise DatasetError(f"dataset 'avmnist' is not bundled: pass path=... to its folder or set ${AVMNIST_ENV}")
    splits = read_avmnist(chosen, **kwargs)
    if split in ("train", "valid", "test"):
        return getattr(splits, split)
    if split != "all":
        raise DatasetError(f"split must be one of ('train', 'valid', 'test', 'all'), got {split!r}")
    parts = [splits.train, splits.valid, splits.test]
    return MultimodalDataset(
        {m: np.concatenate([p.modalities[m] for p in parts]) for m in ("image", "audio")},
        np.concatenate([p.target for p in parts]), specs=splits.train.specs,
        ids=[i for p in parts for i in p.ids], task="classification", classes=splits.train.classes,
        name="avmnist", check_finite=False,
    )
