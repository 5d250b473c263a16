"""Seeded splits kept on disk, so a run whose split was drawn before starts without scikit-learn.

:func:`~polymodal.data.splits.stratified_split` is scikit-learn's ``train_test_split`` (MultiBench's
protocol), and importing scikit-learn costs a training run more CPU time (~1.2-1.8 s: it pulls in
scipy.stats and pandas) than everything else between the command and the first optimiser step
but torch. The split is a pure function of the targets, the two sizes, the seed and the versions
of scikit-learn and numpy, so :func:`cached_stratified_split` stores its three index arrays under
that key (a SHA-256 of all of them) and reuses them: the first run of a (data, sizes, seed)
draws the split with scikit-learn, later ones read ~10 KB.

The folder is ``$POLYMODAL_CACHE/splits``, else ``~/.cache/polymodal/splits``;
``POLYMODAL_CACHE=off`` turns the cache off. A file is written atomically (temporary file,
then ``os.replace``), read with ``allow_pickle=False`` and used only if its arrays are a sorted
partition of ``range(n)`` with the sizes scikit-learn draws; anything else (missing, corrupt, a
read-only folder) falls back to drawing the split, so the cache can change speed, never a split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from polymodal.data.splits import Split, stratified_split

__all__ = ["CACHE_ENV", "split_cache_dir", "cached_stratified_split"]

CACHE_ENV = "POLYMODAL_CACHE"
_FORMAT = "polymodal-split-v1"
logger = logging.getLogger("polymodal")


def split_cache_dir() -> Path | None:
    """``$POLYMODAL_CACHE/splits``, ``~/.cache/polymodal/splits``, or ``None`` when ``POLYMODAL_CACHE=off``."""
    root = os.environ.get(CACHE_ENV, "")
    if root.lower() in ("off", "0", "false", "none"):
        return None
    try:
        return (Path(root) if root else Path.home() / ".cache" / "polymodal") / "splits"
    except RuntimeError:  # no home directory to be found: no cache
        return None


def _key(target: np.ndarray, val_size: float, test_size: float, seed: int, stratify: bool) -> str | None:
    if target.dtype.hasobject:
        return None  # no stable bytes to hash
    try:
        sklearn_version = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return None
    head = json.dumps({"format": _FORMAT, "val_size": float(val_size), "test_size": float(test_size),
                       "seed": int(seed), "stratify": bool(stratify), "sklearn": sklearn_version,
                       "numpy": np.__version__, "dtype": target.dtype.str, "shape": list(target.shape)},
                      sort_keys=True)
    digest = hashlib.sha256(head.encode())
    digest.update(np.ascontiguousarray(target).tobytes())
    return digest.hexdigest()


def _sizes(n: int, val_size: float, test_size: float) -> tuple[int, int, int]:
    """(train, val, test) sizes as ``train_test_split`` draws them (test: ceil of the fraction)."""
    n_test = math.ceil(test_size * n)
    rest = n - n_test
    n_val = math.ceil(val_size / (1 - test_size) * rest) if val_size > 0 else 0
    return rest - n_val, n_val, n_test


def _read(path: Path, n: int, sizes: tuple[int, int, int]) -> Split | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = [np.asarray(stored[k]) for k in ("train", "val", "test")]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if any(a.ndim != 1 or a.dtype.kind not in "iu" or np.any(a[1:] <= a[:-1]) for a in arrays):
        return None
    if tuple(len(a) for a in arrays) != sizes:
        return None
    every = np.sort(np.concatenate(arrays))
    if not np.array_equal(every, np.arange(n)):
        return None
    return Split(*(a.astype(np.int64, copy=False) for a in arrays))


def _write(path: Path, split: Split) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp",
                                         delete=False) as handle:
            np.savez(handle, train=split.train, val=split.val, test=split.test)
        os.replace(handle.name, path)
    except OSError as error:  # a read-only or full disk: no cache, same split
        logger.debug("split cache not written (%s): %s", path, error)
        try:
            os.unlink(handle.name)
        except (OSError, NameError):
            pass


def cached_stratified_split(target, *, val_size: float = 0.2, test_size: float = 0.2, seed: int = 0,
                            stratify: bool = True) -> Split:
    """:func:`~polymodal.data.splits.stratified_split`'s split (the same index arrays), read from the
    cache when this (targets, sizes, seed, stratify, scikit-learn and numpy versions) was drawn before.

    Examples
    --------
    >>> y = np.repeat(np.arange(10), 20)
    >>> a, b = cached_stratified_split(y, seed=0), stratified_split(y, seed=0)
    >>> all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    True
    """
    target = np.asarray(target)
    folder = split_cache_dir()
    key = _key(target, val_size, test_size, seed, stratify) if folder is not None else None
    if key is None or not (0 < test_size < 1 and 0 <= val_size < 1 and val_size + test_size < 1):
        return stratified_split(target, val_size=val_size, test_size=test_size, seed=seed, stratify=stratify)
    path = folder / f"{key}.npz"
    found = _read(path, len(target), _sizes(len(target), val_size, test_size)) if path.is_file() else None
    if found is not None:
        return found
    split = stratified_split(target, val_size=val_size, test_size=test_size, seed=seed, stratify=stratify)
    _write(path, split)
    return split
