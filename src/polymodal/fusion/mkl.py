"""Multiple kernel learning: EasyMKL (Aiolli & Donini, Neurocomputing 2015)
learns a convex combination of base kernels, one family per view, and an SVM
is trained on the combined kernel (Baltrušaitis et al., TPAMI 2019, Sec. 6.2,
"kernel-based methods")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from polymodal.core.contract import checked_array, checked_data
from polymodal.core.targets import class_labels
from polymodal.errors import ConfigError, ShapeError

__all__ = ["MKLClassifier", "BaseKernel", "easymkl_gamma", "project_simplex"]


@dataclass(frozen=True)
class BaseKernel:
    """One base kernel on one view: ``kind`` in {"linear", "rbf", "poly"};
    ``param`` is the RBF gamma multiplier (of 1 / median squared distance)
    or the polynomial degree."""

    view: int
    kind: str
    param: float = 0.0

    @property
    def name(self) -> str:
        if self.kind == "linear":
            return f"view{self.view}:linear"
        return f"view{self.view}:{self.kind}({'gamma x' if self.kind == 'rbf' else 'degree '}{self.param:g})"


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``v`` onto ``{x >= 0, sum(x) = 1}`` (sort-based,
    Duchi, Shalev-Shwartz, Singer & Chandra, ICML 2008).

    >>> project_simplex(np.array([2.0, 0.0]))
    array([1., 0.])
    """
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, len(v) + 1)
    rho = np.nonzero(u - css / k > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1), 0.0)


def easymkl_gamma(K: np.ndarray, y: np.ndarray, lam: float = 0.1, max_iter: int = 500, tol: float = 1e-6,
                  return_n_iter: bool = False):
    """Solve EasyMKL's quadratic problem (Aiolli & Donini 2015, Eq. 5)

    .. math:: \\min_{\\gamma \\in \\Gamma} (1 - \\lambda)\\, \\gamma^\\top Y K Y \\gamma + \\lambda \\|\\gamma\\|^2,
              \\quad \\Gamma = \\{\\gamma \\ge 0, \\textstyle\\sum_{y_i = +1} \\gamma_i = 1, \\sum_{y_i = -1} \\gamma_i = 1\\}

    (the distance between the convex hulls of the two classes in feature
    space, regularised) by accelerated projected gradient (FISTA, Beck &
    Teboulle 2009) onto the product of the two simplices, stopped when the
    objective changes by less than ``tol`` (relative) over 10 iterations.

    Parameters
    ----------
    K : ndarray (n, n)
        Positive semi-definite kernel.
    y : ndarray (n,) or (n, P)
        Labels in {-1, +1}; ``P`` columns solve ``P`` problems at once (one
        matrix product per iteration, e.g. the one-vs-rest problems).

    Returns ``gamma`` of the shape of ``y`` (and the number of iterations
    run if ``return_n_iter``).
    """
    Y = np.asarray(y, dtype=np.float64)
    single = Y.ndim == 1
    Y = Y[:, None] if single else Y
    pos, neg = Y > 0, Y < 0
    for p in range(Y.shape[1]):
        if not pos[:, p].any() or not neg[:, p].any():
            raise ShapeError(f"EasyMKL needs both classes in y (column {p}), got "
                             f"{int(pos[:, p].sum())} positive and {int(neg[:, p].sum())} negative")
    lmax = float(np.linalg.eigvalsh(K)[-1]) if len(Y) <= 400 else _power_max(K)
    step = 1.0 / (2.0 * ((1.0 - lam) * lmax + lam))

    def grad_obj(Z):
        KZ = Y * (K @ (Y * Z))
        return 2.0 * ((1.0 - lam) * KZ + lam * Z), ((1.0 - lam) * KZ * Z + lam * Z * Z).sum(0)

    def project(V):
        out = np.empty_like(V)
        for p in range(V.shape[1]):
            out[pos[:, p], p] = project_simplex(V[pos[:, p], p])
            out[neg[:, p], p] = project_simplex(V[neg[:, p], p])
        return out

    gamma = np.where(pos, 1.0 / pos.sum(0), 1.0 / neg.sum(0))
    Z, t, last, it = gamma.copy(), 1.0, None, -1
    for it in range(max_iter):
        grad, _ = grad_obj(Z)
        new = project(Z - step * grad)
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        Z = new + ((t - 1.0) / t_new) * (new - gamma)
        gamma, t = new, t_new
        if it % 10 == 9:
            _, obj = grad_obj(gamma)
            if last is not None and np.all(np.abs(last - obj) <= tol * np.abs(obj)):
                break
            last = obj
    gamma = gamma[:, 0] if single else gamma
    return (gamma, it + 1) if return_n_iter else gamma


def _power_max(K: np.ndarray) -> float:
    from scipy.sparse.linalg import eigsh

    v0 = np.random.default_rng(0).standard_normal(K.shape[0])
    top = float(eigsh(K, k=1, which="LA", tol=1e-4, v0=v0, return_eigenvectors=False)[0])
    return top * 1.01  # slight over-estimate keeps the step safe


class MKLClassifier(ClassifierMixin, BaseEstimator):
    """EasyMKL multiple kernel learning with an SVM on the learned kernel.

    EasyMKL (Aiolli & Donini, "EasyMKL: a scalable multiple kernel learning
    algorithm", Neurocomputing 169, 2015) solves one QP on the sum of the
    normalised base kernels :math:`K_\\Sigma = \\sum_r K_r` (:func:`easymkl_gamma`,
    as in the authors' code and MKLpy's ``EasyMKL``, so ``lam`` has their
    meaning) and weighs each base kernel by the margin it gives between the
    classes:

    .. math:: \\eta_r \\propto \\gamma^{*\\top} Y K_r Y \\gamma^*, \\qquad
              K = \\sum_r \\eta_r K_r, \\quad \\eta_r \\ge 0, \\ \\sum_r \\eta_r = 1

    For more than two classes, one-vs-rest problems each give a weight vector
    and ``kernel_weights_`` is their mean (one combined kernel, still
    convex); the final classifier is ``SVC(kernel="precomputed", C=C)`` on it.

    Base kernels, for every view (after z-scoring with training statistics
    when ``standardize``): linear :math:`x^\\top x'`, RBF
    :math:`\\exp(-g \\|x - x'\\|^2)` with :math:`g` = each of ``rbf_gammas``
    divided by the median training squared distance, and polynomial
    :math:`(x^\\top x' / d + 1)^p` for each degree in ``poly_degrees``; each
    is divided by its mean training diagonal (unit trace per sample).

    Parameters
    ----------
    lam : float in [0, 1]
        EasyMKL's regulariser :math:`\\lambda`, on the authors' scale (the QP's
        kernel term is the sum of the ``R`` normalised kernels, so it weighs
        ``R`` times more than on their mean; ``lam = 0`` is the hard-margin
        distance between the class hulls, ``lam = 1`` the class centroids).
    C : float
        SVM soft-margin constant.
    linear : bool
    rbf_gammas : sequence of float
    poly_degrees : sequence of int
    views : sequence of int, optional
        Column counts splitting a single 2-D ``X`` into views; otherwise pass
        ``X`` as a list of ``(n, d_v)`` arrays (a single array is one view).
    standardize : bool
    max_iter : int
        FISTA iterations of the QP.

    Attributes
    ----------
    kernel_weights_ : ndarray (R,)
        Non-negative, sums to 1; order of ``kernel_names_``.
    kernel_names_ : list of str
    weights_per_class_ : ndarray (n_classes or 1, R)
    svc_ : SVC
    classes_ : ndarray
    n_features_in_ : int
        Total number of features over the views.
    n_iter_ : int
        Iterations of the QP solver.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = [rng.normal(size=(40, 3)) + y[:, None], rng.normal(size=(40, 2))]
    >>> clf = MKLClassifier(rbf_gammas=(1.0,), poly_degrees=()).fit(X, y)
    >>> bool(np.isclose(clf.kernel_weights_.sum(), 1.0)), clf.kernel_names_[0]
    (True, 'view0:linear')
    """

    def __init__(
        self,
        lam: float = 0.1,
        C: float = 1.0,
        linear: bool = True,
        rbf_gammas: Sequence[float] = (0.25, 1.0, 4.0),
        poly_degrees: Sequence[int] = (2,),
        views: Sequence[int] | None = None,
        standardize: bool = True,
        max_iter: int = 500,
    ) -> None:
        self.lam = lam
        self.C = C
        self.linear = linear
        self.rbf_gammas = rbf_gammas
        self.poly_degrees = poly_degrees
        self.views = views
        self.standardize = standardize
        self.max_iter = max_iter

    # -- views and kernels ---------------------------------------------------
    @staticmethod
    def _is_view_list(X) -> bool:
        return isinstance(X, (list, tuple)) and len(X) > 0 and all(np.ndim(x) == 2 for x in X)

    def _split(self, X, reset: bool = False) -> list[np.ndarray]:
        """Views of ``X`` as float arrays (validated; ``reset`` at fit time)."""
        if self._is_view_list(X):
            Xs = [checked_array(x, dtype=np.float64, input_name=f"view {i}") for i, x in enumerate(X)]
            for i, x in enumerate(Xs):
                if x.shape[0] != Xs[0].shape[0]:
                    raise ShapeError(f"view {i}: expected shape ({Xs[0].shape[0]}, d), got {x.shape}")
            total = sum(x.shape[1] for x in Xs)
            if reset:
                self.n_features_in_ = total
        else:
            X = checked_data(self, X, dtype=np.float64, reset=reset)
            if self.views is None:
                Xs = [X]
            else:
                if sum(self.views) != X.shape[1]:
                    raise ShapeError(f"views={list(self.views)} sum to {sum(self.views)} columns, X has {X.shape[1]}")
                Xs = np.split(X, np.cumsum(self.views)[:-1], axis=1)
        if not reset and [x.shape[1] for x in Xs] != self.n_features_per_view_:
            raise ShapeError(f"expected views with {self.n_features_per_view_} features, got {[x.shape[1] for x in Xs]}")
        return Xs

    def _kernel(self, k: BaseKernel, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        if k.kind == "linear":
            return A @ B.T
        if k.kind == "poly":
            return (A @ B.T / A.shape[1] + 1.0) ** k.param
        sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return np.exp(-k.param / self._median_sq[k.view] * np.maximum(sq, 0.0))

    def base_kernels(self, X, Y=None) -> np.ndarray:
        """``(R, n_X, n_Y)`` normalised base kernels between ``X`` and ``Y``
        (the training views by default)."""
        A = self._prepare(self._split(X))
        B = self.Xs_train_ if Y is None else self._prepare(self._split(Y))
        return np.stack([self._kernel(k, A[k.view], B[k.view]) / s for k, s in zip(self.kernels_, self.kernel_scale_)])

    def _prepare(self, Xs):
        return [(x - m) / s for x, m, s in zip(Xs, self.mean_, self.scale_)]

    # -- estimator API ---------------------------------------------------------
    def fit(self, X, y) -> "MKLClassifier":
        if not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"lam: expected a value in [0, 1], got {self.lam!r}")
        y = class_labels(y, type(self).__name__)
        Xs = self._split(X, reset=True)
        if y.shape != (Xs[0].shape[0],):
            raise ShapeError(f"y: expected shape ({Xs[0].shape[0]},), got {y.shape}")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ShapeError(f"y: needs at least two classes, got 1 class: {list(self.classes_)}")
        self.n_features_per_view_ = [x.shape[1] for x in Xs]
        if self.standardize:
            self.mean_ = [x.mean(0) for x in Xs]
            self.scale_ = [np.where(x.std(0) > 0, x.std(0), 1.0) for x in Xs]
        else:
            self.mean_ = [np.zeros(x.shape[1]) for x in Xs]
            self.scale_ = [np.ones(x.shape[1]) for x in Xs]
        self.Xs_train_ = self._prepare(Xs)
        self._median_sq = []
        for x in self.Xs_train_:
            sub = x[np.random.default_rng(0).permutation(len(x))[:500]]
            sq = (sub * sub).sum(1)[:, None] + (sub * sub).sum(1)[None, :] - 2 * sub @ sub.T
            med = float(np.median(sq[np.triu_indices(len(sub), 1)])) if len(sub) > 1 else 1.0
            self._median_sq.append(med if med > 0 else 1.0)
        kernels = []
        for v in range(len(Xs)):
            if self.linear:
                kernels.append(BaseKernel(v, "linear"))
            kernels += [BaseKernel(v, "rbf", float(g)) for g in self.rbf_gammas]
            kernels += [BaseKernel(v, "poly", float(p)) for p in self.poly_degrees]
        if not kernels:
            raise ConfigError("no base kernels: set linear=True, rbf_gammas or poly_degrees")
        self.kernels_ = kernels
        self.kernel_names_ = [k.name for k in kernels]
        Ks, self.kernel_scale_ = [], []  # float32 copies: R kernels of n x n
        Ksum = np.zeros((len(y), len(y)))  # the authors' QP is on the sum, not the mean
        for k in kernels:
            K = self._kernel(k, self.Xs_train_[k.view], self.Xs_train_[k.view])
            scale = max(float(np.mean(np.diag(K))), 1e-12)
            K /= scale
            Ksum += K
            self.kernel_scale_.append(scale)
            Ks.append(K.astype(np.float32))
        problems = [self.classes_[1:]] if len(self.classes_) == 2 else [[c] for c in self.classes_]
        Y = np.stack([np.where(np.isin(y, positive), 1.0, -1.0) for positive in problems], 1)
        gamma, self.n_iter_ = easymkl_gamma(Ksum, Y, self.lam, self.max_iter, return_n_iter=True)
        YG = Y * gamma  # (n, P)
        weights = []
        yg32 = YG.astype(np.float32)
        D = np.maximum(np.stack([np.einsum("ip,ip->p", yg32, K @ yg32) for K in Ks], 1).astype(np.float64), 0.0)
        for d in D:  # (P, R): margin of each kernel in each problem
            weights.append(d / d.sum() if d.sum() > 0 else np.full(len(d), 1.0 / len(d)))
        self.weights_per_class_ = np.array(weights)
        self.kernel_weights_ = self.weights_per_class_.mean(0)
        self.kernel_weights_ /= self.kernel_weights_.sum()
        K = sum(w * K.astype(np.float64) for w, K in zip(self.kernel_weights_, Ks))
        self.svc_ = SVC(kernel="precomputed", C=self.C).fit(K, y)
        return self

    def _combined(self, X) -> np.ndarray:
        check_is_fitted(self, "svc_")
        Xs = self._prepare(self._split(X))
        return sum(w * self._kernel(k, Xs[k.view], self.Xs_train_[k.view]) / s
                   for w, k, s in zip(self.kernel_weights_, self.kernels_, self.kernel_scale_))

    def decision_function(self, X) -> np.ndarray:
        """The SVM's decision values on the learned kernel."""
        K = self._combined(X)
        return self.svc_.decision_function(K)

    def predict(self, X) -> np.ndarray:
        K = self._combined(X)
        return self.svc_.predict(K)
