"""Many-pair DTW: all-pairs distance matrices, LB_Keogh and k-NN search."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from polymodal.alignment._validation import as_sequence, check_pair
from polymodal.alignment.dtw._lazy import kernels
from polymodal.alignment.dtw._windows import parse_window
from polymodal.errors import ConfigError, ShapeError

NK = kernels("_nearest_kernels")  # numba loads on the first kernel call

__all__ = ["cdist_dtw", "lb_keogh", "dtw_knn", "KNNResult"]


def _as_dataset(X, name: str) -> list[np.ndarray]:
    if isinstance(X, np.ndarray) and X.ndim in (2, 3):
        seqs = [X[i] for i in range(X.shape[0])]
    elif isinstance(X, (list, tuple)):
        seqs = list(X)
    else:
        raise ShapeError(
            f"{name} must be an array (N, T) or (N, T, d) or a list of (T_i,) / (T_i, d) "
            f"sequences, got {type(X).__name__} with shape {np.shape(X)}"
        )
    if not seqs:
        raise ShapeError(f"{name} must hold at least one sequence, got 0")
    out = [as_sequence(s, f"{name}[{i}]") for i, s in enumerate(seqs)]
    for i, s in enumerate(out[1:], 1):
        check_pair(out[0], s, (f"{name}[0]", f"{name}[{i}]"))
    return out


def _flat(seqs: list[np.ndarray], reverse: bool):
    parts = [np.ascontiguousarray((s[::-1] if reverse else s).T).ravel() for s in seqs]
    off = np.zeros(len(parts) + 1, dtype=np.int64)
    off[1:] = np.cumsum([p.size for p in parts])
    return np.concatenate(parts), off


def _radius(window) -> int:
    kind, value = parse_window(window)
    if kind not in (None, "sakoe_chiba"):
        raise ConfigError(
            f"window must be None or ('sakoe_chiba', radius) for many-pair DTW, got {window!r}"
        )
    return -1 if kind is None else value


@contextmanager
def _threads(n_jobs: int):
    if n_jobs == 0 or n_jobs < -1:
        raise ConfigError(f"n_jobs must be -1 or a positive integer, got {n_jobs}")
    import numba

    from polymodal.alignment.dtw import _numba_threads  # noqa: F401  (the layer, before numba's first thread launch)

    old = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS if n_jobs == -1 else
                          min(n_jobs, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def cdist_dtw(X, Y=None, *, n_jobs: int = -1, window=None,
              step_pattern: str = "symmetric1", metric: str = "sqeuclidean") -> np.ndarray:
    """DTW distances between all pairs of sequences, in parallel.

    Each entry is :func:`polymodal.alignment.dtw`'s ``.distance`` (Sakoe &
    Chiba, IEEE Trans. ASSP, 1978); pairs run on ``n_jobs`` threads, each with
    the anti-diagonal kernel.  With ``Y=None`` only the upper triangle of
    ``X`` against itself is computed.

    Parameters
    ----------
    X : array (N, T) or (N, T, d), or list of (T_i,) / (T_i, d) sequences
    Y : same, or None (then Y = X)
    n_jobs : -1 (all threads) or a positive thread count
    window : None or ("sakoe_chiba", r)
    step_pattern : "symmetric1" or "symmetric2"
    metric : "sqeuclidean" (distances are square roots of costs) or "euclidean"

    Returns
    -------
    ndarray (N, M)

    Examples
    --------
    >>> cdist_dtw([[0.0, 1.0], [0.0, 0.0, 1.0]]).round(3).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    diag = {"symmetric1": 1.0, "symmetric2": 2.0}.get(step_pattern)
    if diag is None:
        raise ConfigError(
            f"step_pattern must be 'symmetric1' or 'symmetric2' for cdist_dtw, got {step_pattern!r}"
        )
    if metric not in ("sqeuclidean", "euclidean"):
        raise ConfigError(f"metric must be 'sqeuclidean' or 'euclidean', got {metric!r}")
    radius = _radius(window)
    xs = _as_dataset(X, "X")
    ys = xs if Y is None else _as_dataset(Y, "Y")
    check_pair(xs[0], ys[0], ("X", "Y"))
    xbuf, xoff = _flat(xs, False)
    ybuf, yoff = _flat(ys, True)
    with _threads(n_jobs):
        cost = NK.cdist_flat(xbuf, xoff, ybuf, yoff, xs[0].shape[1], radius,
                             Y is None, diag, metric == "euclidean")
    return np.sqrt(cost) if metric == "sqeuclidean" else cost


def lb_keogh(x, y, *, radius: int) -> float:
    """LB_Keogh lower bound of the DTW distance (Keogh & Ratanamahatana, KAIS 2005).

    .. math:: LB(x, y) = \\sqrt{\\sum_t \\lVert x_t - \\mathrm{clip}(x_t, L_t, U_t)\\rVert^2},

    with ``U_t, L_t`` the max / min of ``y`` over ``|s - t| <= radius`` (the
    envelope of the *candidate* ``y``, tslearn's convention).  For equal
    lengths ``lb_keogh(x, y, radius=r) <= dtw(x, y, window=("sakoe_chiba", r)).distance``.

    >>> lb_keogh([0.0, 5.0, 0.0], [0.0, 1.0, 0.0], radius=1)
    4.0
    """
    xs, ys = as_sequence(x, "x"), as_sequence(y, "y")
    check_pair(xs, ys)
    if xs.shape[0] != ys.shape[0]:
        raise ShapeError(
            f"lb_keogh needs equal lengths: x has {xs.shape[0]} steps, y has {ys.shape[0]}"
        )
    if int(radius) != radius or radius < 0:
        raise ConfigError(f"radius must be an integer >= 0, got {radius!r}")
    up, lo = NK.envelope(ys, int(radius))
    return float(np.sqrt(NK.lb_keogh_cost(xs, up, lo, np.inf)))


@dataclass
class KNNResult:
    """Result of :func:`dtw_knn`: ``indices`` (Nq, k) into the training set,
    ``distances`` (Nq, k) DTW distances in increasing order, and ``n_dtw``
    (Nq,) how many full DTW computations each query needed."""

    indices: np.ndarray
    distances: np.ndarray
    n_dtw: np.ndarray


def dtw_knn(X_query, X_train, *, k: int = 1, window=None, n_jobs: int = -1,
            use_lower_bound: bool = True) -> KNNResult:
    """Exact k-nearest-neighbour search under DTW (squared Euclidean cost).

    Candidates are visited in increasing LB_Keogh order (Keogh &
    Ratanamahatana, KAIS 2005) and the search stops when the bound exceeds the
    k-th best distance; each DTW abandons as soon as two consecutive
    anti-diagonals exceed it (Rakthanmanon et al., KDD 2012).

    Parameters
    ----------
    X_query : array (Nq, T) or (Nq, T, d)
    X_train : array (N, T) or (N, T, d)  (same T: LB_Keogh needs equal lengths)
    k : number of neighbours, 1 <= k <= N
    window : None or ("sakoe_chiba", r)

    Examples
    --------
    >>> dtw_knn(np.array([[0.0, 1.0, 2.0]]), np.array([[5.0, 5.0, 5.0], [0.0, 1.0, 2.1]])).indices
    array([[1]])
    """
    Q = np.asarray(X_query, dtype=np.float64)
    X = np.asarray(X_train, dtype=np.float64)
    Q = Q[..., None] if Q.ndim == 2 else Q
    X = X[..., None] if X.ndim == 2 else X
    for name, A in (("X_query", Q), ("X_train", X)):
        if A.ndim != 3 or 0 in A.shape:
            raise ShapeError(f"{name} must have shape (N, T) or (N, T, d) with N, T >= 1, got {A.shape}")
        if not np.isfinite(A).all():
            raise ShapeError(f"{name} must contain only finite values, got NaN or inf")
    if Q.shape[1:] != X.shape[1:]:
        raise ShapeError(
            f"X_query and X_train must share (T, d): got {Q.shape[1:]} and {X.shape[1:]}"
        )
    if not 1 <= k <= X.shape[0]:
        raise ConfigError(f"k must be between 1 and {X.shape[0]} (training size), got {k}")
    radius = _radius(window)
    env_r = X.shape[1] - 1 if radius < 0 else radius
    ups = np.empty_like(X)
    los = np.empty_like(X)
    for b in range(X.shape[0]):
        ups[b], los[b] = NK.envelope(X[b], env_r)
    QT = np.ascontiguousarray(Q.transpose(0, 2, 1))
    XrT = np.ascontiguousarray(X[:, ::-1].transpose(0, 2, 1))
    with _threads(n_jobs):
        idx, cost, n_dtw = NK.knn_search(np.ascontiguousarray(Q), QT, np.ascontiguousarray(X),
                                         XrT, ups, los, k, radius, use_lower_bound)
    return KNNResult(idx, np.sqrt(cost), n_dtw)
