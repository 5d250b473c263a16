"""Input checks shared by the alignment methods (clear errors, never silent NaNs)."""

from __future__ import annotations

import numpy as np

from polymodal.errors import ShapeError


def as_sequence(x, name: str) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 (T, d) array (a copy only when ``x`` is
    not one already: torch refuses negative strides); 1-D input becomes (T, 1)."""
    if isinstance(x, np.ndarray) and np.iscomplexobj(x):
        raise ShapeError(f"Complex data not supported: {name} must be a real numeric array")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ShapeError(f"{name} must be a real numeric array ({error})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ShapeError(f"{name} must have shape (T,) or (T, d), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ShapeError(f"{name} must be a non-empty sequence, got length 0 (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ShapeError(f"{name} must have at least one feature, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        steps = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise ShapeError(
            f"{name} must contain only finite values, got NaN or inf at time steps {steps}"
        )
    return np.ascontiguousarray(arr)


def check_pair(x: np.ndarray, y: np.ndarray, names=("x", "y")) -> None:
    if x.shape[1] != y.shape[1]:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same number of features: "
            f"{names[0]} has d={x.shape[1]}, {names[1]} has d={y.shape[1]}"
        )
