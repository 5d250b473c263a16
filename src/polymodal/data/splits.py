"""Seeded, stratified train/validation/test splits: scikit-learn's ``train_test_split``, in numpy.

:func:`stratified_split` is MultiBench's protocol, two calls of scikit-learn's
``train_test_split(..., stratify=y, random_state=seed)``. Importing scikit-learn costs a
training run ~1.2-1.8 CPU s (it pulls in scipy.stats and pandas), more than everything but
torch between ``polymodal train`` and the first optimiser step, so the split is drawn here
with numpy alone, in scikit-learn's order: the same sizes, the same ``np.random.RandomState``
draws and therefore the same index arrays (tests/data/test_split_numpy.py checks them
against scikit-learn's on hundreds of inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from polymodal.errors import ConfigError, ShapeError

__all__ = ["Split", "stratified_split"]


@dataclass(frozen=True)
class Split:
    """Index arrays of one train/validation/test split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _random_state(seed) -> np.random.RandomState:
    """The generator scikit-learn's ``check_random_state`` makes of ``seed``: a fresh
    ``RandomState(seed)`` for an int, the instance itself, numpy's global one for ``None``."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, (int, np.integer)):
        try:
            return np.random.RandomState(seed)
        except ValueError:
            pass
    raise ConfigError(f"seed must be an int in [0, 2**32 - 1], got {seed!r}")


def _split_sizes(n_samples: int, test_size: float | int, part: str) -> tuple[int, int]:
    """(n_train, n_test) as ``train_test_split(test_size=test_size)`` sizes them: a float is a
    fraction of ``n_samples`` rounded up, an int a count; the train part is the rest and must not
    be empty (scikit-learn's ``_validate_shuffle_split`` with ``train_size=None``)."""
    kind = np.asarray(test_size).dtype.kind
    if kind == "f" and 0 < test_size < 1:
        n_test = math.ceil(test_size * n_samples)
    elif kind == "i" and 0 < test_size < n_samples:
        n_test = int(test_size)
    else:
        raise ShapeError(f"{part}: test_size={test_size!r} must be a fraction in (0, 1) or a count in "
                         f"[1, {n_samples}) of the {n_samples} samples")
    if n_test >= n_samples:
        raise ShapeError(f"{part}: {n_samples} samples with test_size={test_size!r} leave no training samples")
    return n_samples - n_test, n_test


def _class_keys(target: np.ndarray, part: str) -> np.ndarray:
    """The labels stratified on: 1-D as given, a 2-D (multi-label) row as the string of its entries
    joined by spaces (scikit-learn's rule); non-finite or complex labels are an error."""
    if target.ndim not in (1, 2):
        raise ShapeError(f"{part}: stratification labels must be 1-D or 2-D, got shape {target.shape}")
    kind = target.dtype.kind
    if kind == "c" or (kind == "f" and not np.isfinite(target).all()) or (kind == "O" and np.any(target != target)):
        raise ShapeError(f"{part}: stratification labels must be finite real numbers or strings "
                         f"(dtype {target.dtype}: complex, NaN or infinite values)")
    if target.ndim == 2:
        return np.array([" ".join(row.astype(str)) for row in target])
    return target


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` to take from each class: the floor of each class's share
    ``counts / counts.sum() * n_draws``, plus one for the classes with the largest fractional
    parts until ``n_draws`` are taken; a tie that must be broken is broken by ``rng.choice``
    (scikit-learn's ``utils.extmath._approximate_mode``, an approximate mode of the multivariate
    hypergeometric distribution)."""
    share = counts / counts.sum() * n_draws
    taken = np.floor(share)
    missing = int(n_draws - taken.sum())
    if missing > 0:
        fraction = share - taken
        for value in np.unique(fraction)[::-1]:  # largest fractional part first
            tied = np.flatnonzero(fraction == value)
            k = min(len(tied), missing)
            taken[rng.choice(tied, size=k, replace=False)] += 1
            missing -= k
            if missing == 0:
                break
    return taken.astype(np.int64)


def _train_test_positions(n_samples: int, test_size: float | int, keys: np.ndarray | None,
                          rng: np.random.RandomState, part: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions in ``range(n_samples)``, equal (same order) to scikit-learn's
    ``train_test_split(np.arange(n_samples), test_size=test_size, stratify=keys, random_state=rng)``:
    without ``keys`` ``ShuffleSplit`` (one permutation, test first); with them the first split of
    ``StratifiedShuffleSplit`` (class counts by :func:`_approximate_mode` for train, then for test
    from what is left, a permutation of each class in sorted class order, then one of each part)."""
    n_train, n_test = _split_sizes(n_samples, test_size, part)
    if keys is None:
        order = rng.permutation(n_samples)
        return order[n_test:n_test + n_train], order[:n_test]
    try:
        classes, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    except TypeError as error:  # e.g. an object array mixing strings and numbers
        raise ShapeError(f"{part}: stratification labels cannot be sorted: {error}") from None
    if counts.min() < 2:
        raise ShapeError(f"{part}: classes {classes[counts < 2].tolist()} have only 1 member; stratifying "
                         f"needs at least 2 of every class")
    for name, size in (("train", n_train), ("test", n_test)):
        if size < len(classes):
            raise ShapeError(f"{part}: its {name} part ({size} of {n_samples} samples) is smaller than the "
                             f"number of classes ({len(classes)}); stratifying needs one of each class")
    members = np.split(np.argsort(inverse.ravel(), kind="stable"), np.cumsum(counts)[:-1])
    n_train_of = _approximate_mode(counts, n_train, rng)
    n_test_of = _approximate_mode(counts - n_train_of, n_test, rng)
    train, test = [], []
    for index, k_train, k_test in zip(members, n_train_of, n_test_of):
        shuffled = index[rng.permutation(len(index))]
        train.append(shuffled[:k_train])
        test.append(shuffled[k_train:k_train + k_test])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def stratified_split(
    target: np.ndarray, *, val_size: float = 0.2, test_size: float = 0.2, seed: int = 0, stratify: bool = True
) -> Split:
    """Split ``range(len(target))`` into train/val/test, stratified by class.

    Follows MultiBench's protocol on mfeat (Liang et al., NeurIPS Datasets and Benchmarks 2021):
    first ``rest, test = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)``,
    then the validation set is ``val_size / (1 - test_size)`` of the rest, split likewise
    (``stratify=y[rest]``, the same seed). With the defaults this is a 60/20/20 split. Index arrays
    are sorted. They are scikit-learn's (``train_test_split`` with ``StratifiedShuffleSplit``, or ``ShuffleSplit``
    with ``stratify=False``), drawn with numpy alone: no scikit-learn import.

    Parameters
    ----------
    target : ndarray of shape (n,) or (n, n_labels)
        Class labels (any sortable dtype; a 2-D row is one class, as in scikit-learn).
        Only its length is used with ``stratify=False``.
    val_size, test_size : float
        Fractions of the whole: ``0 < test_size``, ``0 <= val_size``, ``val_size + test_size < 1``.
    seed : int
        Seeds ``np.random.RandomState`` for each of the two splits, as ``random_state=seed``
        does (a ``RandomState`` is used as is, ``None`` is numpy's global one, as in scikit-learn).
    stratify : bool
        Keep the class proportions in every part.

    Raises ``ShapeError`` for sizes out of range, a part that would be empty or smaller than
    the number of classes, a class with one member, or non-finite labels; ``ConfigError``
    for a seed that is not an int in [0, 2**32 - 1].

    Examples
    --------
    >>> s = stratified_split(np.repeat(np.arange(10), 20), seed=0)
    >>> len(s.train), len(s.val), len(s.test)
    (120, 40, 40)
    """
    target = np.asarray(target)
    if not (0 < test_size < 1 and 0 <= val_size < 1 and val_size + test_size < 1):
        raise ShapeError(
            f"split sizes must satisfy 0 < test_size, 0 <= val_size, val_size + test_size < 1; "
            f"got val_size={val_size}, test_size={test_size}"
        )
    where = f"cannot split {len(target)} samples with val_size={val_size}, test_size={test_size}" + (
        " (stratified by class)" if stratify else "")
    keys = _class_keys(target, where) if stratify else None
    rest, test = _train_test_positions(len(target), test_size, keys, _random_state(seed), where)
    if val_size == 0:
        return Split(np.sort(rest), np.array([], dtype=np.int64), np.sort(test))
    train, val = _train_test_positions(len(rest), val_size / (1 - test_size), None if keys is None else keys[rest],
                                       _random_state(seed), f"{where}, validation split of the {len(rest)} left")
    return Split(np.sort(rest[train]), np.sort(rest[val]), np.sort(test))
