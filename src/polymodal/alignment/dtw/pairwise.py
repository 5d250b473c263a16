"""Dynamic time warping between two sequences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.distance import cdist

from polymodal.alignment._validation import as_sequence, check_pair
from polymodal.alignment.dtw._lazy import kernels
from polymodal.alignment.dtw._windows import no_path_error, parse_window, window_rows
from polymodal.alignment.dtw.step_patterns import StepPattern, get_step_pattern
from polymodal.errors import ConfigError, ShapeError

K = kernels("_kernels")  # numba loads on the first kernel call

__all__ = ["DTWResult", "dtw", "local_cost_matrix"]

METRICS = ("sqeuclidean", "euclidean", "cosine", "precomputed")
_WAVEFRONT_PATTERNS = {"symmetric1": 1.0, "symmetric2": 2.0, "symmetricP0": 2.0}
# from this many features on, unwindowed local costs come from BLAS products
_STRIP_MIN_FEATURES = 8


@dataclass
class DTWResult:
    """Result of :func:`dtw`.

    Attributes
    ----------
    distance : float
        ``sqrt(cost)`` for the default ``metric="sqeuclidean"`` (the
        dtaidistance / tslearn convention), otherwise equal to ``cost``.
    cost : float
        Minimal accumulated cost under the step pattern.
    normalized_cost : float
        ``cost`` divided by the step pattern's normaliser (``n + m`` for the
        symmetric2 / P patterns, ``n`` for asymmetric; NaN for symmetric1),
        dtw-python's ``normalizedDistance``.
    path : ndarray (L, 2) or None
        Warping path, pairs ``(i, j)`` from ``(0, 0)`` to ``(n - 1, m - 1)``.
    cost_matrix : ndarray (n, m) or None
        Accumulated cost ``D`` (inf outside the window).
    local_cost_matrix : ndarray (n, m) or None
        Local cost ``c(i, j)``.
    """

    distance: float
    cost: float
    normalized_cost: float
    path: np.ndarray | None = None
    cost_matrix: np.ndarray | None = None
    local_cost_matrix: np.ndarray | None = None


def local_cost_matrix(x, y, metric: str | Callable = "sqeuclidean") -> np.ndarray:
    """Local cost matrix ``c(i, j) = metric(x_i, y_j)`` of shape (n, m).

    ``metric`` is ``"sqeuclidean"``, ``"euclidean"``, ``"cosine"`` (``1 -
    cos``) or a callable ``f(u, v) -> float`` (called once per pair).

    >>> local_cost_matrix([0.0, 1.0], [1.0]).ravel().tolist()
    [1.0, 0.0]
    """
    x = as_sequence(x, "x")
    y = as_sequence(y, "y")
    check_pair(x, y)
    if callable(metric):
        return cdist(x, y, metric=metric)
    if metric in ("sqeuclidean", "euclidean"):
        return K.sqeuclidean_matrix(x, y, metric == "euclidean")
    if metric == "cosine":
        nx = np.linalg.norm(x, axis=1)
        ny = np.linalg.norm(y, axis=1)
        if (nx == 0).any() or (ny == 0).any():
            raise ShapeError("metric='cosine' needs non-zero feature vectors, got a zero row")
        return np.maximum(1.0 - (x / nx[:, None]) @ (y / ny[:, None]).T, 0.0)
    raise ConfigError(f"metric must be one of {list(METRICS)} or a callable, got {metric!r}")


def dtw(
    x,
    y=None,
    *,
    window=None,
    step_pattern: str | StepPattern = "symmetric1",
    metric: str | Callable = "sqeuclidean",
    return_path: bool = False,
    return_cost_matrix: bool = False,
) -> DTWResult:
    """Dynamic time warping (Sakoe & Chiba, IEEE Trans. ASSP, 1978).

    Minimises the accumulated local cost over warping paths that are
    monotone, continuous and go from ``(0, 0)`` to ``(n - 1, m - 1)``; with
    the default symmetric1 pattern

    .. math:: D(i, j) = c(i, j) + \\min\\{D(i-1, j), D(i, j-1), D(i-1, j-1)\\},

    and ``distance = sqrt(D(n-1, m-1))`` for the squared Euclidean cost.

    Parameters
    ----------
    x : array (n,) or (n, d)
        First sequence, or the (n, m) local cost matrix if ``metric="precomputed"``.
    y : array (m,) or (m, d), or None with ``metric="precomputed"``
    window : None, ("sakoe_chiba", r), ("itakura", max_slope), ("itakura_dtw_python", 2) or bool mask (n, m)
        Global constraint.  Sakoe-Chiba allows ``|i - j| <= r`` widened by the
        length difference (tslearn's ``sakoe_chiba_radius=r``, dtaidistance's
        ``window=r + 1``).  ``"itakura"`` is tslearn's parallelogram
        (``tslearn.metrics.itakura_mask(n, m, max_slope)``: slopes ``max_slope``
        and ``1 / max_slope`` relative to the diagonal of the n x m grid, through
        both corners); ``"itakura_dtw_python"`` is dtw-python's (R dtw's)
        ``itakuraWindow``, absolute slope 2, which differs when ``n != m``.
    step_pattern : str or StepPattern
        ``symmetric1`` (default), ``symmetric2``, ``asymmetric``,
        ``symmetricP0``, ``symmetricP05``, ``symmetricP1``, ``symmetricP2``.
    metric : "sqeuclidean", "euclidean", "cosine", "precomputed" or callable
    return_path, return_cost_matrix : bool

    Returns
    -------
    DTWResult

    Examples
    --------
    >>> r = dtw([0.0, 0.0, 1.0], [0.0, 3.0], return_path=True)
    >>> r.distance, r.cost, r.path.tolist()
    (2.0, 4.0, [[0, 0], [1, 0], [2, 1]])
    """
    pattern = get_step_pattern(step_pattern)
    kind, value = parse_window(window)
    if metric == "precomputed":
        if y is not None:
            raise ConfigError("metric='precomputed' takes the (n, m) cost matrix as x and y=None")
        C = np.asarray(x, dtype=np.float64)
        if C.ndim != 2 or 0 in C.shape:
            raise ShapeError(f"precomputed cost matrix must have shape (n, m), got {C.shape}")
        if np.isnan(C).any():
            raise ShapeError("precomputed cost matrix must not contain NaN")
        n, m = C.shape
        xs = ys = None
    else:
        if y is None:
            raise ConfigError("y is required unless metric='precomputed'")
        xs = as_sequence(x, "x")
        ys = as_sequence(y, "y")
        check_pair(xs, ys)
        n, m = xs.shape[0], ys.shape[0]
        C = None
    fast = (
        not (return_path or return_cost_matrix)
        and pattern.name in _WAVEFRONT_PATTERNS
        and pattern.moves == get_step_pattern(pattern.name).moves
        and metric in ("sqeuclidean", "euclidean", "cosine")
        and kind in (None, "sakoe_chiba")
    )
    if fast:
        if metric == "cosine":
            xs, ys = _unit_rows(xs, "x"), _unit_rows(ys, "y")
        lo, hi = K.sakoe_chiba_band(n, m, -1 if kind is None else value)
        if kind is None and xs.shape[1] >= _STRIP_MIN_FEATURES:
            with _one_blas_thread():  # small products: threads only wait on a busy machine
                cost = K.strip_cost(np.ascontiguousarray(xs), np.ascontiguousarray(ys), 64,
                                    _WAVEFRONT_PATTERNS[pattern.name],
                                    metric == "euclidean")
        else:
            cost = K.wavefront_cost(
                np.ascontiguousarray(xs.T),
                np.ascontiguousarray(ys[::-1].T),
                lo,
                hi,
                _WAVEFRONT_PATTERNS[pattern.name],
                metric == "euclidean",
                np.inf,
            )
        if metric == "cosine":
            cost *= 0.5  # |u - v|^2 / 2 = 1 - cos(u, v) for unit vectors
        return _result(cost, pattern, metric, n, m)
    if C is None:
        C = local_cost_matrix(xs, ys, metric)
    jlo, jhi = window_rows(kind, value, n, m)
    if kind == "mask":
        C = np.where(value, C, np.inf)
    origins, ptr, offs, weights = pattern.arrays()
    D, S = K.general_dp(np.ascontiguousarray(C), origins, ptr, offs, weights, jlo, jhi)
    cost = D[n - 1, m - 1]
    if not np.isfinite(cost):
        raise no_path_error(window, pattern.name, n, m)
    res = _result(cost, pattern, metric, n, m)
    if return_path:
        res.path = K.backtrack(S, origins, ptr, offs)
    if return_cost_matrix:
        res.cost_matrix = D
        res.local_cost_matrix = C
    return res


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread():
    return _blas_controller().limit(limits=1, user_api="blas")


def _unit_rows(a: np.ndarray, name: str) -> np.ndarray:
    nrm = np.linalg.norm(a, axis=1)
    if (nrm == 0).any():
        raise ShapeError(f"metric='cosine' needs non-zero feature vectors, {name} has a zero row")
    return a / nrm[:, None]


def _result(cost: float, pattern: StepPattern, metric, n: int, m: int) -> DTWResult:
    cost = float(cost)
    if not np.isfinite(cost):
        raise ShapeError(f"no finite-cost warping path exists for lengths n={n}, m={m}")
    distance = float(np.sqrt(cost)) if metric == "sqeuclidean" else cost
    return DTWResult(distance, cost, cost / pattern.normalizer(n, m))
