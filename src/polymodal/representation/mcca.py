"""Multiset CCA for two or more views: MCCA (SUMCOR) and GCCA (MAXVAR)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from polymodal.errors import ModalityError, ShapeError
from polymodal.representation._views import (
    as_view,
    check_finite,
    check_same_n,
    single_thread_blas,
)
from polymodal.representation.cca import canonical_score, check_n_components, check_reg, refuse_constant_columns, view_scale, whitener

__all__ = ["MCCA", "GCCA"]


def check_views(views: object, what: str) -> list[np.ndarray]:
    """A list of >= 2 finite 2-D views with the same number of rows."""
    if isinstance(views, np.ndarray) or not isinstance(views, Sequence):
        raise ModalityError(
            f"{what} expects views as a list of 2-D arrays; got {type(views).__name__}"
        )
    if len(views) < 2:
        raise ModalityError(
            f"{what} needs at least 2 views; got {len(views)} view(s)"
        )
    names = [f"views[{i}]" for i in range(len(views))]
    arrs = [as_view(v, nm) for v, nm in zip(views, names)]
    for a, nm in zip(arrs, names):
        check_finite(a, nm)
    check_same_n(arrs, names)
    return arrs


class _MultiviewCCA(TransformerMixin, BaseEstimator):
    """Shared solver: the block-whitened eigenproblem of all views together.

    With regularised within-view covariances ``(1 - r) C_ii + r I = L_i L_i^T``
    and ``T_ij = L_i^{-1} C_ij L_j^{-T}`` (cross blocks unchanged: cca-zoo's
    convention, ``r = 0`` is CCA and ``r = 1`` PLS), the top eigenvectors
    ``u = [u_1; ...; u_m]`` of ``T`` give the view weights ``L_i^{-T} u_i``. The
    diagonal blocks are ``T_ii = I`` for MCCA (SUMCOR's generalized
    eigenproblem) and ``L_i^{-1} C_ii L_i^{-T}`` for GCCA (``T = H^T H`` with
    ``H = [X_i L_i^{-T}] / sqrt(n - 1)``, so ``H H^T`` is the regularised sum of
    projections).
    """

    _whitened_diagonal = False
    _multiview: ClassVar[bool] = True  # fit([X1, X2, ...]); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"n_components": 1}  # views of 1 column in the checks

    def __init__(self, n_components: int = 2, reg: float = 0.0, scale: bool = True):
        self.n_components = n_components
        self.reg = reg
        self.scale = scale

    def _fit_eig(self, views) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[slice]]:
        name = type(self).__name__
        reg = check_reg(self.reg)
        views = check_views(views, name)
        n = views[0].shape[0]
        dims = [v.shape[1] for v in views]
        if n < 2:
            raise ShapeError(f"{name} needs at least 2 samples; got n_samples = {n}")
        k = check_n_components(self.n_components, min([n] + dims), "min(n_samples, n_features of each view)")
        Z = np.hstack(views)
        mean = Z.mean(axis=0)
        Z -= mean
        C = Z.T @ Z / (n - 1)
        std, const = view_scale(np.diag(C).copy(), mean)
        offs = np.concatenate([[0], np.cumsum(dims)])
        sls = [slice(a, b) for a, b in zip(offs[:-1], offs[1:])]
        if reg == 0.0:
            refuse_constant_columns(const, {f"views[{i}]": sl for i, sl in enumerate(sls)}, name)
        if not self.scale:
            std = np.ones_like(std)
        C /= np.outer(std, std)
        with single_thread_blas():
            Ls = [whitener(C[sl, sl], reg, f"views[{i}]", n) for i, sl in enumerate(sls)]
            T = np.empty_like(C)
            for i, si in enumerate(sls):
                for j, sj in enumerate(sls):
                    if i == j and not self._whitened_diagonal:
                        T[si, sj] = np.eye(dims[i])
                    elif j >= i:
                        B = solve_triangular(Ls[i], C[si, sj], lower=True)
                        T[si, sj] = solve_triangular(Ls[j], B.T, lower=True).T
                        T[sj, si] = T[si, sj].T
            w, U = np.linalg.eigh(T)
        w, U = w[::-1][:k], U[:, ::-1][:, :k]
        W = [solve_triangular(L, U[sl], lower=True, trans="T") for L, sl in zip(Ls, sls)]
        sign = np.sign(W[0][np.abs(W[0]).argmax(axis=0), np.arange(k)])
        sign[sign == 0] = 1.0
        W = [Wi * sign for Wi in W]
        self.means_ = [mean[sl].copy() for sl in sls]
        self.stds_ = [std[sl].copy() for sl in sls]
        self.n_features_in_views_ = dims
        self.eigenvalues_ = w
        return W, w, C, sls

    @staticmethod
    def _mean_pairwise_correlations(W: list[np.ndarray], C: np.ndarray, sls: list[slice]) -> np.ndarray:
        """Mean over view pairs of the correlation of their training components
        (``C``: the scaled covariance of the stacked views, ``sls``: their columns)."""
        var = [((C[sl, sl] @ Wi) * Wi).sum(0) for sl, Wi in zip(sls, W)]
        out = []
        for i in range(len(W)):
            for j in range(i + 1, len(W)):
                cov = ((C[sls[i], sls[j]] @ W[j]) * W[i]).sum(0)
                v = var[i] * var[j]
                out.append(np.divide(cov, np.sqrt(v), out=np.zeros_like(cov), where=v > 0))
        return np.mean(out, axis=0)

    def _scaled(self, views) -> list[np.ndarray]:
        check_is_fitted(self, "weights_")
        views = check_views(views, type(self).__name__)
        if [v.shape[1] for v in views] != self.n_features_in_views_:
            raise ShapeError(
                f"views have {[v.shape[1] for v in views]} features, but "
                f"{type(self).__name__} is expecting {self.n_features_in_views_}"
            )
        return [(v - m) / s for v, m, s in zip(views, self.means_, self.stds_)]

    def transform(self, views) -> list[np.ndarray]:
        """Project each view (n, p_i) to its components (n, n_components)."""
        return [v @ W for v, W in zip(self._scaled(views), self.weights_)]

    def fit_transform(self, views, y=None) -> list[np.ndarray]:
        """``fit(views).transform(views)``."""
        return self.fit(views).transform(views)

    def score(self, views, y=None) -> float:
        """Sum over components of the mean pairwise correlation of the views'
        components, e.g. held out (GridSearchCV maximises it)."""
        return canonical_score(self.transform(views))


class MCCA(_MultiviewCCA):
    """Multiset CCA (SUMCOR): maximise the summed covariance of all view pairs.

    Kettenring, "Canonical analysis of several sets of variables", Biometrika
    1971 (SUMCOR), in its generalized-eigenvalue form (Nielsen, IEEE TIP 2002):

    .. math::

        C\\,a = \\lambda\\, D\\,a,\\qquad C = [C_{ij}],\\;
        D = \\operatorname{blockdiag}((1-r)C_{ii} + rI),

    i.e. :math:`\\max \\sum_{i \\ne j} a_i^\\top C_{ij} a_j` subject to
    :math:`\\sum_i a_i^\\top D_{ii} a_i` fixed, with the cross blocks unchanged
    (cca-zoo's ``MCCA(shrinkage=r)`` convention: ``r = 0`` is SUMCOR CCA, ``r = 1``
    PLS). Each view's weights are then rescaled so that
    :math:`a_i^\\top D_{ii} a_i = 1` (unit variance at ``r = 0``). For two views
    ``lambda = 1 + objective`` and the components are those of :class:`CCA`.

    Parameters
    ----------
    n_components : int, default 2  (``<= min(n_samples, p_1, ..., p_m)``)
    reg : float in [0, 1], default 0 — shrinkage of each view's covariance
    scale : bool, default True — standardise each column first

    Attributes
    ----------
    weights_ : list of ndarray (p_i, n_components)
    eigenvalues_ : ndarray (n_components,), decreasing
    objective_values_ : ndarray (n_components,) — ``(lambda - 1) / (m - 1)``; for
        two views :class:`CCA`'s ``objective_values_``
    canonical_correlations_ : ndarray (n_components,) — the mean over view pairs
        of the correlation of the training components; for two views
        :class:`CCA`'s ``canonical_correlations_``
    means_, stds_ : list of ndarray (p_i,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(100, 1))
    >>> views = [z + 0.1 * rng.normal(size=(100, 3)) for _ in range(3)]
    >>> m = MCCA(n_components=1).fit(views)
    >>> bool(m.canonical_correlations_[0] > 0.9)
    True
    """

    def fit(self, views, y=None) -> "MCCA":
        """Fit on a list of ``m >= 2`` views, each (n_samples, p_i)."""
        W, w, C, sls = self._fit_eig(views)
        # unit variance per view and component (under the regularised covariance)
        reg = float(self.reg)
        out = []
        for Wi, sl in zip(W, sls):
            Ci = C[sl, sl]
            Cr = (1 - reg) * Ci + reg * np.eye(len(Ci))
            var = np.einsum("ik,ij,jk->k", Wi, Cr, Wi)
            out.append(Wi / np.sqrt(np.where(var > 0, var, 1.0)))
        self.weights_ = out
        self.objective_values_ = (w - 1.0) / (len(W) - 1)
        self.canonical_correlations_ = self._mean_pairwise_correlations(out, C, sls)
        return self


class GCCA(_MultiviewCCA):
    """Generalized CCA (MAXVAR): a shared representation closest to every view.

    Horst, "Generalized canonical correlations and their applications to
    experimental data", J. Clinical Psychology 1961; Carroll, APA 1968:

    .. math::

        \\min_{G, W_i} \\sum_i \\lVert G - X_i W_i \\rVert_F^2
        \\quad\\text{s.t.}\\quad G^\\top G = (n - 1) I,

    whose solution ``G`` spans the top eigenvectors of :math:`\\sum_i P_i`, with
    :math:`P_i = X_i (X_i^\\top X_i)^{-1} X_i^\\top` the projection on view ``i``.
    ``reg = r > 0`` uses :math:`P_i = X_i [(1-r) C_{ii} + rI]^{-1} X_i^\\top / (n-1)`
    (cca-zoo's ``GCCA(shrinkage=r)`` convention; ``G^T G = (n - 1) I`` still holds).
    It is computed through the block-whitened eigenproblem of :math:`H^\\top H`,
    :math:`H = [X_i L_i^{-\\top}] / \\sqrt{n-1}` (never an ``n x n`` matrix).
    ``weights_[i]`` is the regularised regression of ``G`` on view ``i``,
    :math:`[(1-r) C_{ii} + rI]^{-1} X_i^\\top G / (n-1)` (least squares at
    ``r = 0``); for two views each view's components are proportional to those
    of :class:`CCA`.

    Parameters
    ----------
    n_components : int, default 2
    reg : float in [0, 1], default 0
    scale : bool, default True

    Attributes
    ----------
    weights_ : list of ndarray (p_i, n_components)
    shared_components_ : ndarray (n_samples, n_components), the training ``G``
    eigenvalues_ : ndarray (n_components,), decreasing — of :math:`\\sum_i P_i`
        (at most m at ``reg = 0``)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(100, 1))
    >>> views = [z + 0.1 * rng.normal(size=(100, 3)) for _ in range(3)]
    >>> g = GCCA(n_components=1).fit(views)
    >>> g.shared_components_.shape
    (100, 1)
    """

    _whitened_diagonal = True

    def fit(self, views, y=None) -> "GCCA":
        """Fit on a list of ``m >= 2`` views, each (n_samples, p_i)."""
        W, w, _, _ = self._fit_eig(views)
        # G = sum_i X_i L_i^{-T} u_i / sqrt(lambda), scaled to unit variance;
        # W_i = L_i^{-T} T_i u / sqrt(lambda) = lambda L_i^{-T} u_i / sqrt(lambda)
        scaled = self._scaled_train(views)
        self.weights_ = [Wi * np.sqrt(w) for Wi in W]
        G = sum(v @ Wi for v, Wi in zip(scaled, W)) / np.sqrt(w)
        self.shared_components_ = G
        return self

    def _scaled_train(self, views) -> list[np.ndarray]:
        views = check_views(views, type(self).__name__)
        return [(v - m) / s for v, m, s in zip(views, self.means_, self.stds_)]
