"""Regularised kernel CCA, exact (eigen-features of the kernel) or Nyström-approximated."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.utils.validation import check_is_fitted

from polymodal.errors import ConfigError, ShapeError
from polymodal.representation._views import as_view, check_finite, check_same_n
from polymodal.representation.cca import CCA, _two_views, canonical_score, check_reg
from polymodal.representation.cca_stats import CCAStats

__all__ = ["KCCA"]

_KERNELS = ("rbf", "poly", "linear")


class _KernelFeatures:
    """Explicit features ``F`` of one view with ``F F^T`` = the (centred) kernel.

    Exact: ``F = U sqrt(L)`` from the eigendecomposition of the centred training
    kernel (kernel-PCA coordinates; eigenvalues below ``1e-10 * max`` dropped),
    new points through the centred cross-kernel times ``U / sqrt(L)``.
    Nyström (Williams & Seeger, NIPS 2001): ``F = k(x, landmarks) K_mm^{-1/2}``.
    """

    def __init__(self, kernel_fn: Callable, X: np.ndarray, landmarks: np.ndarray | None):
        self.kernel_fn = kernel_fn
        if landmarks is None:
            K = kernel_fn(X, X)
            self.col_mean = K.mean(axis=0)
            self.all_mean = self.col_mean.mean()
            K = K - self.col_mean[None, :] - self.col_mean[:, None] + self.all_mean
            w, U = np.linalg.eigh((K + K.T) / 2)
            keep = w > 1e-10 * max(w[-1], 0.0)
            self.X = X
            self.train_features = U[:, keep] * np.sqrt(w[keep])
            self.map = U[:, keep] / np.sqrt(w[keep])
        else:
            Kmm = kernel_fn(landmarks, landmarks)
            w, U = np.linalg.eigh((Kmm + Kmm.T) / 2)
            keep = w > 1e-10 * max(w[-1], 0.0)
            self.X = landmarks
            self.col_mean = None
            self.map = U[:, keep] / np.sqrt(w[keep])
        self.dim = self.map.shape[1]

    def __call__(self, A: np.ndarray) -> np.ndarray:
        K = self.kernel_fn(A, self.X)
        if self.col_mean is not None:
            K = K - self.col_mean[None, :] - K.mean(axis=1, keepdims=True) + self.all_mean
        return K @ self.map


def _builtin_kernel(A, B, *, metric, **params):
    """A named kernel (picklable, unlike a closure)."""
    return pairwise_kernels(A, B, metric=metric, filter_params=True, **params)


class KCCA(TransformerMixin, BaseEstimator):
    """Regularised kernel CCA (Bach & Jordan, JMLR 2002; Hardoon, Szedmak &
    Shawe-Taylor, Neural Computation 2004).

    Linear CCA in the reproducing-kernel Hilbert spaces of ``X`` and ``Y`` with
    ridge shrinkage, in dual form with centred kernels :math:`K_x, K_y`:

    .. math::

        \\max_{\\alpha,\\beta}\\; s\\,\\alpha^\\top K_x K_y \\beta \\quad\\text{s.t.}\\quad
        \\alpha^\\top (s K_x^2 + r K_x)\\alpha = \\beta^\\top (s K_y^2 + r K_y)\\beta = 1,
        \\qquad s = \\frac{1 - r}{n - 1},

    (Hardoon et al.'s regularised correlation with :math:`\\kappa = r (n-1)/(1-r)`),
    solved exactly as :class:`CCA` (``scale=False``, ``reg=r``, whose objective
    is this one divided by ``1 - r``) on explicit kernel features ``F`` with
    ``F F^T = K`` (so a linear kernel gives exactly ``CCA(reg=r, scale=False)``). With ``approximation="nystroem"`` the features
    come from ``n_landmarks`` random landmarks and the covariances are
    accumulated in chunks: time O(n m^2), memory O(chunk_size * m) — n = 100k
    takes seconds.

    Parameters
    ----------
    n_components : int, default 2
    kernel : "rbf", "poly", "linear" or callable ``k(A, B) -> (len(A), len(B))``
    reg : float in [0, 1], default 0.1 (``reg = 0`` overfits any
        full-rank kernel: every correlation is 1)
    gamma, degree, coef0 : kernel parameters (scikit-learn's
        ``pairwise_kernels`` meaning; ``gamma=None`` is ``1 / n_features``)
    approximation : None or "nystroem"
    n_landmarks : int, default 300 (Nyström only)
    chunk_size : int, default 10000 (Nyström only)
    random_state : int or None (landmark choice)

    Attributes
    ----------
    canonical_correlations_ : ndarray (n_components,) — the correlations of the
        training components (as :class:`CCA`; close to 1 for a small ``reg``,
        which overfits)
    objective_values_ : ndarray (n_components,) — the regularised objective above
        (Hardoon et al.'s regularised correlation; 0.61 vs a training
        correlation of 0.98 for the example below with ``reg=0.1``)
    cca_ : CCA fitted on the kernel features

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, size=(200, 1))
    >>> y = x**2 + 0.05 * rng.normal(size=(200, 1))
    >>> k = KCCA(n_components=1, kernel="rbf", gamma=2.0, reg=0.01).fit(x, y)
    >>> bool(k.canonical_correlations_[0] > 0.9)
    True
    """

    _multiview: ClassVar[bool] = True  # fit([X, Y]); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"n_components": 1}  # views of 1 column in the checks

    def __init__(
        self,
        n_components: int = 2,
        kernel: str | Callable = "rbf",
        reg: float = 0.1,
        gamma: float | None = None,
        degree: int = 3,
        coef0: float = 1.0,
        approximation: str | None = None,
        n_landmarks: int = 300,
        chunk_size: int = 10000,
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.reg = reg
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.approximation = approximation
        self.n_landmarks = n_landmarks
        self.chunk_size = chunk_size
        self.random_state = random_state

    def _kernel_fn(self) -> Callable:
        kernel = self.kernel
        if callable(kernel):
            def fn(A, B):
                K = np.asarray(kernel(A, B), dtype=np.float64)
                if K.shape != (len(A), len(B)):
                    raise ShapeError(
                        f"kernel(A, B) must return shape {(len(A), len(B))}; got {K.shape}"
                    )
                return K
            return fn
        if kernel not in _KERNELS:
            raise ConfigError(
                f"kernel must be one of {_KERNELS} or a callable; got {kernel!r}"
            )
        params = {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}
        return functools.partial(_builtin_kernel, metric=kernel, **params)

    def _check(self, X, Y):
        X = as_view(X, "X")
        Y = as_view(Y, "Y")
        check_finite(X, "X")
        check_finite(Y, "Y")
        check_same_n([X, Y], ["X", "Y"])
        return X, Y

    def fit(self, X, Y=None) -> "KCCA":
        """Fit on ``X`` (n, p) and ``Y`` (n, q) (or ``fit([X, Y])``); returns ``self``."""
        X, Y = _two_views(X, Y, "KCCA")
        if Y is None:
            raise ShapeError("KCCA needs two views: fit(X, Y) or fit([X, Y])")
        reg = check_reg(self.reg)
        if self.approximation not in (None, "nystroem"):
            raise ConfigError(
                f"approximation must be None or 'nystroem'; got {self.approximation!r}"
            )
        X, Y = self._check(X, Y)
        n = X.shape[0]
        if n < 2:
            raise ShapeError(f"KCCA needs at least 2 samples; got n_samples = {n}")
        k = self.n_components
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= n:
            raise ConfigError(
                f"n_components must be an integer in [1, n_samples = {n}]; "
                f"got {self.n_components!r}"
            )
        fn = self._kernel_fn()
        cca = CCA(n_components=self.n_components, reg=reg, scale=False)
        if self.approximation is None:
            self.fx_ = _KernelFeatures(fn, X, None)
            self.fy_ = _KernelFeatures(fn, Y, None)
            cca.fit(self.fx_.train_features, self.fy_.train_features)
        else:
            m = min(int(self.n_landmarks), n)
            idx = np.random.default_rng(self.random_state).choice(n, size=m, replace=False)
            self.fx_ = _KernelFeatures(fn, X, X[idx])
            self.fy_ = _KernelFeatures(fn, Y, Y[idx])
            stats = None
            step = max(int(self.chunk_size), 1)
            for lo in range(0, n, step):
                chunk = CCAStats.from_arrays(self.fx_(X[lo:lo + step]), self.fy_(Y[lo:lo + step]))
                stats = chunk if stats is None else stats.merge(chunk)
            cca.fit_stats(stats)
        self.cca_ = cca
        self.canonical_correlations_ = cca.canonical_correlations_
        self.objective_values_ = (1.0 - reg) * cca.objective_values_
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X, Y=None):
        """Components of ``X`` (n, k), or ``(Xc, Yc)`` when ``Y`` is given
        (also as ``transform([X, Y])``)."""
        X, Y = _two_views(X, Y, "KCCA")
        check_is_fitted(self, "cca_")
        X = as_view(X, "X")
        check_finite(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"X has {X.shape[1]} features, but KCCA is expecting "
                f"{self.n_features_in_} features as input"
            )
        if Y is None:
            return self.cca_.transform(self.fx_(X))
        Y = as_view(Y, "Y")
        check_finite(Y, "Y")
        check_same_n([X, Y], ["X", "Y"])
        return self.cca_.transform(self.fx_(X), self.fy_(Y))

    def fit_transform(self, X, Y=None):
        """``fit(X, Y).transform(X, Y)``."""
        X, Y = _two_views(X, Y, "KCCA")
        return self.fit(X, Y).transform(X, Y)

    def score(self, X, Y=None) -> float:
        """Sum of the canonical correlations of the components of ``(X, Y)``
        (or ``[X, Y]``), e.g. held out; GridSearchCV maximises it."""
        X, Y = _two_views(X, Y, "KCCA")
        if Y is None:
            raise ShapeError("KCCA.score needs the second view: score(X, Y) or score([X, Y])")
        return canonical_score(self.transform(X, Y))
