"""Seeded, stratified train/validation/test splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.errors import ShapeError

__all__ = ["Split", "stratified_split"]


@dataclass(frozen=True)
class Split:
    """Index arrays of one train/validation/test split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_split(
    target: np.ndarray, *, val_size: float = 0.2, test_size: float = 0.2, seed: int = 0, stratify: bool = True
) -> Split:
    """Split ``range(len(target))`` into train/val/test, stratified by class.

    Follows MultiBench's protocol on mfeat: first ``test = train_test_split(idx,
    test_size=test_size, stratify=y, random_state=seed)``, then the validation
    set is ``val_size / (1 - test_size)`` of the rest, split likewise. With the
    defaults this is a 60/20/20 split. Index arrays are sorted.

    >>> s = stratified_split(np.repeat(np.arange(10), 20), seed=0)
    >>> len(s.train), len(s.val), len(s.test)
    (120, 40, 40)
    """
    from sklearn.model_selection import train_test_split  # on call: importing this module needs no scikit-learn

    target = np.asarray(target)
    if not (0 < test_size < 1 and 0 <= val_size < 1 and val_size + test_size < 1):
        raise ShapeError(
            f"split sizes must satisfy 0 < test_size, 0 <= val_size, val_size + test_size < 1; "
            f"got val_size={val_size}, test_size={test_size}"
        )
    index = np.arange(len(target))
    strat = target if stratify else None
    try:
        rest, test = train_test_split(index, test_size=test_size, stratify=strat, random_state=seed)
        if val_size == 0:
            return Split(np.sort(rest), np.array([], dtype=np.int64), np.sort(test))
        strat_rest = target[rest] if stratify else None
        train, val = train_test_split(
            rest, test_size=val_size / (1 - test_size), stratify=strat_rest, random_state=seed
        )
    except ValueError as error:  # e.g. a split smaller than the number of classes, a class with one sample
        raise ShapeError(f"cannot split {len(target)} samples with val_size={val_size}, test_size={test_size}"
                         f"{' (stratified by class)' if stratify else ''}: {error}") from None
    return Split(np.sort(train), np.sort(val), np.sort(test))
