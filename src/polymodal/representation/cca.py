"""Exact (regularised) canonical correlation analysis by whitening + SVD."""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular, svd
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    MultiOutputMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from polymodal.core.multiview import is_view_sequence
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation._views import (
    as_view,
    as_view_1d,
    check_finite,
    check_same_n,
    single_thread_blas,
)
from polymodal.representation.cca_stats import CCAStats

__all__ = ["CCA"]


def check_reg(reg: object, name: str = "reg") -> float:
    """Validate a shrinkage parameter in [0, 1]."""
    if not isinstance(reg, numbers.Real) or isinstance(reg, bool) or not 0 <= reg <= 1:
        raise ConfigError(f"{name} must be a real number in [0, 1]; got {reg!r}")
    return float(reg)


def check_n_components(k: object, upper: int, what: str) -> int:
    """Validate ``n_components`` against its data-dependent upper bound."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"n_components must be a positive integer; got {k!r}")
    if k > upper:
        raise ConfigError(
            f"n_components must be <= {what} = {upper}; got n_components={k}"
        )
    return int(k)


def view_scale(var: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations (constant columns -> 1) and the constant-column mask."""
    tol = 64 * np.finfo(np.float64).eps * np.abs(mean)
    const = (var <= 0) | (np.sqrt(np.maximum(var, 0)) <= tol)
    std = np.sqrt(np.maximum(var, 0))
    std[const] = 1.0
    return std, const


def refuse_constant_columns(const: np.ndarray, views: dict[str, slice], method: str) -> None:
    """ShapeError naming the first view (``{name: column slice}``) with a constant column:
    with ``reg=0`` its covariance is singular, so ``method`` is undefined."""
    for name, columns in views.items():
        bad = np.flatnonzero(const[columns])
        if bad.size:
            raise ShapeError(
                f"{name} has {bad.size} constant column(s) (variance 0, first at "
                f"index {bad[0]}), so its covariance is singular and {method} with reg=0 "
                f"is undefined; use reg > 0 or drop the column(s)"
            )


def whitener(C: np.ndarray, reg: float, name: str, n: int) -> np.ndarray:
    """Lower Cholesky factor of ``(1 - reg) C + reg I``; clear error if singular."""
    d = C.shape[0]
    Cr = C * (1.0 - reg) if reg else C.copy()
    if reg:
        Cr[np.diag_indices(d)] += reg
    try:
        L = cholesky(Cr, lower=True, check_finite=False)
    except LinAlgError:
        L = None
    piv = None if L is None else np.diag(L) ** 2
    if L is None or piv.min() <= d * np.finfo(np.float64).eps * np.diag(Cr).max():
        raise ShapeError(
            f"the covariance of {name} ({d} x {d}) is numerically singular "
            f"(collinear columns, or {n} samples for {d} features), so CCA with "
            f"reg={reg} is undefined; use reg > 0 (e.g. reg=1e-3)"
        )
    return L


def top_singular(M: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` singular triplets of ``M`` (d1, d2): ``U`` (d1, k), ``S`` (k,), ``V`` (d2, k).

    Eigendecomposition of the smaller Gram matrix gives the right vectors ``V``
    (exactly orthonormal); a QR of ``M V`` gives orthonormal ``U`` and the
    singular values as the norms of ``M v`` (relative accuracy, no squaring).
    Falls back to a full SVD when the spectrum is too spread for that route.
    """
    flip = M.shape[1] > M.shape[0]
    A = M.T if flip else M
    w, V = np.linalg.eigh(A.T @ A)
    w, V = w[::-1][:k], V[:, ::-1][:, :k]
    if w[-1] < 1e-6 * w[0] or w[0] <= 0:
        U, S, Vt = svd(A, full_matrices=False, check_finite=False, lapack_driver="gesdd")
        U, S, V = U[:, :k], S[:k], Vt[:k].T
    else:
        U, R = np.linalg.qr(A @ V)
        d = np.diag(R)
        sgn = np.where(d < 0, -1.0, 1.0)
        U *= sgn
        S = d * sgn
    return (V, S, U) if flip else (U, S, V)


def solve_cca(stats: CCAStats, n_components: int, reg: float, scale: bool) -> dict:
    """Canonical weights of the two views from their sufficient statistics.

    With the regularised ``(1 - reg) Cxx + reg I = Lx Lx^T`` (likewise ``Ly``;
    Cholesky) and the cross-covariance ``Cxy`` unchanged (cca-zoo's rCCA
    convention), the SVD ``Lx^{-1} Cxy Ly^{-T} = U S V^T`` gives the objective
    values ``S`` and the weights ``A = Lx^{-T} U``, ``B = Ly^{-T} V`` (the top
    ``k`` triplets, see :func:`top_singular`). The canonical correlations are
    those of the training components, ``S / sqrt(diag(A^T Cxx A) diag(B^T Cyy B))``
    (``S`` itself at ``reg = 0``).
    """
    n, p, q = stats.n, stats.p, stats.q
    if n < 2:
        raise ShapeError(
            f"CCA needs at least 2 samples to estimate covariances; got n_samples = {n}"
        )
    k = check_n_components(n_components, min(n, p, q), "min(n_samples, n_features_X, n_features_Y)")
    C = stats.comoment / (n - 1)
    var = np.diag(C).copy()
    std, const = view_scale(var, stats.mean)
    if reg == 0.0:
        refuse_constant_columns(const, {"X": slice(0, p), "Y": slice(p, p + q)}, "CCA")
        for name, d in (("X", p), ("Y", q)):
            if d > n - 1:
                raise ShapeError(
                    f"{name} has {d} features but only {n} samples: its covariance "
                    f"(rank <= n_samples - 1 = {n - 1}) is singular, so CCA with reg=0 "
                    f"is undefined; use reg > 0"
                )
    if not scale:
        std = np.ones_like(std)
    Cs = C / np.outer(std, std)
    Lx = whitener(Cs[:p, :p], reg, "X", n)
    Ly = whitener(Cs[p:, p:], reg, "Y", n)
    Cxy = Cs[:p, p:]  # only the within-view blocks are shrunk
    M = solve_triangular(Lx, Cxy, lower=True, check_finite=False)
    M = solve_triangular(Ly, M.T, lower=True, check_finite=False).T
    U, S, V = top_singular(M, k)
    A = solve_triangular(Lx, U, lower=True, trans="T", check_finite=False)
    B = solve_triangular(Ly, V, lower=True, trans="T", check_finite=False)
    # deterministic signs: the largest |weight| of each X direction is positive
    sign = np.sign(A[np.abs(A).argmax(axis=0), np.arange(k)])
    sign[sign == 0] = 1.0
    A *= sign
    B *= sign
    rho = S
    if reg:  # A^T Cxy B = diag(S); the components' variances are no longer 1
        var = ((Cs[:p, :p] @ A) * A).sum(0) * ((Cs[p:, p:] @ B) * B).sum(0)
        rho = np.divide(S, np.sqrt(var), out=np.zeros_like(S), where=var > 0)
    return dict(
        x_weights_=A,
        y_weights_=B,
        canonical_correlations_=rho,
        objective_values_=S,
        x_mean_=stats.mean[:p].copy(),
        y_mean_=stats.mean[p:].copy(),
        x_std_=std[:p].copy(),
        y_std_=std[p:].copy(),
        _cov=Cs,
    )


def _regression_on_scores(C_target: np.ndarray, C_own: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of a view on the scores ``S = X W``: ``C W (W^T C W)^-1``."""
    G = W.T @ C_own @ W
    return np.linalg.solve(G, (C_target @ W).T).T


def _alias(Y, y):
    if Y is not None and y is not None:
        raise ConfigError("pass the second view as Y or as y, not both")
    return y if Y is None else Y


def _two_views(X, Y, name: str):
    """``fit([X, Y])`` is ``fit(X, Y)``: unpack a sequence of exactly two views
    (a second argument is then a target ``y``, which CCA ignores)."""
    if is_view_sequence(X):
        if len(X) != 2:
            raise ModalityError(f"{name} takes exactly 2 views; got {len(X)} view(s)")
        return X[0], X[1]
    return X, Y


def canonical_score(components) -> float:
    """Sum over components ``k`` of the mean pairwise correlation of the views'
    ``k``-th columns (``components``: a sequence of (n, k) arrays). On held-out
    data this is the CCA family's ``score``; a constant column counts 0."""
    Z = [np.asarray(c, dtype=np.float64) for c in components]
    Z = [c - c.mean(axis=0) for c in Z]
    norms = [np.sqrt((c * c).sum(axis=0)) for c in Z]
    out = []
    for i in range(len(Z)):
        for j in range(i + 1, len(Z)):
            den = norms[i] * norms[j]
            num = (Z[i] * Z[j]).sum(axis=0)
            out.append(np.divide(num, den, out=np.zeros_like(num), where=den > 0))
    return float(np.mean(out, axis=0).sum())


class CCA(
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    RegressorMixin,
    MultiOutputMixin,
    BaseEstimator,
):
    """Exact, regularised canonical correlation analysis (whitening + SVD).

    Finds weights ``a_k``, ``b_k`` maximising the correlation of ``X a_k`` and
    ``Y b_k`` subject to uncorrelated, unit-variance components (Hotelling,
    "Relations between two sets of variates", Biometrika 1936); the ridge variant
    (canonical ridge, Vinod, J. Econometrics 1976) shrinks each within-view
    covariance toward the identity and leaves the cross-covariance unchanged
    (cca-zoo's rCCA convention; ``reg = 0`` is CCA, ``reg = 1`` is PLS, the SVD
    of :math:`C_{xy}`):

    .. math::

        \\max_{a, b}\\; a^\\top C_{xy} b \\quad\\text{s.t.}\\quad
        a^\\top[(1-r)C_{xx} + rI]a = b^\\top[(1-r)C_{yy} + rI]b = 1,

    solved in closed form by the SVD of :math:`L_x^{-1} C_{xy} L_y^{-\\top}` with
    :math:`L` the Cholesky factors of the regularised covariances (no NIPALS
    iterations). A drop-in for :class:`sklearn.cross_decomposition.CCA`: same
    constructor names, ``fit(X, Y)``, ``transform(X, Y=None)``, ``fit_transform``,
    ``predict``, ``inverse_transform`` and ``x_weights_``/``x_rotations_``/
    ``x_loadings_`` (and ``y_*``); unlike scikit-learn the components have unit
    variance at ``reg = 0`` (``x_weights_ == x_rotations_``) and
    ``canonical_correlations_`` are exact. ``partial_fit`` streams chunks with
    exact merged statistics.

    Parameters
    ----------
    n_components : int, default 2
        Number of canonical pairs, ``<= min(n_samples, p, q)``.
    reg : float in [0, 1], default 0
        Shrinkage of each (scaled) within-view covariance toward the identity,
        ``(1 - reg) C + reg I`` (cross-covariance unchanged). Needed when a view
        has more features than samples or constant/collinear columns.
    scale : bool, default True
        Divide each column by its standard deviation (ddof=1) first.

    Attributes
    ----------
    x_weights_, x_rotations_ : ndarray (p, n_components)
    y_weights_, y_rotations_ : ndarray (q, n_components)
    x_loadings_, y_loadings_ : ndarray (p or q, n_components)
    canonical_correlations_ : ndarray (n_components,)
        Correlations of the training components ``X a_k``, ``Y b_k``
        (decreasing at ``reg = 0``).
    objective_values_ : ndarray (n_components,), decreasing
        The regularised objective :math:`a_k^\\top C_{xy} b_k` (equal to
        ``canonical_correlations_`` at ``reg = 0``; at ``reg = 1`` the PLS
        covariances).
    x_mean_, x_std_, y_mean_, y_std_ : ndarray
    coef_ : ndarray (q, p), intercept_ : ndarray (q,)  (for ``predict``)
    n_samples_seen_ : int, stats_ : CCAStats

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 1))
    >>> X = np.hstack([Z, rng.normal(size=(200, 2))])
    >>> Y = np.hstack([Z + 0.1 * rng.normal(size=(200, 1)), rng.normal(size=(200, 1))])
    >>> cca = CCA(n_components=1).fit(X, Y)
    >>> bool(cca.canonical_correlations_[0] > 0.99)
    True
    >>> Xc, Yc = cca.transform(X, Y)
    >>> Xc.shape
    (200, 1)
    """

    _test_params: ClassVar[dict] = {"n_components": 1}  # scikit-learn's checks use a 1-D y

    def __init__(self, n_components: int = 2, reg: float = 0.0, scale: bool = True):
        self.n_components = n_components
        self.reg = reg
        self.scale = scale

    # ------------------------------------------------------------------ fitting
    def _views(self, X, Y, reset: bool):
        X0 = X
        if Y is None:
            raise ShapeError(
                f"{type(self).__name__} requires y to be passed, but the target y is "
                "None; pass Y, the second view, of shape (n_samples, n_features_Y)"
            )
        X = as_view(X, "X")
        validate_data(self, X0, reset=reset, skip_check_array=True)
        Yv, one_d = as_view_1d(Y, "Y", allow_1d=True)
        check_same_n([X, Yv], ["X", "Y"])
        return X, Yv, one_d

    def fit(self, X, Y=None, *, y=None) -> "CCA":
        """Fit on ``X`` (n, p) and ``Y`` (n, q) (or (n,)); returns ``self``.

        ``y`` is an alias of ``Y`` (scikit-learn's keyword); ``fit([X, Y])``
        (the multi-view convention) is the same.
        """
        X, Y = _two_views(X, _alias(Y, y), type(self).__name__)
        check_reg(self.reg)
        X, Yv, one_d = self._views(X, Y, reset=True)
        self._predict_1d = one_d
        return self._set_from_stats(CCAStats.from_arrays(X, Yv))

    def partial_fit(self, X, Y=None, *, y=None) -> "CCA":
        """Add one chunk (n_chunk, p), (n_chunk, q) to the statistics and refit.

        The result equals ``fit`` on all chunks concatenated (Chan et al. merge).
        """
        Y = _alias(Y, y)
        check_reg(self.reg)
        first = not hasattr(self, "stats_")
        X, Yv, one_d = self._views(X, Y, reset=first)
        chunk = CCAStats.from_arrays(X, Yv)
        if first:
            self._predict_1d = one_d
            stats = chunk
        else:
            if Yv.shape[1] != self.stats_.q:
                raise ShapeError(
                    f"Y has {Yv.shape[1]} features, but {type(self).__name__} is "
                    f"expecting {self.stats_.q} features as input"
                )
            stats = self.stats_.merge(chunk)
        self.stats_ = stats
        self.n_samples_seen_ = stats.n
        try:
            self._solve(stats)
        except ShapeError as err:  # not solvable yet: keep the statistics
            self._pending_error = err
            for name in ("x_weights_", "canonical_correlations_", "objective_values_", "_cov"):
                self.__dict__.pop(name, None)
        return self

    def fit_stats(self, stats: CCAStats) -> "CCA":
        """Fit from precomputed (e.g. all-reduced) :class:`CCAStats`."""
        check_reg(self.reg)
        self.n_features_in_ = stats.p
        self._predict_1d = False
        return self._set_from_stats(stats)

    def _set_from_stats(self, stats: CCAStats) -> "CCA":
        self.stats_ = stats
        self.n_samples_seen_ = stats.n
        self._solve(stats)
        return self

    def _solve(self, stats: CCAStats) -> None:
        with single_thread_blas():
            out = solve_cca(stats, self.n_components, float(self.reg), bool(self.scale))
        for key, val in out.items():
            setattr(self, key, val)
        self.__dict__.pop("_pending_error", None)
        self.x_rotations_ = self.x_weights_
        self.y_rotations_ = self.y_weights_
        self._n_features_out = self.x_weights_.shape[1]

    # loadings and the regression coefficients are computed on access (cheap)
    @property
    def x_loadings_(self) -> np.ndarray:
        """(p, k) regression of the scaled ``X`` on its components."""
        p = self.x_mean_.shape[0]
        return _regression_on_scores(self._cov[:p, :p], self._cov[:p, :p], self.x_weights_)

    @property
    def y_loadings_(self) -> np.ndarray:
        """(q, k) regression of the scaled ``Y`` on its components."""
        p = self.x_mean_.shape[0]
        return _regression_on_scores(self._cov[p:, p:], self._cov[p:, p:], self.y_weights_)

    @property
    def coef_(self) -> np.ndarray:
        """(q, p) coefficients of ``predict``: ``Y`` regressed on the ``X`` components."""
        p = self.x_mean_.shape[0]
        y_on_x = _regression_on_scores(self._cov[p:, :p], self._cov[:p, :p], self.x_weights_)
        return ((self.x_weights_ @ y_on_x.T) * self.y_std_ / self.x_std_[:, None]).T

    @property
    def intercept_(self) -> np.ndarray:
        """(q,) intercept of ``predict`` (the mean of ``Y``)."""
        return self.y_mean_

    def _check_fitted(self) -> None:
        err = self.__dict__.get("_pending_error")
        if err is not None:
            raise ShapeError(f"not solvable from the data seen so far: {err}")
        check_is_fitted(self, "x_weights_")

    # ---------------------------------------------------------------- transform
    def _x_view(self, X) -> np.ndarray:
        X0 = X
        X = as_view(X, "X")
        if X.shape[1] != self.x_mean_.shape[0]:
            raise ShapeError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.x_mean_.shape[0]} features as input"
            )
        validate_data(self, X0, reset=False, skip_check_array=True)
        check_finite(X, "X")
        return X

    def _y_view(self, Y) -> np.ndarray:
        Y = as_view(Y, "Y", allow_1d=True)
        check_finite(Y, "Y")
        if Y.shape[1] != self.y_mean_.shape[0]:
            raise ShapeError(
                f"Y has {Y.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.y_mean_.shape[0]} features as input"
            )
        return Y

    def transform(self, X, Y=None, *, y=None):
        """Canonical components ``Xc`` (n, k), or ``(Xc, Yc)`` when ``Y`` is given
        (also as ``transform([X, Y])``)."""
        X, Y = _two_views(X, _alias(Y, y), type(self).__name__)
        self._check_fitted()
        X = self._x_view(X)
        Xc = ((X - self.x_mean_) / self.x_std_) @ self.x_weights_
        if Y is None:
            return Xc
        Y = self._y_view(Y)
        check_same_n([X, Y], ["X", "Y"])
        Yc = ((Y - self.y_mean_) / self.y_std_) @ self.y_weights_
        return Xc, Yc

    def fit_transform(self, X, Y=None, *, y=None):
        """``fit(X, Y).transform(X, Y)``."""
        X, Y = _two_views(X, _alias(Y, y), type(self).__name__)
        return self.fit(X, Y).transform(X, Y)

    def score(self, X, Y=None, *, y=None) -> float:
        """Sum of the canonical correlations of ``(X, Y)`` (or ``[X, Y]``), e.g.
        held out: ``sum_k corr(X a_k, Y b_k)``. This is the CCA family's score
        (GridSearchCV maximises it); scikit-learn's CCA scores ``predict`` by R^2
        instead."""
        X, Y = _two_views(X, _alias(Y, y), type(self).__name__)
        if Y is None:
            raise ShapeError("CCA.score needs the second view: score(X, Y) or score([X, Y])")
        return canonical_score(self.transform(X, Y))

    def inverse_transform(self, X, Y=None, *, y=None):
        """Map components back to the input spaces (through the loadings)."""
        Y = _alias(Y, y)
        self._check_fitted()
        Xr = (np.asarray(X, dtype=np.float64) @ self.x_loadings_.T) * self.x_std_ + self.x_mean_
        if Y is None:
            return Xr
        Yr = (np.asarray(Y, dtype=np.float64) @ self.y_loadings_.T) * self.y_std_ + self.y_mean_
        return Xr, Yr

    def predict(self, X):
        """Predict ``Y`` from ``X`` through the canonical components (n, q)."""
        self._check_fitted()
        X = self._x_view(X)
        Yp = (X - self.x_mean_) @ self.coef_.T + self.intercept_
        return Yp.ravel() if getattr(self, "_predict_1d", False) else Yp

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.regressor_tags.poor_score = True
        return tags
