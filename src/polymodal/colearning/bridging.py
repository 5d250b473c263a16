"""Bridging two modalities that never co-occur through a pivot modality: a
linear ridge bridge and Bridge Correlational Neural Networks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from polymodal.core.activations import activation_function, check_activation
from polymodal.errors import ConfigError, ShapeError

__all__ = ["BridgeCorrNet", "CorrNet", "PivotBridge", "corrnet_correlation"]


def _ridge(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mx, my = X.mean(0), Y.mean(0)
    Xc = X - mx
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (Y - my))
    return W, mx, my


class PivotBridge:
    """Map modalities A and B into a pivot modality P from two *separate*
    parallel sets, (A, P) and (B, P), never (A, B); A and B then meet in P's
    space (retrieval, or a classifier trained on one used on the other).

    Bridge correlational / pivot-based learning (Rajendran, Khapra, Chandar &
    Ravindran, NAACL 2016; the "hybrid data" co-learning case of Baltrusaitis,
    Ahuja & Morency, TPAMI 2019). Each map is ridge regression onto the pivot:

    .. math:: W_A = \\arg\\min_W \\|(A - \\bar A) W - (P_A - \\bar P_A)\\|_F^2 + \\alpha \\|W\\|_F^2

    (and likewise ``W_B``); ``transform_a(A) = (A - \\bar A) W_A + \\bar P_A``.

    Parameters
    ----------
    alpha : float, ridge penalty

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(100, 3)); Ma, Mb, Mp = (rng.normal(size=(3, k)) for k in (4, 5, 6))
    >>> br = PivotBridge(alpha=1e-9).fit(Z[:50] @ Ma, Z[:50] @ Mp, Z[50:] @ Mb, Z[50:] @ Mp)
    >>> np.allclose(br.transform_a(Z @ Ma), br.transform_b(Z @ Mb))
    True
    """

    def __init__(self, alpha: float = 1e-3) -> None:
        self.alpha = alpha

    def fit(self, A: Any, P_a: Any, B: Any, P_b: Any) -> "PivotBridge":
        """A (n_a, d_a) paired with P_a (n_a, d_p); B (n_b, d_b) paired with P_b (n_b, d_p)."""
        A, P_a, B, P_b = (np.asarray(v, dtype=float) for v in (A, P_a, B, P_b))
        for name, X, P in (("A", A, P_a), ("B", B, P_b)):
            if X.ndim != 2 or P.ndim != 2 or X.shape[0] != P.shape[0]:
                raise ShapeError(f"{name} and its pivot rows must be paired 2-D arrays, got {X.shape} and {P.shape}")
        if P_a.shape[1] != P_b.shape[1]:
            raise ShapeError(f"both pivot sets must have the same features, got {P_a.shape[1]} and {P_b.shape[1]}")
        self.Wa_, self.ma_, self.pa_ = _ridge(A, P_a, self.alpha)
        self.Wb_, self.mb_, self.pb_ = _ridge(B, P_b, self.alpha)
        return self

    def _check(self, X: Any, W: np.ndarray, name: str) -> np.ndarray:
        if not hasattr(self, "Wa_"):
            raise ConfigError("PivotBridge is not fitted: call fit(A, P_a, B, P_b) first")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != W.shape[0]:
            raise ShapeError(f"{name}: expected (n, {W.shape[0]}), got {X.shape}")
        return X

    def transform_a(self, A: Any) -> np.ndarray:
        """A in the pivot space, (n, d_p)."""
        return (self._check(A, self.Wa_, "A") - self.ma_) @ self.Wa_ + self.pa_

    def transform_b(self, B: Any) -> np.ndarray:
        """B in the pivot space, (n, d_p)."""
        return (self._check(B, self.Wb_, "B") - self.mb_) @ self.Wb_ + self.pb_

    def similarity(self, A: Any, B: Any) -> np.ndarray:
        """Cosine similarity of every A row to every B row in the pivot space, (n_a, n_b)."""
        a, b = self.transform_a(A), self.transform_b(B)
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return a @ b.T


def corrnet_correlation(h1: torch.Tensor, h2: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CorrNet's correlation term (Chandar, Khapra, Larochelle & Ravindran,
    "Correlational Neural Networks", Neural Computation 2016, Eq. 2.3), summed
    over the hidden units as in their code:

    .. math:: \\operatorname{corr}(h(X), h(Y)) = \\sum_k \\frac{\\sum_i (h_{ik}(x_i) - \\bar h_k(X))(h_{ik}(y_i) - \\bar h_k(Y))}
              {\\sqrt{\\sum_i (h_{ik}(x_i) - \\bar h_k(X))^2 \\sum_i (h_{ik}(y_i) - \\bar h_k(Y))^2 + \\epsilon}}

    ``h1``, ``h2``: ``(n, k)`` hidden representations of the two views of ``n`` pairs.

    >>> h = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    >>> round(float(corrnet_correlation(h, 2 * h + 1)), 6)
    2.0
    """
    if h1.shape != h2.shape or h1.dim() != 2:
        raise ShapeError(f"corrnet_correlation needs two (n, k) tensors of one shape, got {tuple(h1.shape)} "
                         f"and {tuple(h2.shape)}")
    a, b = h1 - h1.mean(0), h2 - h2.mean(0)
    return ((a * b).sum(0) / torch.sqrt((a * a).sum(0) * (b * b).sum(0) + eps)).sum()


class _CorrNetModule(nn.Module):
    """``h(views) = f(sum_m W_m x_m + b)`` (absent views contribute nothing), ``g_m(h) = W'_m h + b'_m``."""

    def __init__(self, dims: dict[str, int], k: int, activation: str) -> None:
        super().__init__()
        self.enc = nn.ModuleDict({m: nn.Linear(d, k, bias=False) for m, d in dims.items()})
        self.bias = nn.Parameter(torch.zeros(k))
        self.dec = nn.ModuleDict({m: nn.Linear(k, d) for m, d in dims.items()})
        self.f = activation_function(activation)

    def encode(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.f(sum(self.enc[m](x) for m, x in views.items()) + self.bias)

    def pair_loss(self, m1: str, x1: torch.Tensor, m2: str, x2: torch.Tensor, lam: float) -> torch.Tensor:
        """Both views reconstructed from each view alone and from both, minus ``lam`` times the correlation."""
        h1, h2, h12 = self.encode({m1: x1}), self.encode({m2: x2}), self.encode({m1: x1, m2: x2})
        rec = sum(((self.dec[m](h) - x) ** 2).sum(1).mean() for h in (h1, h2, h12) for m, x in ((m1, x1), (m2, x2)))
        return rec - lam * corrnet_correlation(h1, h2)


class _CorrNetBase(BaseEstimator):
    _names: tuple[str, ...] = ()

    def __init__(self, n_components: int = 50, lam: float = 2.0, activation: str = "sigmoid", max_epochs: int = 100,
                 lr: float = 1e-3, batch_size: int = 64, weight_decay: float = 0.0, random_state: int | None = 0,
                 device: str = "cpu") -> None:
        self.n_components = n_components
        self.lam = lam
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        check_activation(self.activation)
        for name in ("n_components", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_epochs < 0 or self.lr <= 0 or self.lam < 0:
            raise ConfigError(f"need max_epochs >= 0, lr > 0 and lam >= 0, got {self.max_epochs}, {self.lr}, {self.lam}")

    @staticmethod
    def _array(X: Any, name: str, dim: int | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or (dim is not None and X.shape[1] != dim):
            want = f"(n, {dim})" if dim is not None else "a 2-D array (n, d)"
            raise ShapeError(f"{name}: expected {want}, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ShapeError(f"{name}: contains NaN or infinite values")
        return X

    def _train(self, data: dict[str, np.ndarray], pairs: list[tuple[str, np.ndarray, str, np.ndarray]]) -> None:
        """``data``: every array of each view (for the standardisation); ``pairs``: (view, rows, view, rows) sets."""
        self._check_params()
        self.mean_ = {m: np.concatenate(v).mean(0) for m, v in data.items()}
        self.scale_ = {m: np.concatenate(v).std(0) + 1e-8 for m, v in data.items()}
        self.n_features_ = {m: v[0].shape[1] for m, v in data.items()}
        dev = torch.device(self.device)
        torch.manual_seed(0 if self.random_state is None else self.random_state)
        gen = torch.Generator().manual_seed(0 if self.random_state is None else self.random_state)
        self.module_ = _CorrNetModule(self.n_features_, int(self.n_components), self.activation).to(dev)
        sets = [(m1, self._scaled(m1, x1), m2, self._scaled(m2, x2)) for m1, x1, m2, x2 in pairs]
        opt = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n_batches = max(-(-len(x1) // self.batch_size) for _, x1, _, _ in sets)
        self.loss_curve_ = []
        for _ in range(self.max_epochs):
            orders = [torch.randperm(len(x1), generator=gen).to(dev) for _, x1, _, _ in sets]
            total = 0.0
            for k in range(n_batches):
                loss = 0.0
                for (m1, x1, m2, x2), order in zip(sets, orders):  # one batch of every pair set per step
                    nb = -(-len(x1) // self.batch_size)
                    idx = order[(k % nb) * self.batch_size:(k % nb + 1) * self.batch_size]
                    if len(idx) > 1:
                        loss = loss + self.module_.pair_loss(m1, x1[idx], m2, x2[idx], self.lam)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            self.loss_curve_.append(total / n_batches)
        self.n_iter_ = self.max_epochs

    def _scaled(self, m: str, X: np.ndarray) -> torch.Tensor:
        z = (X - self.mean_[m]) / self.scale_[m]
        return torch.as_tensor(z, dtype=torch.float32, device=torch.device(self.device))

    def _transform(self, m: str, X: Any, name: str) -> np.ndarray:
        if not hasattr(self, "module_"):
            raise ConfigError(f"{type(self).__name__} is not fitted: call fit first")
        x = self._scaled(m, self._array(X, name, self.n_features_[m]))
        with torch.no_grad():
            return self.module_.encode({m: x}).cpu().numpy()

    def transform_a(self, A: Any) -> np.ndarray:
        """``h(a)``: view A alone in the common space, (n, n_components)."""
        return self._transform("a", A, "A")

    def transform_b(self, B: Any) -> np.ndarray:
        """``h(b)``: view B alone in the common space, (n, n_components)."""
        return self._transform("b", B, "B")

    def similarity(self, A: Any, B: Any) -> np.ndarray:
        """Cosine similarity of every A row to every B row in the common space, (n_a, n_b)."""
        a, b = self.transform_a(A), self.transform_b(B)
        a = a - self.center_
        b = b - self.center_
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return a @ b.T


class CorrNet(_CorrNetBase):
    """Correlational neural network on parallel pairs (A, B) (Chandar, Khapra,
    Larochelle & Ravindran, Neural Computation 2016):

    .. math:: \\min \\sum_i \\sum_{h \\in \\{h(a_i), h(b_i), h(a_i, b_i)\\}} \\|a_i - g_A(h)\\|^2 + \\|b_i - g_B(h)\\|^2
              \\; - \\lambda \\operatorname{corr}(h(A), h(B))

    with :math:`h(a, b) = f(W a + V b + c)` (a missing view contributes 0),
    linear decoders, :func:`corrnet_correlation` over each minibatch, Adam;
    views are z-scored with their training statistics. Here the upper bound
    for :class:`BridgeCorrNet` (it sees the pairs the bridge never sees).

    Parameters
    ----------
    n_components : int, hidden size; lam : float, weight of the correlation;
    activation : "sigmoid" (paper), "tanh", "relu" or "identity";
    max_epochs, lr, batch_size, weight_decay : Adam settings; random_state : int; device : str

    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 2))
    >>> net = CorrNet(n_components=2, max_epochs=30, lr=1e-2).fit(Z @ rng.normal(size=(2, 5)), Z @ rng.normal(size=(2, 4)))
    >>> net.transform_a(np.zeros((3, 5))).shape
    (3, 2)
    """

    def fit(self, A: Any, B: Any) -> "CorrNet":
        """A (n, d_a) and B (n, d_b), row i of each a pair."""
        A, B = self._array(A, "A"), self._array(B, "B")
        if len(A) != len(B):
            raise ShapeError(f"A and B must have one row per pair, got {len(A)} and {len(B)} rows")
        self._train({"a": [A], "b": [B]}, [("a", A, "b", B)])
        self.center_ = (self.transform_a(A).mean(0) + self.transform_b(B).mean(0)) / 2
        return self


class BridgeCorrNet(_CorrNetBase):
    """Bridge correlational neural network (Rajendran, Khapra, Chandar &
    Ravindran, "Bridge Correlational Neural Networks for Multilingual
    Multimodal Representation Learning", NAACL 2016): views A and B are never
    seen together; each is paired with a pivot P in *disjoint* sets, and one
    encoder :math:`h(a, p, b) = f(W_A a + W_P p + W_B b + c)` with decoders for
    all three views is trained on both sets (paper Eq. 1):

    .. math:: \\sum_{(a, p)} \\sum_{h \\in \\{h(a), h(p), h(a, p)\\}} \\|a - g_A(h)\\|^2 + \\|p - g_P(h)\\|^2
              - \\lambda \\operatorname{corr}(h(A), h(P_A))
              \\; + \\sum_{(p, b)} [\\text{the same for } (p, b)]

    (only the views present in a pair are reconstructed; each optimiser step
    takes one minibatch of each set). A and B then meet in the common space
    through the shared pivot; the paper's reconstruction and correlation terms
    are those of :class:`CorrNet`. :class:`PivotBridge` is the linear baseline.

    Parameters as :class:`CorrNet`. ``fit(A, P_a, B, P_b)`` as
    :meth:`PivotBridge.fit`; ``transform_a``, ``transform_b``, ``transform_pivot``,
    ``similarity(A, B)`` (cosine, centred on the mean training code).

    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 2)); Ma, Mb, Mp = (rng.normal(size=(2, k)) for k in (4, 5, 6))
    >>> net = BridgeCorrNet(n_components=2, max_epochs=5).fit(Z[:100] @ Ma, Z[:100] @ Mp, Z[100:] @ Mb, Z[100:] @ Mp)
    >>> net.similarity(Z[:3] @ Ma, Z[:4] @ Mb).shape
    (3, 4)
    """

    def fit(self, A: Any, P_a: Any, B: Any, P_b: Any) -> "BridgeCorrNet":
        """A (n_a, d_a) paired with P_a (n_a, d_p); B (n_b, d_b) paired with P_b (n_b, d_p)."""
        A, P_a, B, P_b = (self._array(X, name) for X, name in ((A, "A"), (P_a, "P_a"), (B, "B"), (P_b, "P_b")))
        for name, X, P in (("A", A, P_a), ("B", B, P_b)):
            if X.shape[0] != P.shape[0]:
                raise ShapeError(f"{name} and its pivot rows must be paired, got {X.shape[0]} and {P.shape[0]} rows")
        if P_a.shape[1] != P_b.shape[1]:
            raise ShapeError(f"both pivot sets must have the same features, got {P_a.shape[1]} and {P_b.shape[1]}")
        self._train({"a": [A], "pivot": [P_a, P_b], "b": [B]}, [("a", A, "pivot", P_a), ("pivot", P_b, "b", B)])
        self.center_ = (self.transform_a(A).mean(0) + self.transform_b(B).mean(0)) / 2
        return self

    def transform_pivot(self, P: Any) -> np.ndarray:
        """``h(p)``: the pivot alone in the common space, (n, n_components)."""
        return self._transform("pivot", P, "P")
