"""Canonical time warping: DTW and CCA alternated until the alignment settles."""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from polymodal.alignment._validation import as_sequence
from polymodal.alignment.dtw import dtw
from polymodal.core.multiview import is_view_sequence
from polymodal.errors import ConfigError, ShapeError
from polymodal.representation import CCA

__all__ = ["CTW", "alignment_error", "uniform_path"]



def _project(cca: CCA, x: np.ndarray, y: np.ndarray):
    """Canonical components of x and y (their lengths may differ)."""
    return (
        ((x - cca.x_mean_) / cca.x_std_) @ cca.x_weights_,
        ((y - cca.y_mean_) / cca.y_std_) @ cca.y_weights_,
    )


def _pcs(a: np.ndarray, k: int) -> np.ndarray:
    """The k leading principal components of a sequence, unit variance."""
    a = a - a.mean(axis=0)
    _, _, vt = np.linalg.svd(a, full_matrices=False)
    z = a @ vt[:k].T
    return z / np.maximum(z.std(axis=0), 1e-12)


def uniform_path(n: int, m: int) -> np.ndarray:
    """The uniform (linear, diagonal) warping path between lengths n and m:
    ``max(n, m)`` pairs, monotone and continuous.

    >>> uniform_path(3, 5).tolist()
    [[0, 0], [0, 1], [1, 2], [2, 3], [2, 4]]
    """
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ShapeError(f"uniform_path: {name} must be a sequence length (an int >= 1), got {v!r}")
    L = max(n, m)
    t = np.arange(L) / max(L - 1, 1)
    return np.stack([np.rint(t * (n - 1)), np.rint(t * (m - 1))], axis=1).astype(np.int64)


def alignment_error(path, true_path, n: int | None = None) -> float:
    """Mean absolute frame distance between two warping paths: for every frame
    ``i`` of the first sequence, ``|mean j aligned by path - mean j aligned by
    true_path|``, averaged over ``i`` (the error measure of the CTW papers'
    synthetic experiments, in frames of the second sequence).

    >>> alignment_error([[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 0], [2, 2]])
    0.3333333333333333
    """
    p, q = np.asarray(path), np.asarray(true_path)
    for name, a in (("path", p), ("true_path", q)):
        if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
            raise ShapeError(f"{name} must have shape (L, 2) with L >= 1, got {a.shape}")
        bad = a.dtype.kind not in "iuf" or not np.all((a >= 0) & (a == np.round(a)))  # NaN fails too
        if bad:
            raise ShapeError(f"{name} must hold non-negative integer frame indices (i, j); got {a.dtype} "
                             f"values {a[:3].tolist()}...")
    p, q = p.astype(np.int64), q.astype(np.int64)
    n = int(max(p[:, 0].max(), q[:, 0].max()) + 1) if n is None else n

    def mean_j(a):
        s = np.bincount(a[:, 0], weights=a[:, 1], minlength=n)
        c = np.bincount(a[:, 0], minlength=n)
        if (c == 0).any():
            raise ShapeError(f"a path must visit every frame 0..{n - 1} of the first sequence")
        return s / c

    return float(np.abs(mean_j(p) - mean_j(q)).mean())


def two_views(X, y, what: str = "CTW") -> tuple:
    """``(x, y)`` from a sequence of two views ``fit([x, y])`` (a ``y`` given beside
    them is a target and is ignored) or from ``fit(x, y)``."""
    if y is not None and not is_view_sequence(X):
        return X, y
    if isinstance(X, np.ndarray) or not isinstance(X, (list, tuple)) or len(X) != 2:
        raise ShapeError(f"{what} aligns two sequences: pass fit([x, y]) or fit(x, y), got "
                         f"{type(X).__name__} of length {len(X) if hasattr(X, '__len__') else '?'} and y=None")
    return X[0], X[1]


def check_ctw_options(energy: float, max_iter: int, init: str) -> None:
    """Reject CTW/GCTW settings outside their domain, naming the argument."""
    if not 0 < energy <= 1:
        raise ConfigError(f"energy must be in (0, 1], got {energy!r}")
    if max_iter < 1:
        raise ConfigError(f"max_iter must be >= 1, got {max_iter!r}")
    if init not in ("uniform", "multi"):
        raise ConfigError(f"init must be 'uniform' or 'multi', got {init!r}")


class CTW(TransformerMixin, BaseEstimator):
    """Canonical Time Warping (Zhou & De la Torre, "Canonical Time Warping for
    Alignment of Human Behavior", NIPS 2009).

    Minimises over the warping path :math:`P = (p_x, p_y)` and the projections
    :math:`V_x, V_y`

    .. math:: J = \\sum_{(i, j) \\in P} \\lVert V_x^\\top x_i - V_y^\\top y_j \\rVert^2

    subject to unit-variance, uncorrelated projections of the aligned samples,
    by alternating regularised CCA on the currently aligned pairs
    (:class:`polymodal.representation.CCA`) with DTW on the projected
    sequences, starting from the uniform (diagonal) alignment (``init=
    "uniform"``, as in the paper) or, by default (``init="multi"``), also
    from DTW between each sequence's own leading principal components (every
    sign choice), keeping the run with the lowest objective per aligned pair:
    CTW is a local method and the uniform start fails under strong warps.
    The number of components is fixed at the first step: the fewest that
    carry ``energy`` of the squared canonical correlations (or ``n_components``).  Stops when J
    decreases by less than ``tol`` (relative) and keeps the best iterate.

    Parameters
    ----------
    n_components : int or None;  energy : float in (0, 1]
    reg : CCA ridge regularisation in [0, 1]
    max_iter : int;  tol : float;  window, step_pattern : for the DTW step
    init : "multi" (default) or "uniform"

    A scikit-learn estimator; the two sequences are two views, ``fit([x, y])``
    (or ``fit(x, y)``), and their lengths and dimensions may differ.

    Attributes
    ----------
    path_ : (L, 2) alignment;  objective_history_ : J at the chosen start,
    then after each DTW step
    n_components_ ;  cca_ : the fitted CCA;  n_iter_ ;  start_scores_

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 6, 40))[:, None] * [1.0, 2.0]
    >>> ctw = CTW().fit([x, x])
    >>> bool((ctw.path_[:, 0] == ctw.path_[:, 1]).all())
    True
    """

    _multiview: ClassVar[bool] = True  # scikit-learn's checks run it through ColumnBlocks (two views)

    def __init__(self, n_components: int | None = None, energy: float = 0.95, reg: float = 1e-3,
                 max_iter: int = 20, tol: float = 1e-6, window=None,
                 step_pattern: str = "symmetric1", init: str = "multi"):
        self.n_components = n_components
        self.energy = energy
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.window = window
        self.step_pattern = step_pattern
        self.init = init

    def _cca(self, x, y, path, k):
        cca = CCA(n_components=k, reg=self.reg, scale=False).fit(x[path[:, 0]], y[path[:, 1]])
        return cca

    def _run(self, x, y, path, k, kmax):
        """Alternate CCA and DTW from ``path``; returns (history, best)."""
        cca = self._cca(x, y, path, kmax)
        xp, yp = _project(cca, x, y)
        d0 = xp[path[:, 0], :k] - yp[path[:, 1], :k]
        history: list[float] = [float((d0 * d0).sum())]  # J of the start
        best = None
        for it in range(1, self.max_iter + 1):
            if it > 1:
                cca = self._cca(x, y, path, kmax)
                xp, yp = _project(cca, x, y)
            r = dtw(xp[:, :k], yp[:, :k], window=self.window,
                    step_pattern=self.step_pattern, return_path=True)
            history.append(float(r.cost))
            if best is None or r.cost < best[0]:
                best = (r.cost, r.path, cca)
            converged = np.array_equal(r.path, path) or (
                history[-2] - history[-1] <= self.tol * abs(history[-2])
            )
            path = r.path
            if converged:
                break
        return history, best

    def _starts(self, x, y, k):
        starts = [uniform_path(len(x), len(y))]
        if self.init == "multi":
            # DTW between each sequence's own leading principal components,
            # under every sign combination (PCA signs are arbitrary)
            px, py = _pcs(x, k), _pcs(y, k)
            for signs in itertools.product((1.0, -1.0), repeat=k):
                starts.append(dtw(px, py * np.array(signs), window=self.window,
                                  step_pattern=self.step_pattern, return_path=True).path)
        return starts

    def fit(self, X, y=None) -> "CTW":
        """Align the views ``X = [x, y]`` (or ``fit(x, y)``): ``x`` (n, dx), ``y`` (m, dy)."""
        check_ctw_options(self.energy, self.max_iter, self.init)
        x, y = two_views(X, y)
        x, y = as_sequence(x, "x"), as_sequence(y, "y")
        kmax = min(x.shape[1], y.shape[1])
        cca = self._cca(x, y, uniform_path(len(x), len(y)), kmax)
        if self.n_components is None:
            e = np.cumsum(cca.objective_values_**2)
            k = int(np.searchsorted(e, self.energy * e[-1] - 1e-12) + 1)
        else:
            if not 1 <= self.n_components <= kmax:
                raise ConfigError(f"n_components must be in [1, {kmax}], got {self.n_components}")
            k = self.n_components
        self.n_components_ = k
        runs = [self._run(x, y, p, k, kmax) for p in self._starts(x, y, min(k, 3))]
        # compare starts by the objective per aligned pair (paths differ in length)
        scores = [b[0] / len(b[1]) for _, b in runs]
        i = int(np.argmin(scores))
        self.objective_history_, (_, self.path_, self.cca_) = runs[i]
        self.n_iter_ = len(self.objective_history_) - 1
        self.start_scores_ = scores
        return self

    def transform(self, X, y=None):
        """Projections ``(x V_x, y V_y)`` of the views ``X = [x, y]`` (or ``transform(x, y)``)
        into the shared k-dimensional space."""
        check_is_fitted(self, "cca_")
        x, y = two_views(X, y)
        xp, yp = _project(self.cca_, as_sequence(x, "x"), as_sequence(y, "y"))
        return xp[:, : self.n_components_], yp[:, : self.n_components_]

    def fit_transform(self, X, y=None):
        """``fit(X, y).transform(X, y)``."""
        return self.fit(X, y).transform(X, y)

    def alignment_error(self, true_path) -> float:
        """:func:`alignment_error` of ``path_`` against ``true_path``."""
        check_is_fitted(self, "path_")
        return alignment_error(self.path_, true_path)
