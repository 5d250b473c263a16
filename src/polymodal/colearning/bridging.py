"""Bridging modalities that never co-occur: a linear ridge bridge through a
pivot modality, and Correlational Neural Networks (CorrNet, Bridge CorrNet).

Input follows the library's multi-view convention, a sequence of row-aligned
views ``[X1, X2, ...]``. A view that a row lacks is a whole row of NaN, so two
corpora paired separately with a pivot, ``(A, P_a)`` and ``(B, P_b)``, are the
three views ``[A; NaN], [P_a; P_b], [NaN; B]`` (:func:`pivot_views` stacks them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from polymodal.core.activations import activation_function, check_activation
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation._views import as_view
from polymodal.training.estimator_loop import resolve_device, seed_from, seeded, train_network

__all__ = ["BridgeCorrNet", "CorrNet", "CorrNetNetwork", "PivotBridge", "corrnet_correlation", "pivot_views"]


def _array(X: Any, name: str, d: int | None = None) -> np.ndarray:
    """``X`` as a 2-D float64 array (NaN allowed: a missing view's row), ``d`` features when given."""
    X = as_view(X, name)  # strings, complex, 1-D/3-D, empty: ShapeError naming the view
    if np.isinf(X).any():
        raise ShapeError(f"{name}: contains infinite values")
    if d is not None and X.shape[1] != d:
        raise ShapeError(f"{name}: expected (n, {d}), got shape {X.shape}")
    return X


def pivot_views(A: Any, P_a: Any, B: Any, P_b: Any) -> list[np.ndarray]:
    """Stack two separately paired sets, ``(A, P_a)`` and ``(B, P_b)``, into the
    three row-aligned views ``[A, P, B]`` that :class:`PivotBridge` and
    :class:`BridgeCorrNet` fit on: rows ``0..n_a-1`` are ``(a_i, p_i, NaN)``,
    rows ``n_a..n_a+n_b-1`` are ``(NaN, p_j, b_j)`` (a NaN row: view absent).

    A (n_a, d_a) paired row by row with P_a (n_a, d_p); B (n_b, d_b) with P_b (n_b, d_p).

    Examples
    --------
    >>> A, P_a, B, P_b = np.ones((2, 3)), np.zeros((2, 1)), np.ones((1, 2)), np.zeros((1, 1))
    >>> [v.shape for v in pivot_views(A, P_a, B, P_b)]
    [(3, 3), (3, 1), (3, 2)]
    >>> pivot_views(A, P_a, B, P_b)[2][:, 0]
    array([nan, nan,  1.])
    """
    A, P_a, B, P_b = (_array(X, name) for X, name in ((A, "A"), (P_a, "P_a"), (B, "B"), (P_b, "P_b")))
    for name, X, P in (("A", A, P_a), ("B", B, P_b)):
        if X.shape[0] != P.shape[0]:
            raise ShapeError(f"{name} and its pivot rows must be paired, got {X.shape[0]} and {P.shape[0]} rows")
        if np.isnan(X).any() or np.isnan(P).any():
            raise ShapeError(f"{name} and its pivot rows must be complete pairs: found NaN")
    if P_a.shape[1] != P_b.shape[1]:
        raise ShapeError(f"both pivot sets must have the same features, got {P_a.shape[1]} and {P_b.shape[1]}")
    return [np.vstack([A, np.full((len(B), A.shape[1]), np.nan)]), np.vstack([P_a, P_b]),
            np.vstack([np.full((len(A), B.shape[1]), np.nan), B])]


def _check_views(X: Any, what: str, n_views: int | None, allow_missing: bool,
                 dims: list[int] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Float64 views (``dims[i]`` features each when given) and the ``(n, m)`` mask of the rows
    each view is present in."""
    if isinstance(X, (np.ndarray, Mapping, str)) or not isinstance(X, Sequence):
        raise ModalityError(f"{what} expects a sequence of views [X1, X2, ...]; got {type(X).__name__}")
    if len(X) < 2 or (n_views is not None and len(X) != n_views):
        want = f"exactly {n_views}" if n_views is not None else "at least 2"
        raise ModalityError(f"{what} needs {want} views; got {len(X)}")
    views = [_array(v, f"views[{i}]", None if dims is None else dims[i]) for i, v in enumerate(X)]
    if len({len(v) for v in views}) != 1:
        raise ShapeError(f"{what}: the views must have one row per sample each; got {[len(v) for v in views]} rows")
    present = []
    for i, v in enumerate(views):
        nan = np.isnan(v)
        if nan.any() and not allow_missing:
            raise ShapeError(f"views[{i}]: contains NaN ({what} needs complete pairs; "
                             "BridgeCorrNet and PivotBridge take a missing view as a whole row of NaN)")
        partial = np.flatnonzero(nan.any(1) & ~nan.all(1))
        if len(partial):
            raise ShapeError(f"views[{i}] row {partial[0]} has NaN in some features only: "
                             "mark a missing view with a whole row of NaN")
        present.append(~nan.all(1))
    return views, np.stack(present, 1)


def _view_index(view: Any, m: int) -> int:
    if isinstance(view, bool) or not isinstance(view, (int, np.integer)) or not -m <= view < m:
        raise ConfigError(f"view must be an int index into the {m} views, got {view!r}")
    return int(view) % m


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def _ridge(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mx, my = X.mean(0), Y.mean(0)
    Xc = X - mx
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (Y - my))
    return W, mx, my


_PARTIAL_NAN = {"check_estimators_pickle": "an absent view is a whole NaN row of its view; the check's one NaN "
                                      "entry is a partial row, refused with a ShapeError"}


class PivotBridge(TransformerMixin, BaseEstimator):
    """Map every view into the space of a pivot view from the rows where the
    two are paired; views never paired with each other (A and B, each paired
    with the pivot P in *separate* sets) then meet in P's space (retrieval,
    or a classifier trained on one used on the other).

    Bridge correlational / pivot-based learning (Rajendran, Khapra, Chandar &
    Ravindran, NAACL 2016; the "hybrid data" co-learning case of Baltrusaitis,
    Ahuja & Morency, TPAMI 2019). Each map is ridge regression onto the pivot
    on the rows where view ``i`` and the pivot ``P`` are both present:

    .. math:: W_i = \\arg\\min_W \\|(X_i - \\bar X_i) W - (P - \\bar P)\\|_F^2 + \\alpha \\|W\\|_F^2

    and ``transform_view(X, i) = (X - \\bar X_i) W_i + \\bar P`` (means over those
    rows); the pivot maps to itself.

    Parameters
    ----------
    alpha : float > 0, ridge penalty
    pivot : int, index of the pivot view (default 1: ``[A, P, B]``)

    ``fit(X)``: ``X = [X_0 (n, d_0), ..., X_{m-1} (n, d_{m-1})]`` with a whole NaN
    row where a view is absent (:func:`pivot_views` builds ``[A, P, B]`` from
    two paired sets). ``transform(X)``: every view in the pivot space (NaN rows
    stay NaN); ``transform_view(X_i, i)``; ``similarity(X_i, X_j, views=(i, j))``.

    Attributes
    ----------
    coef_ : list of (d_i, d_p) arrays; view_means_, pivot_means_ : lists of the centring means

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(100, 3)); Ma, Mb, Mp = (rng.normal(size=(3, k)) for k in (4, 5, 6))
    >>> br = PivotBridge(alpha=1e-9).fit(pivot_views(Z[:50] @ Ma, Z[:50] @ Mp, Z[50:] @ Mb, Z[50:] @ Mp))
    >>> np.allclose(br.transform_view(Z @ Ma, 0), br.transform_view(Z @ Mb, 2))
    True
    """

    _multiview: ClassVar[bool] = True  # fit([A, P, B]); checked through ColumnBlocks (two views: [A, P])
    _expected_failed_checks: ClassVar[dict[str, str]] = _PARTIAL_NAN

    def __init__(self, alpha: float = 1e-3, pivot: int = 1) -> None:
        self.alpha = alpha
        self.pivot = pivot

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # an absent view: a whole NaN row (partial NaN refused)
        return tags

    def fit(self, X: Any, y: Any = None) -> "PivotBridge":
        """Fit one ridge map per view onto the pivot on the rows where both are present."""
        views, present = _check_views(X, type(self).__name__, None, allow_missing=True)
        if not self.alpha > 0:
            raise ConfigError(f"alpha must be > 0, got {self.alpha!r}")
        p = _view_index(self.pivot, len(views))
        if len(views[0]) < 2:
            raise ShapeError(f"{type(self).__name__} needs at least 2 samples; got n_samples = {len(views[0])}")
        d_p = views[p].shape[1]
        self.coef_, self.view_means_, self.pivot_means_ = [], [], []
        for i, V in enumerate(views):
            if i == p:
                W, mx, my = np.eye(d_p), np.zeros(d_p), np.zeros(d_p)
            else:
                rows = present[:, i] & present[:, p]
                if rows.sum() < 2:
                    raise ModalityError(f"views[{i}] is paired with the pivot views[{p}] in {int(rows.sum())} "
                                        "row(s); the bridge needs at least 2")
                W, mx, my = _ridge(V[rows], views[p][rows], self.alpha)
            self.coef_.append(W)
            self.view_means_.append(mx)
            self.pivot_means_.append(my)
        self.n_features_per_view_ = [v.shape[1] for v in views]
        return self

    def transform_view(self, X: Any, view: int) -> np.ndarray:
        """View ``view`` (rows ``X`` (n, d_view)) in the pivot space, (n, d_p)."""
        check_is_fitted(self, "coef_")
        i = _view_index(view, len(self.coef_))
        X = _array(X, f"views[{i}]", self.n_features_per_view_[i])
        partial = np.flatnonzero(np.isnan(X).any(1) & ~np.isnan(X).all(1))
        if len(partial):
            raise ShapeError(f"views[{i}] row {partial[0]} has NaN in some features only: "
                             "mark a missing view with a whole row of NaN")
        return (X - self.view_means_[i]) @ self.coef_[i] + self.pivot_means_[i]

    def transform(self, X: Any) -> list[np.ndarray]:
        """Every view of ``X`` in the pivot space, each (n, d_p); absent (NaN) rows stay NaN."""
        check_is_fitted(self, "coef_")
        views, _ = _check_views(X, type(self).__name__, len(self.coef_), allow_missing=True,
                                dims=self.n_features_per_view_)
        return [self.transform_view(v, i) for i, v in enumerate(views)]

    def similarity(self, X_from: Any, X_to: Any, views: tuple[int, int] = (0, -1)) -> np.ndarray:
        """Cosine similarity, in the pivot space, of every row of view ``views[0]``
        (``X_from``) to every row of view ``views[1]`` (``X_to``), (n_from, n_to)."""
        return _cosine(self.transform_view(X_from, views[0]), self.transform_view(X_to, views[1]))


def corrnet_correlation(h1: torch.Tensor, h2: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CorrNet's correlation term (Chandar, Khapra, Larochelle & Ravindran,
    "Correlational Neural Networks", Neural Computation 2016, Eq. 2.3), summed
    over the hidden units as in their code:

    .. math:: \\operatorname{corr}(h(X), h(Y)) = \\sum_k \\frac{\\sum_i (h_{ik}(x_i) - \\bar h_k(X))(h_{ik}(y_i) - \\bar h_k(Y))}
              {\\sqrt{\\sum_i (h_{ik}(x_i) - \\bar h_k(X))^2 \\sum_i (h_{ik}(y_i) - \\bar h_k(Y))^2 + \\epsilon}}

    ``h1``, ``h2``: ``(n, k)`` hidden representations of the two views of ``n`` pairs.

    Examples
    --------
    >>> h = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    >>> round(float(corrnet_correlation(h, 2 * h + 1)), 6)
    2.0
    """
    if h1.shape != h2.shape or h1.dim() != 2:
        raise ShapeError(f"corrnet_correlation needs two (n, k) tensors of one shape, got {tuple(h1.shape)} "
                         f"and {tuple(h2.shape)}")
    a, b = h1 - h1.mean(0), h2 - h2.mean(0)
    return ((a * b).sum(0) / torch.sqrt((a * a).sum(0) * (b * b).sum(0) + eps)).sum()


class CorrNetNetwork(nn.Module):
    """Correlational neural network (Chandar, Khapra, Larochelle & Ravindran,
    Neural Computation 2016): one linear encoder per modality into a shared
    code, one linear decoder per modality,

    .. math:: h(x_S) = f\\big(\\textstyle\\sum_{m \\in S} W_m x_m + c\\big), \\qquad g_m(h) = W'_m h + b'_m

    (a modality absent from ``S`` contributes nothing). :meth:`pair_loss` is
    CorrNet's loss on a batch of pairs ``(x_1, x_2)``:

    .. math:: \\sum_{h \\in \\{h(x_1), h(x_2), h(x_1, x_2)\\}} \\sum_{m=1,2} \\tfrac1n \\|x_m - g_m(h)\\|^2
              \\; - \\lambda \\operatorname{corr}(h(x_1), h(x_2))

    (:func:`corrnet_correlation`); :meth:`loss` sums it over every pair of
    modalities on the rows where both are present, the objective of Bridge
    CorrNet (Rajendran, Khapra, Chandar & Ravindran, NAACL 2016, Eq. 1). The
    estimators are :class:`CorrNet` and :class:`BridgeCorrNet`.

    Parameters
    ----------
    dims : mapping modality -> d_m (input features)
    n_components : int, code size k
    activation : "sigmoid" (paper), "tanh", "relu" or "identity"
    lam : float >= 0, weight of the correlation

    Examples
    --------
    >>> net = CorrNetNetwork({"a": 4, "b": 3}, n_components=2)
    >>> batch = {"a": torch.randn(8, 4), "b": torch.randn(8, 3)}
    >>> net(batch).shape, net({"a": batch["a"]}).shape, net.loss(batch).shape
    (torch.Size([8, 2]), torch.Size([8, 2]), torch.Size([]))
    """

    def __init__(self, dims: Mapping[str, int], n_components: int, activation: str = "sigmoid",
                 lam: float = 2.0) -> None:
        super().__init__()
        check_activation(activation)
        if lam < 0:
            raise ConfigError(f"lam must be >= 0, got {lam!r}")
        self.modalities = list(dims)
        self.enc = nn.ModuleDict({m: nn.Linear(d, n_components, bias=False) for m, d in dims.items()})
        self.bias = nn.Parameter(torch.zeros(n_components))
        self.dec = nn.ModuleDict({m: nn.Linear(n_components, d) for m, d in dims.items()})
        self.f = activation_function(activation)
        self.lam = lam

    def _known(self, batch: Mapping[str, Tensor]) -> None:
        unknown = [m for m in batch if m not in self.enc]
        if unknown:
            raise ModalityError(f"unknown modality {unknown[0]!r}: this network was built for {self.modalities}")

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        """The shared code ``h`` of the modalities in ``batch`` ({m: (n, d_m)}), (n, k)."""
        self._known(batch)
        if not batch:
            raise ModalityError(f"the batch holds no modality; expected some of {self.modalities}")
        return self.f(sum(self.enc[m](x) for m, x in batch.items()) + self.bias)

    def pair_loss(self, pair: Mapping[str, Tensor]) -> Tensor:
        """CorrNet's loss on ``{m1: (n, d_1), m2: (n, d_2)}``, row i of each a pair: both
        views reconstructed from each alone and from both, minus ``lam`` times the correlation."""
        if len(pair) != 2:
            raise ModalityError(f"pair_loss takes exactly 2 modalities, got {list(pair)}")
        (m1, x1), (m2, x2) = pair.items()
        h1, h2, h12 = self({m1: x1}), self({m2: x2}), self({m1: x1, m2: x2})
        rec = sum(((self.dec[m](h) - x) ** 2).sum(1).mean() for h in (h1, h2, h12) for m, x in ((m1, x1), (m2, x2)))
        return rec - self.lam * corrnet_correlation(h1, h2)

    def loss(self, batch: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None) -> Tensor:
        """Sum of :meth:`pair_loss` over every pair of modalities in ``batch``, on
        the rows where both are present (``present``: {m: (n,) bool}; None: all
        rows); a pair present in fewer than 2 rows is skipped."""
        self._known(batch)
        names = [m for m in self.modalities if m in batch]
        total = self.bias.sum() * 0.0  # a graph-connected zero when no pair has 2 rows in this batch
        for m1, m2 in combinations(names, 2):
            if present is None:
                total = total + self.pair_loss({m1: batch[m1], m2: batch[m2]})
                continue
            both = present[m1] & present[m2]
            if int(both.sum()) >= 2:
                total = total + self.pair_loss({m1: batch[m1][both], m2: batch[m2][both]})
        return total


class _CorrNetEstimator(TransformerMixin, BaseEstimator):
    """Shared estimator of :class:`CorrNet` and :class:`BridgeCorrNet`."""

    _multiview: ClassVar[bool] = True  # fit([X1, X2, ...]); checked through ColumnBlocks (two views)
    _test_params: ClassVar[dict] = {"n_components": 2, "max_epochs": 2, "batch_size": 16}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}
    _n_views: ClassVar[int | None] = None
    _allow_missing: ClassVar[bool] = True

    def __init__(self, n_components: int = 50, lam: float = 2.0, activation: str = "sigmoid", max_epochs: int = 100,
                 lr: float = 1e-3, batch_size: int = 64, weight_decay: float = 0.0, random_state: Any = 0,
                 device: str = "cpu", verbose: bool = False) -> None:
        self.n_components = n_components
        self.lam = lam
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_missing  # an absent view: a whole NaN row (partial NaN refused)
        return tags

    def _check_params(self) -> None:
        check_activation(self.activation)
        for name in ("n_components", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {v!r}")
        if isinstance(self.max_epochs, bool) or not isinstance(self.max_epochs, (int, np.integer)) or self.max_epochs < 0:
            raise ConfigError(f"max_epochs must be an int >= 0, got {self.max_epochs!r}")
        if not self.lr > 0 or not self.lam >= 0:
            raise ConfigError(f"need lr > 0 and lam >= 0, got {self.lr!r} and {self.lam!r}")

    def _check_pairs(self, present: np.ndarray) -> None:
        """Every row a pair or more; every view paired; the views linked through pairs."""
        lone = np.flatnonzero(present.sum(1) < 2)
        if len(lone):
            raise ModalityError(f"row {lone[0]} holds {int(present[lone[0]].sum())} view(s); every training row "
                                "needs at least 2 present views (a pair)")
        m = present.shape[1]
        group = list(range(m))  # union-find over the views that share >= 2 rows

        def root(i: int) -> int:
            while group[i] != i:
                i = group[i]
            return i

        for i, j in combinations(range(m), 2):
            if (present[:, i] & present[:, j]).sum() >= 2:
                group[root(i)] = root(j)
        if len({root(i) for i in range(m)}) > 1:
            parts = sorted({tuple(i for i in range(m) if root(i) == r) for r in map(root, range(m))})
            raise ModalityError(f"the views fall into groups never paired with each other ({parts}, by index, "
                                "counting pairs of at least 2 rows): they cannot meet in the common space")

    def fit(self, X: Any, y: Any = None) -> "_CorrNetEstimator":
        """Train on the views ``X = [X_0 (n, d_0), X_1 (n, d_1), ...]`` (row i of each: one sample)."""
        self._check_params()
        views, present = _check_views(X, type(self).__name__, self._n_views, self._allow_missing)
        n = len(views[0])
        if n < 2:
            raise ShapeError(f"{type(self).__name__} needs at least 2 samples; got n_samples = {n}")
        self._check_pairs(present)
        self.mean_ = [v[p].mean(0) for v, p in zip(views, present.T)]
        self.scale_ = [v[p].std(0) + 1e-8 for v, p in zip(views, present.T)]
        self.n_features_per_view_ = [v.shape[1] for v in views]
        names = [f"view{i}" for i in range(len(views))]
        seed = seed_from(self.random_state)
        with seeded(seed):
            net = CorrNetNetwork(dict(zip(names, self.n_features_per_view_)), int(self.n_components),
                                 self.activation, self.lam)
        data = [torch.as_tensor(np.nan_to_num((v - mu) / s), dtype=torch.float32)
                for v, mu, s in zip(views, self.mean_, self.scale_)]
        if present.all():
            loss = lambda net, b: net.loss(dict(zip(names, b)))  # noqa: E731
        else:
            data.append(torch.as_tensor(present))
            loss = lambda net, b: net.loss(dict(zip(names, b[:-1])), dict(zip(names, b[-1].T)))  # noqa: E731
        curve: list[float] = []
        if self.max_epochs > 0:
            curve = train_network(net, loss, data, max_epochs=int(self.max_epochs), lr=self.lr,
                                  batch_size=int(self.batch_size), weight_decay=self.weight_decay, random_state=seed,
                                  device=self.device, verbose=self.verbose, min_batch=2,
                                  desc=type(self).__name__).train_loss
        # trained in float32, applied in float64: an output row then does not depend (by float32
        # rounding, ~1e-7) on which other rows share its batch
        self.network_ = net.to(resolve_device(self.device)).double().eval()
        self.loss_curve_, self.n_epochs_ = curve, len(curve)
        self.view_centers_ = np.stack([self._encode(v[p], i).mean(0) for i, (v, p) in enumerate(zip(views, present.T))])
        return self

    @torch.no_grad()
    def _encode(self, X: np.ndarray, i: int) -> np.ndarray:
        dev = next(self.network_.parameters()).device
        x = torch.as_tensor((X - self.mean_[i]) / self.scale_[i], dtype=torch.float64, device=dev)
        return self.network_({f"view{i}": x}).cpu().numpy()

    def transform_view(self, X: Any, view: int) -> np.ndarray:
        """``h(x)``: rows ``X`` (n, d_view) of view ``view`` alone in the common space, (n, n_components)."""
        check_is_fitted(self, "network_")
        i = _view_index(view, len(self.mean_))
        X = _array(X, f"views[{i}]", self.n_features_per_view_[i])
        if np.isnan(X).any():
            raise ShapeError(f"views[{i}]: contains NaN")
        return self._encode(X, i)

    def transform(self, X: Any) -> list[np.ndarray]:
        """Each view alone in the common space, ``[h(X_0), h(X_1), ...]``, each (n, n_components);
        rows where a view is absent (NaN) are NaN."""
        check_is_fitted(self, "network_")
        views, present = _check_views(X, type(self).__name__, len(self.mean_), self._allow_missing,
                                      dims=self.n_features_per_view_)
        out = []
        for i, (v, p) in enumerate(zip(views, present.T)):
            h = np.full((len(v), int(self.n_components)), np.nan)
            h[p] = self._encode(v[p], i)
            out.append(h)
        return out

    def similarity(self, X_from: Any, X_to: Any, views: tuple[int, int] = (0, -1)) -> np.ndarray:
        """Cosine similarity, in the common space, of every row of view ``views[0]``
        (``X_from``) to every row of view ``views[1]`` (``X_to``), (n_from, n_to);
        codes centred on the mean of the two views' mean training codes."""
        a, b = self.transform_view(X_from, views[0]), self.transform_view(X_to, views[1])
        m = len(self.mean_)
        center = (self.view_centers_[_view_index(views[0], m)] + self.view_centers_[_view_index(views[1], m)]) / 2
        return _cosine(a - center, b - center)


class CorrNet(_CorrNetEstimator):
    """Correlational neural network on parallel pairs ``[A, B]`` (Chandar,
    Khapra, Larochelle & Ravindran, Neural Computation 2016):

    .. math:: \\min \\sum_i \\sum_{h \\in \\{h(a_i), h(b_i), h(a_i, b_i)\\}} \\|a_i - g_A(h)\\|^2 + \\|b_i - g_B(h)\\|^2
              \\; - \\lambda \\operatorname{corr}(h(A), h(B))

    with :math:`h(a, b) = f(W a + V b + c)` (a missing view contributes 0),
    linear decoders (:class:`CorrNetNetwork`), :func:`corrnet_correlation`
    over each minibatch, Adam through
    :func:`~polymodal.training.estimator_loop.train_network`; views are
    z-scored with their training statistics. Here the upper bound for
    :class:`BridgeCorrNet` (it sees the pairs the bridge never sees).

    Parameters
    ----------
    n_components : int, hidden size; lam : float, weight of the correlation;
    activation : "sigmoid" (paper), "tanh", "relu" or "identity";
    max_epochs (0: the untrained network), lr, batch_size, weight_decay : Adam settings;
    random_state : int, RandomState or None (initialisation and shuffling); device : str;
    verbose : bool, progress bar

    ``fit(X)``: ``X = [A (n, d_a), B (n, d_b)]``, complete pairs. ``transform(X)``:
    ``[h(A), h(B)]``; ``transform_view(A, 0)``; ``similarity(A, B)`` (cosine,
    centred on the mean training code).

    Attributes
    ----------
    network_ : CorrNetNetwork (modalities "view0", "view1"); mean_, scale_ : per-view
    z-scoring; view_centers_ : (2, n_components) mean training codes;
    loss_curve_ : mean training loss per epoch; n_epochs_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 2))
    >>> net = CorrNet(n_components=2, max_epochs=30, lr=1e-2).fit([Z @ rng.normal(size=(2, 5)), Z @ rng.normal(size=(2, 4))])
    >>> net.transform_view(np.zeros((3, 5)), 0).shape
    (3, 2)
    """

    _n_views: ClassVar[int | None] = 2
    _allow_missing: ClassVar[bool] = False


class BridgeCorrNet(_CorrNetEstimator):
    """Bridge correlational neural network (Rajendran, Khapra, Chandar &
    Ravindran, "Bridge Correlational Neural Networks for Multilingual
    Multimodal Representation Learning", NAACL 2016): views A and B are never
    seen together; each is paired with a pivot P in *disjoint* sets, and one
    encoder :math:`h(a, p, b) = f(W_A a + W_P p + W_B b + c)` with decoders for
    all three views is trained on both sets (paper Eq. 1):

    .. math:: \\sum_{(a, p)} \\sum_{h \\in \\{h(a), h(p), h(a, p)\\}} \\|a - g_A(h)\\|^2 + \\|p - g_P(h)\\|^2
              - \\lambda \\operatorname{corr}(h(A), h(P_A))
              \\; + \\sum_{(p, b)} [\\text{the same for } (p, b)]

    (only the views present in a pair are reconstructed). A and B then meet in
    the common space through the shared pivot; the reconstruction and
    correlation terms are those of :class:`CorrNet`. :class:`PivotBridge` is
    the linear baseline.

    ``fit(X)``: ``X = [A, P, B]`` row-aligned, a whole NaN row where a view is
    absent (:func:`pivot_views` stacks the two paired sets). More generally any
    ``m >= 2`` views: :meth:`CorrNetNetwork.loss` sums the pair loss over every
    pair of views on the rows where both are present (the paper's objective
    when each row holds one pair; a row holding three views adds its three
    pairs, an extension). Each row must hold at least 2 views and the views
    must be linked through pairs. A minibatch is ``batch_size`` rows of the
    stacked sets (the paper's sets, shuffled together).

    Parameters and attributes as :class:`CorrNet`; ``transform(X)``:
    ``[h(A), h(P), h(B)]`` (absent rows NaN); ``transform_view(X_i, i)``;
    ``similarity(A, B)`` = ``similarity(A, B, views=(0, -1))`` (cosine,
    centred on the mean of A's and B's mean training codes).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 2)); Ma, Mb, Mp = (rng.normal(size=(2, k)) for k in (4, 5, 6))
    >>> X = pivot_views(Z[:100] @ Ma, Z[:100] @ Mp, Z[100:] @ Mb, Z[100:] @ Mp)
    >>> net = BridgeCorrNet(n_components=2, max_epochs=5).fit(X)
    >>> net.similarity(Z[:3] @ Ma, Z[:4] @ Mb).shape
    (3, 4)
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = _PARTIAL_NAN
