"""Input checks shared by the classical coordinated-representation estimators.

Each check raises :class:`polymodal.errors.ShapeError` (a ``ValueError``) whose
message names the argument, the expected and the actual value.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.utils.validation import check_array
from threadpoolctl import ThreadpoolController

from polymodal.errors import ShapeError


def as_view(A: object, name: str, *, allow_1d: bool = False) -> np.ndarray:
    """Return ``A`` as a 2-D float64 array (see :func:`as_view_1d`)."""
    return as_view_1d(A, name, allow_1d=allow_1d)[0]


def as_view_1d(A: object, name: str, *, allow_1d: bool = False) -> tuple[np.ndarray, bool]:
    """Return ``A`` as a 2-D float64 array, or raise a :class:`ShapeError`.

    ``allow_1d`` reshapes a 1-D array to one column (scikit-learn's convention
    for the target ``Y`` of cross-decomposition estimators).  Finiteness is
    checked by :func:`check_finite_by_sum`, cheaply, after the means are formed.
    """
    if type(A) is np.ndarray and A.dtype == np.float64:
        arr = A  # fast path: nothing to convert
    else:
        arr = _convert(A, name)
    if any(s < 0 for s in arr.strides):  # a reversed view (X[::-1]): torch cannot wrap it
        arr = arr.copy()
    return _shape_checked(arr, name, allow_1d)


def _convert(A: object, name: str) -> np.ndarray:
    try:
        return check_array(
            A,
            accept_sparse=False,
            dtype=np.float64,
            ensure_2d=False,
            allow_nd=True,
            ensure_all_finite=False,
            ensure_min_samples=0,
            ensure_min_features=0,
            input_name=name,
        )
    except ValueError as error:  # e.g. strings; a TypeError stays one (scikit-learn's checks expect it)
        if isinstance(error, ShapeError):
            raise
        raise ShapeError(f"{name} must be a real numeric array ({error})") from None


def _shape_checked(arr: np.ndarray, name: str, allow_1d: bool) -> tuple[np.ndarray, bool]:
    was_1d = arr.ndim == 1
    if was_1d and allow_1d:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        hint = (
            f". Reshape your data with {name}.reshape(-1, 1) for a single feature "
            f"or {name}.reshape(1, -1) for a single sample"
            if arr.ndim == 1
            else ""
        )
        raise ShapeError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); "
            f"got a {arr.ndim}-D array of shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0:
        raise ShapeError(
            f"{name} has 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.shape[1] == 0:
        raise ShapeError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    return arr, was_1d


def check_same_n(views: list[np.ndarray], names: list[str]) -> int:
    """Check that every view has the same number of rows and return it."""
    n = views[0].shape[0]
    for v, nm in zip(views[1:], names[1:]):
        if v.shape[0] != n:
            raise ShapeError(
                f"{nm} must have the same number of samples as {names[0]} "
                f"({n}); got {v.shape[0]}"
            )
    return n


def check_finite(A: np.ndarray, name: str) -> None:
    """Raise a :class:`ShapeError` naming the first NaN/inf entry of ``A``."""
    bad = ~np.isfinite(A)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ShapeError(
            f"{name} contains NaN or inf in {int(bad.sum())} entries "
            f"(first at row {i}, column {j}: {A[i, j]}); expected finite values"
        )


def check_finite_by_sum(A: np.ndarray, colsum: np.ndarray, name: str) -> None:
    """Cheap finiteness check: a NaN/inf entry makes its column sum non-finite.

    Only when a column sum is non-finite is the full array scanned, to name the
    entry (or to report an overflow of finite values).
    """
    if np.isfinite(colsum).all():
        return
    check_finite(A, name)
    raise ShapeError(
        f"{name} has finite values whose column sums overflow float64; "
        f"expected values of magnitude < 1e300, got max |{name}| = {np.abs(A).max()}"
    )


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_thread_blas():
    """Context manager: BLAS/LAPACK on one thread for small (d x d) linear algebra.

    Threading a 100 x 100 eigendecomposition costs more than it saves, and on a
    loaded machine each threaded call can wait a whole scheduler slice.
    """
    return _controller().limit(limits=1, user_api="blas")
