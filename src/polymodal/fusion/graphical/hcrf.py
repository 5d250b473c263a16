"""Hidden CRF (Quattoni et al. 2007) and multi-view hidden CRF (Song, Morency
& Davis, CVPR 2012): exact on the joint latent state space, or loopy belief
propagation with the Bethe log-partition when that space is too large."""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.fusion.graphical._bp import BetheResult, bethe_log_partition
from polymodal.fusion.graphical._crf import crf_log_partition, fit_lbfgs, pad_views

MV_HCRF_TOPOLOGIES = ("linked", "coupled")
MV_HCRF_INFERENCE = ("exact", "loopy", "auto")


class MultiViewHCRF(nn.Module):
    """Multi-view hidden CRF: one latent chain per view, a sequence label y.

    Song, Morency & Davis, "Multi-view latent variable discriminative models
    for action recognition", CVPR 2012. With ``h = (h^1..h^V)``:

    .. math:: p(y \\mid x) = \\frac{\\sum_h e^{\\psi(y, h, x)}}{\\sum_{y', h} e^{\\psi(y', h, x)}},\\quad
        \\psi = \\sum_{t,v} \\big(\\theta^v_{h^v_t} \\cdot x^v_t + \\theta^v_{y h^v_t}\\big)
        + \\sum_{t>1, v} \\theta^{vv}_{y h^v_{t-1} h^v_t} + \\text{cross-view edges}

    cross-view edges: ``"linked"`` ``sum_{t, v<w} theta^{vw}_{y h^v_t h^w_t}`` (same step);
    ``"coupled"`` ``sum_{t>1, v!=w} theta^{vw}_{y h^v_{t-1} h^w_t}`` (next step).
    One view is the HCRF of Quattoni, Wang, Morency, Collins & Darrell (PAMI
    2007). ``forward`` returns the class scores ``log Z_y = log sum_h exp
    psi(y, h, x)`` so ``cross_entropy`` is the negative conditional log-likelihood.

    Inference (``inference=``):

    - ``"exact"``: the forward algorithm on the ``S = prod_v H_v`` joint latent
      states, O(T Y S^2); refused when ``S > max_joint_states``.
    - ``"loopy"``: sum-product loopy belief propagation in log space on the
      graph of the view chains and their cross-view edges (the approximate
      inference of Song et al. for these loopy topologies), O(T Y sum_edges
      H_v H_w) per sweep. ``log Z_y`` is the Bethe approximation; its
      gradient is taken *through the beliefs*: BP runs without autograd and
      the Bethe free energy is evaluated with the beliefs held fixed, so the
      gradient is the belief-weighted feature expectation (exact for the Bethe
      objective at a BP fixed point, exact outright on trees: one view, or two
      linked views with T = 1). Prediction is the argmax of the Bethe class
      scores (marginal decoding of y). Sweeps: at most ``bp_iters``, damping
      ``bp_damping``, stop when no log-message changes by more than ``bp_tol``.
      Accurate for weak cross-view coupling (log Z within 1e-3 at coupling
      0.1 in the tests). Strong coupling gives BP several fixed points, and a
      sweep that starts with one view commits that chain to its own preferred
      states before any cross-view message arrives, a fixed point whose Bethe
      log Z can be tens of nats below the exact one. So BP runs in both view
      orders (``bp_orders=2``, twice the cost) and keeps, per sample and class,
      the fixed point of larger Bethe log Z (lower Bethe free energy): on the
      XOR interaction task with the exact-trained parameters (coupled, 3
      states/view, 400 test sequences) one order gives 0.78 test accuracy and
      a class-0 log Z error of -8.2 nats on average (-41.5 at worst), both
      orders 0.995 (exact: 0.995) and -0.32 (-11.9). A heuristic, not a
      guarantee (all orders can start in the same poor mode). Loopy training
      started from the exact-trained parameters keeps 0.995 (30 L-BFGS
      iterations; with one order it fell to 0.448), but training *from
      scratch* with loopy inference stays far behind on that task
      (``benchmarks/bench_graphical.py --loopy``: 0.710 against 0.995 exact):
      L-BFGS stalls at a training NLL of ~200 nats (exact: 19 after 100
      iterations). Near that point 50 sweeps do not converge (largest message
      change 0.43) and the belief gradient is then *not* the derivative of the
      computed value (finite differences differ, even in sign); with 500
      sweeps BP converges and they agree, yet training stalls the same way
      (0.700; 300 L-BFGS iterations: 0.723): the gradient is not the cause;
      whether it is a poor local optimum of the Bethe objective or its jumps
      between BP fixed points as the parameters move is not established.
    - ``"auto"``: exact when ``S <= max_joint_states``, loopy otherwise.

    Parameters
    ----------
    in_features : dict view -> d_v
    n_classes : int
    n_hidden : int or dict view -> H_v (latent states per view)
    topology : "linked" or "coupled"
    max_joint_states : largest joint latent space for exact inference (O(T Y S^2))
    random_state : seed of the initial parameters (N(0, 0.1^2))
    inference : "exact", "loopy" or "auto" (above)
    bp_iters, bp_damping, bp_tol, bp_orders : loopy BP settings (above)

    Examples
    --------
    >>> m = MultiViewHCRF({"a": 2, "b": 3}, n_classes=2, n_hidden=2)
    >>> m({"a": torch.zeros(4, 5, 2), "b": torch.zeros(4, 5, 3)}).shape
    torch.Size([4, 2])
    >>> big = MultiViewHCRF({"a": 2, "b": 3, "c": 1}, 2, n_hidden=16, inference="auto")  # 4096 joint states
    >>> big.uses_loopy, big({"a": torch.zeros(1, 5, 2), "b": torch.zeros(1, 5, 3), "c": torch.zeros(1, 5, 1)}).shape
    (True, torch.Size([1, 2]))
    """

    def __init__(self, in_features: dict[str, int], n_classes: int, n_hidden: int | dict[str, int] = 3,
                 topology: str = "linked", max_joint_states: int = 1024, random_state: int = 0,
                 inference: str = "exact", bp_iters: int = 50, bp_damping: float = 0.25, bp_tol: float = 1e-5,
                 bp_orders: int = 2) -> None:
        super().__init__()
        if topology not in MV_HCRF_TOPOLOGIES:
            raise ConfigError(f"topology must be one of {MV_HCRF_TOPOLOGIES}, got {topology!r}")
        if inference not in MV_HCRF_INFERENCE:
            raise ConfigError(f"inference must be one of {MV_HCRF_INFERENCE}, got {inference!r}")
        if not 0.0 <= bp_damping < 1.0:
            raise ConfigError(f"bp_damping must be in [0, 1), got {bp_damping}")
        if bp_orders not in (1, 2):
            raise ConfigError(f"bp_orders must be 1 or 2, got {bp_orders}")
        self.inference = inference
        self.bp_iters, self.bp_damping, self.bp_tol = int(bp_iters), float(bp_damping), float(bp_tol)
        self.bp_orders = int(bp_orders)
        self.views = list(in_features)
        self.topology = topology
        self.n_classes = n_classes
        self.n_hidden = {v: int(n_hidden if isinstance(n_hidden, int) else n_hidden[v]) for v in self.views}
        sizes = [self.n_hidden[v] for v in self.views]
        S = int(np.prod(sizes))
        self.n_joint_states, self.max_joint_states = S, int(max_joint_states)
        if S > max_joint_states and inference == "exact":
            raise ConfigError(f"prod of n_hidden = {S} joint latent states exceeds max_joint_states={max_joint_states} "
                              "for inference='exact'; use inference='loopy' or 'auto'")
        digits = list(itertools.product(*[range(k) for k in sizes])) if S <= max_joint_states else []
        self.register_buffer("digits", torch.tensor(digits, dtype=torch.long).view(-1, len(sizes)), False)
        g = torch.Generator().manual_seed(random_state)
        p = lambda *s: nn.Parameter(0.1 * torch.randn(*s, generator=g))  # noqa: E731
        self.obs = nn.ParameterDict({v: p(self.n_hidden[v], d) for v, d in in_features.items()})
        self.label = nn.ParameterDict({v: p(n_classes, self.n_hidden[v]) for v in self.views})
        self.within = nn.ParameterDict({v: p(n_classes, self.n_hidden[v], self.n_hidden[v]) for v in self.views})
        pairs = [(v, w) for v in self.views for w in self.views if (v < w if topology == "linked" else v != w)]
        self.pairs = pairs
        self.cross = nn.ParameterDict({f"{v}->{w}": p(n_classes, self.n_hidden[v], self.n_hidden[w]) for v, w in pairs})
        self.out_features = n_classes

    @property
    def uses_loopy(self) -> bool:
        """Whether ``forward`` runs loopy BP (``inference`` and the joint size)."""
        return self.inference == "loopy" or (self.inference == "auto" and self.n_joint_states > self.max_joint_states)

    def _idx(self, v: str) -> torch.Tensor:
        return self.digits[:, self.views.index(v)]

    def _check(self, x: dict[str, torch.Tensor]) -> None:
        missing = [v for v in self.views if v not in x]
        if missing:
            raise ModalityError(f"missing view(s) {missing}; expected {self.views}, got {list(x)}")
        B, T = x[self.views[0]].shape[:2]
        for v in self.views:
            xv = x[v]
            if xv.dim() != 3 or xv.shape[:2] != (B, T) or xv.shape[2] != self.obs[v].shape[1]:
                raise ShapeError(f"view {v!r}: expected (B={B}, T={T}, {self.obs[v].shape[1]}), got {tuple(xv.shape)}")
        if T == 0:
            raise ShapeError("empty sequence: expected T >= 1 steps, got 0")

    def joint_potentials(self, x: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Node (B, Y, T, S) and edge (Y, S, S) potentials on the joint latent space."""
        self._check(x)
        if self.n_joint_states > self.max_joint_states:
            raise ConfigError(f"joint potentials need S = {self.n_joint_states} <= max_joint_states="
                              f"{self.max_joint_states} joint latent states")
        node = 0.0
        trans = 0.0
        for v in self.views:
            xv = x[v]
            iv = self._idx(v)
            emis = (xv @ self.obs[v].T)[..., iv]  # (B, T, S)
            node = node + emis[:, None] + self.label[v][:, iv][None, :, None, :]
            trans = trans + self.within[v][:, iv[:, None], iv[None, :]]
        for v, w in self.pairs:
            iv, iw = self._idx(v), self._idx(w)
            table = self.cross[f"{v}->{w}"]
            if self.topology == "linked":
                node = node + table[:, iv, iw][None, :, None, :]
            else:
                trans = trans + table[:, iv[:, None], iw[None, :]]
        return node, trans

    def bethe(self, x: dict[str, torch.Tensor], lengths: torch.Tensor | None = None) -> BetheResult:
        """Loopy BP on the view-chain graph: Bethe ``log Z_y`` (B, Y) and node
        beliefs per view (B, Y, T, H_v), in ``self.views`` order."""
        self._check(x)
        unary = [((x[v] @ self.obs[v].T)[:, None] + self.label[v][None, :, None, :]) for v in self.views]
        shift = 0 if self.topology == "linked" else 1
        edges = [(self.views.index(v), self.views.index(w), shift, self.cross[f"{v}->{w}"]) for v, w in self.pairs]
        return bethe_log_partition(unary, [self.within[v] for v in self.views], edges, lengths,
                                   self.bp_iters, self.bp_damping, self.bp_tol, self.bp_orders)

    def forward(self, x: dict[str, torch.Tensor], lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class scores ``log sum_h exp psi(y, h, x)``, (B, n_classes) (Bethe
        approximation when :attr:`uses_loopy`)."""
        if self.uses_loopy:
            return self.bethe(x, lengths).log_z
        node, trans = self.joint_potentials(x)
        return crf_log_partition(node, trans, lengths)

    def latent_marginals(self, x: dict[str, torch.Tensor], lengths: torch.Tensor | None = None
                         ) -> dict[str, torch.Tensor]:
        """``p(h^v_t = h | y, x)`` per view, (B, Y, T, H_v): exact (gradient of
        the forward log Z w.r.t. the joint node potentials, summed per view)
        or the loopy-BP beliefs."""
        if self.uses_loopy:
            return dict(zip(self.views, self.bethe(x, lengths).marginals))
        with torch.enable_grad():
            node, trans = self.joint_potentials(x)
            node = node.detach().requires_grad_(True)
            (marg,) = torch.autograd.grad(crf_log_partition(node, trans.detach(), lengths).sum(), node)
        out = {}
        for v in self.views:
            shape = marg.shape[:-1] + (self.n_hidden[v],)
            out[v] = marg.new_zeros(shape).index_add_(-1, self._idx(v), marg)
        return out

    def log_likelihood(self, x: dict[str, torch.Tensor], y: torch.Tensor, lengths: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Conditional log-likelihood ``log p(y | x)`` per sample (B,)."""
        s = self(x, lengths)
        return s.gather(1, y.view(-1, 1)).squeeze(1) - torch.logsumexp(s, 1)

    # -- scikit-learn-like convenience ----------------------------------------------
    def fit(self, X: Sequence[Any], y: Any, l2: float = 1e-2, max_iter: int = 100) -> "MultiViewHCRF":
        """Maximise ``sum_i log p(y_i | x_i) - l2/2 ||theta||^2`` with L-BFGS
        (full batch). ``X``: list of samples, dict view -> (T, d) array."""
        dtype = next(self.parameters()).dtype
        xs, lens = pad_views(X, self.views, dtype)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        if yt.shape[0] != lens.shape[0]:
            raise ShapeError(f"X has {lens.shape[0]} samples but y has {yt.shape[0]} labels")
        fit_lbfgs(self, lambda: -self.log_likelihood(xs, yt, lens).sum(), l2, max_iter)
        return self

    @torch.no_grad()
    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        xs, lens = pad_views(X, self.views, next(self.parameters()).dtype)
        return torch.softmax(self(xs, lens), 1).numpy()

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        return np.argmax(self.predict_proba(X), 1)


class HCRF(MultiViewHCRF):
    """Hidden CRF (Quattoni, Wang, Morency, Collins & Darrell, PAMI 2007):
    the one-view case of :class:`MultiViewHCRF`; input is a (B, T, d) tensor.

    .. math:: \\psi(y, h, x) = \\sum_t \\theta_{h_t} \\cdot x_t + \\theta_{y h_t} + \\sum_{t>1} \\theta_{y h_{t-1} h_t}

    >>> HCRF(3, n_classes=2, n_hidden=4)(torch.zeros(2, 6, 3)).shape
    torch.Size([2, 2])
    """

    def __init__(self, in_features: int, n_classes: int, n_hidden: int = 4, random_state: int = 0) -> None:
        super().__init__({"x": in_features}, n_classes, n_hidden, random_state=random_state)

    def forward(self, x: Any, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x if isinstance(x, dict) else {"x": x}, lengths)

    def log_likelihood(self, x: Any, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return super().log_likelihood(x if isinstance(x, dict) else {"x": x}, y, lengths)

    def fit(self, X: Sequence[Any], y: Any, l2: float = 1e-2, max_iter: int = 100) -> "HCRF":
        return super().fit([{"x": s} if not isinstance(s, dict) else s for s in X], y, l2, max_iter)

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        return super().predict_proba([{"x": s} if not isinstance(s, dict) else s for s in X])
