"""Hidden CRF (Quattoni et al. 2007) and multi-view hidden CRF (Song, Morency
& Davis, CVPR 2012): exact on the joint latent state space, or loopy belief
propagation with the Bethe log-partition when that space is too large.

The torch modules (:class:`MultiViewHCRFNetwork`, :class:`HCRFNetwork`) hold
the math and take tensors; the scikit-learn classifiers (:class:`MultiViewHCRF`,
:class:`HCRF`) take sequences and train them through the shared estimator loop."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.sparse import issparse
from sklearn.base import ClassifierMixin
from torch import nn

from polymodal.core.contract import checked_data
from polymodal.core.fitted import check_fitted
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.fusion.graphical._bp import BetheResult, bethe_log_partition
from polymodal.fusion.graphical._core import as_samples, is_table, validate_samples
from polymodal.fusion.graphical._crf import crf_log_partition
from polymodal.fusion.graphical._crf_estimator import (
    _CRFEstimatorBase, check_real, class_targets, pad,
)
from polymodal.training.estimator_loop import seed_from

MV_HCRF_TOPOLOGIES = ("linked", "coupled")
MV_HCRF_INFERENCE = ("exact", "loopy", "auto")


class MultiViewHCRFNetwork(nn.Module):
    """Multi-view hidden CRF (torch module): one latent chain per view, a sequence label y.

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
    random_state : int, seed of the initial parameters (N(0, 0.1^2))
    inference : "exact", "loopy" or "auto" (above)
    bp_iters, bp_damping, bp_tol, bp_orders : loopy BP settings (above)

    Examples
    --------
    >>> m = MultiViewHCRFNetwork({"a": 2, "b": 3}, n_classes=2, n_hidden=2)
    >>> m({"a": torch.zeros(4, 5, 2), "b": torch.zeros(4, 5, 3)}).shape
    torch.Size([4, 2])
    >>> big = MultiViewHCRFNetwork({"a": 2, "b": 3, "c": 1}, 2, n_hidden=16, inference="auto")  # 4096 joint states
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
        if min(self.n_hidden.values()) < 1:
            raise ConfigError(f"n_hidden must be >= 1 latent states per view, got {self.n_hidden}")
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


class HCRFNetwork(MultiViewHCRFNetwork):
    """Hidden CRF (torch module; Quattoni, Wang, Morency, Collins & Darrell,
    PAMI 2007): the one-view case of :class:`MultiViewHCRFNetwork`; input is a
    (B, T, d) tensor (or ``{"x": tensor}``).

    .. math:: \\psi(y, h, x) = \\sum_t \\theta_{h_t} \\cdot x_t + \\theta_{y h_t} + \\sum_{t>1} \\theta_{y h_{t-1} h_t}

    Examples
    --------
    >>> HCRFNetwork(3, n_classes=2, n_hidden=4)(torch.zeros(2, 6, 3)).shape
    torch.Size([2, 2])
    """

    def __init__(self, in_features: int, n_classes: int, n_hidden: int = 4, random_state: int = 0) -> None:
        super().__init__({"x": in_features}, n_classes, n_hidden, random_state=random_state)

    def forward(self, x: Any, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x if isinstance(x, dict) else {"x": x}, lengths)

    def log_likelihood(self, x: Any, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return super().log_likelihood(x if isinstance(x, dict) else {"x": x}, y, lengths)


class MultiViewHCRF(ClassifierMixin, _CRFEstimatorBase):
    """Multi-view hidden CRF classifier of multi-view sequences (scikit-learn estimator).

    Song, Morency & Davis, "Multi-view latent variable discriminative models
    for action recognition", CVPR 2012: the model of
    :class:`MultiViewHCRFNetwork` (one latent chain per view, ``"linked"`` or
    ``"coupled"`` cross-view edges, exact or loopy-BP inference), trained by
    maximising the penalised conditional log-likelihood

    .. math:: \\sum_i \\log p(y_i \\mid x_i) - \\frac{\\lambda}{2} \\lVert\\theta\\rVert^2

    through :func:`~polymodal.training.estimator_loop.train_network` (L-BFGS,
    one iteration per epoch, by default).

    ``X`` is a sequence of views ``[X1, X2, ...]`` (the multi-view convention),
    each a list of n (T_i, d_v) arrays, a 3-D array (n, T, d_v), or a 2-D array
    (n, d_v) of one-frame sequences; a dict view name -> view; a list of
    per-sample dicts view name -> (T_i, d_v); a ``MultimodalDataset`` or a
    ``Batch`` (its modalities are the views). The views of a sample have equal
    lengths. ``y``: one label per sequence (n,). A list of 2-D arrays is always
    read as views; one that looks like a one-view list of samples (``y`` has one
    label per array) is refused with a ShapeError, not read wrongly.

    Parameters
    ----------
    n_hidden : int, dict view -> int or sequence of int (by view position), default 3
        latent states per view
    topology : "linked" or "coupled"
    inference : "exact", "loopy" or "auto"; max_joint_states, bp_iters,
        bp_damping, bp_tol, bp_orders : as :class:`MultiViewHCRFNetwork`
    l2 : float, default 1e-2 — ``lambda`` of the objective
    max_epochs : int, default 100 — L-BFGS iterations (``optimizer="lbfgs"``) or epochs
    optimizer : "lbfgs" (full batch, strong-Wolfe line search, as the HCRF papers), "adam", "adamw", "sgd"
    lr : float, default 1.0 — L-BFGS's initial step scale, or the first-order learning rate
    max_fun : None or int — most objective evaluations of L-BFGS (line searches
        included); None: ``max_epochs * 5 // 4`` (torch's default)
    batch_size : None or int — minibatch rows of a first-order optimiser (L-BFGS: None)
    random_state : None, int or RandomState — the initial parameters (N(0, 0.1^2))
    device : "cpu", "cuda", "auto", ... — where it trains (the fitted network is kept on the CPU)
    verbose : bool — tqdm progress bar on stderr (when it is a TTY)

    Attributes
    ----------
    classes_ : (n_classes,) labels
    views_ : list of str — view names (``"view0"``, ... for an unnamed sequence of views)
    dims_ : dict view -> d_v
    network_ : MultiViewHCRFNetwork (float64, CPU)
    n_iter_ : int — optimiser iterations run (L-BFGS stops early once converged)
    loss_curve_ : list of float — objective per sample at each iteration/epoch

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(20) % 2
    >>> ramp = np.linspace(-1, 1, 8)[None, :, None]
    >>> a = rng.normal(scale=0.3, size=(20, 8, 1)) + ramp * (y == 0)[:, None, None]
    >>> b = rng.normal(scale=0.3, size=(20, 8, 1)) + ramp * (y == 1)[:, None, None]
    >>> clf = MultiViewHCRF(n_hidden=2, max_epochs=30, random_state=0).fit([a, b], y)
    >>> clf.score([a, b], y)
    1.0
    """

    _multiview: ClassVar[bool] = True  # fit([X1, X2], y); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"n_hidden": 3, "max_epochs": 10, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, n_hidden: Any = 3, topology: str = "linked", inference: str = "exact",
                 max_joint_states: int = 1024, bp_iters: int = 50, bp_damping: float = 0.25, bp_tol: float = 1e-5,
                 bp_orders: int = 2, l2: float = 1e-2, max_epochs: int = 100, optimizer: str = "lbfgs",
                 lr: float = 1.0, max_fun: int | None = None, batch_size: int | None = None, random_state=None,
                 device: str = "cpu", verbose: bool = False) -> None:
        self.n_hidden = n_hidden
        self.topology = topology
        self.inference = inference
        self.max_joint_states = max_joint_states
        self.bp_iters = bp_iters
        self.bp_damping = bp_damping
        self.bp_tol = bp_tol
        self.bp_orders = bp_orders
        self.l2 = l2
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.max_fun = max_fun
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _named_views(self, X: Any, reset: bool) -> tuple[list[str], list[dict]]:
        """Names and per-sample dicts view -> (T_i, d_v) array, for any accepted ``X``."""
        X = as_samples(X, None if reset else getattr(self, "views_", None))
        if isinstance(X, Mapping):
            names, views = [str(k) for k in X], list(X.values())
        elif isinstance(X, (list, tuple)) and len(X) and isinstance(X[0], Mapping):
            return list(X[0]), list(X)
        elif isinstance(X, (list, tuple)) and len(X) and not is_table(X):
            names = [f"view{i}" for i in range(len(X))]
            if not reset and len(X) == len(self.views_):
                names = list(self.views_)  # positional views take the fitted names
            views = list(X)
        else:
            raise ModalityError(f"{type(self).__name__} expects a sequence of views [X1, X2, ...] (or a dict "
                                f"view -> X_v, per-sample dicts, a MultimodalDataset); got {type(X).__name__}")
        per_view = []
        for name, v in zip(names, views):
            if issparse(v):
                raise ShapeError(f"view {name!r}: sparse input is not supported; pass a dense array")
            check_real(v, f"view {name!r}")
            if is_table(v):
                v = np.asarray(v, dtype=np.float64)
                per_view.append([v[i:i + 1] for i in range(v.shape[0])])  # one-frame sequences
            elif isinstance(v, np.ndarray) and v.ndim != 3:
                raise ShapeError(f"view {name!r}: expected a 3-D array (n, T, d), a 2-D array (n, d) or a list "
                                 f"of (T, d) arrays, got shape {v.shape}")
            else:
                per_view.append(list(v))
        counts = {name: len(v) for name, v in zip(names, per_view)}
        if len(set(counts.values())) > 1:
            raise ShapeError(f"views must hold the same number of samples, got {counts}")
        return names, [dict(zip(names, s)) for s in zip(*per_view)]

    def _inputs(self, X: Any, reset: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        names, samples = self._named_views(X, reset)
        if not reset:
            missing = [v for v in self.views_ if v not in names]
            extra = [v for v in names if v not in self.views_]
            if missing or extra:
                what = "; ".join(f"{k} view(s) {v}" for k, v in (("missing", missing), ("unknown", extra)) if v)
                raise ModalityError(f"{what}: {type(self).__name__} was fitted on views {self.views_}, got {names}")
            names = list(self.views_)
        if not samples:
            raise ShapeError("X must hold at least one sample, got 0 samples")
        dims = None if reset else [self.dims_[v] for v in names]
        if reset:
            first = samples[0]
            dims = [np.shape(first[v])[-1] if np.ndim(first[v]) == 2 else 0 for v in names]
        seqs = validate_samples(samples, names=names, dims=dims, synchronous=False)
        for i, s in enumerate(seqs):
            if len({len(a) for a in s}) > 1:
                raise ShapeError(f"sample {i}: views must have the same length, got "
                                 f"{ {v: len(a) for v, a in zip(names, s)} }")
        if reset:
            self.views_, self.dims_ = names, dict(zip(names, dims))
        padded = [pad([s[k] for s in seqs]) for k in range(len(names))]
        return {v: p[0] for v, p in zip(names, padded)}, padded[0][1]

    def _refuse_sample_list(self, X: Any, y: Any) -> None:
        """A list of 2-D arrays is a sequence of views (each (n, d_v), n one-frame sequences); the
        one-view list of n (T, d) samples looks the same. Refuse it when ``y`` has one label per
        list item (and not one per row of each item), or when both readings fit ``y``."""
        if not self._multiview or not isinstance(X, (list, tuple)) or len(X) < 2 or y is None or is_table(X) \
                or not all(isinstance(v, np.ndarray) and v.ndim == 2 for v in X):
            return
        rows = {len(v) for v in X}
        n_y = len(y) if hasattr(y, "__len__") else None
        if n_y == len(X) and (rows != {n_y} or len({v.shape for v in X}) == 1):
            hint = ("" if rows != {n_y} else
                    f" (ambiguous: each of the {len(X)} arrays also has {n_y} rows, as many as y)")
            raise ShapeError(f"X is a list of {len(X)} 2-D arrays and y has {n_y} labels, one per array: "
                             f"{type(self).__name__} reads a list as views [X1, X2, ...], each (n, d_v) of "
                             "one-frame sequences, not as a list of samples" + hint + "; pass one view of "
                             "sequences as [samples] (or HCRF), views as 3-D arrays (n, T, d_v) or a dict "
                             "view name -> view")

    def _network(self, n_classes: int, seed: int) -> MultiViewHCRFNetwork:
        h = self.n_hidden
        if not isinstance(h, (numbers.Integral, Mapping)):
            if len(h) != len(self.views_):
                raise ConfigError(f"n_hidden: {len(h)} values for {len(self.views_)} views")
            h = dict(zip(self.views_, h))
        if isinstance(h, Mapping) and any(v not in h for v in self.views_):
            raise ConfigError(f"n_hidden must name every view {self.views_}; got {sorted(h)}")
        return MultiViewHCRFNetwork(self.dims_, n_classes, h if isinstance(h, Mapping) else int(h), self.topology,
                                    self.max_joint_states, seed, self.inference, self.bp_iters, self.bp_damping,
                                    self.bp_tol, self.bp_orders)

    # ------------------------------------------------------------------ estimator API
    def fit(self, X: Any, y: Any = None) -> "MultiViewHCRF":
        """Train on the sequences ``X`` (see the class docstring) and their labels ``y`` (n,)."""
        self._check_training()
        self._refuse_sample_list(X, y)
        xs, lens = self._inputs(X, reset=True)
        y = class_targets(y, len(lens), type(self).__name__)
        self.classes_, yi = np.unique(y, return_inverse=True)
        seed = seed_from(self.random_state)
        net = self._network(len(self.classes_), seed).double()  # drawn in float32 as the modules always were
        names = list(xs)
        data = [*xs.values(), lens, torch.as_tensor(yi, dtype=torch.long)]

        def nll(m: nn.Module, b: list[torch.Tensor]) -> torch.Tensor:
            return -m.log_likelihood(dict(zip(names, b[:-2])), b[-1], b[-2])

        self._train(net, nll, data, seed)
        return self

    @torch.no_grad()
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log p(y | x)`` per class, (n, n_classes)."""
        check_fitted(self, "network_", "fit(X, y)")
        xs, lens = self._inputs(X, reset=False)
        return torch.log_softmax(self.network_(xs, lens), 1).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """``p(y | x)`` per class, (n, n_classes)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each sequence, (n,)."""
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]



class HCRF(MultiViewHCRF):
    """Hidden CRF classifier of sequences (scikit-learn estimator).

    Quattoni, Wang, Morency, Collins & Darrell, "Hidden conditional random
    fields", PAMI 2007: the one-view :class:`MultiViewHCRF` (model:
    :class:`HCRFNetwork`),

    .. math:: p(y \\mid x) \\propto \\sum_h \\exp\\Big(\\sum_t \\theta_{h_t} \\cdot x_t + \\theta_{y h_t}
        + \\sum_{t>1} \\theta_{y h_{t-1} h_t}\\Big),

    trained on ``sum_i log p(y_i | x_i) - l2/2 ||theta||^2`` (L-BFGS by default).

    ``X`` is a list of n (T_i, d) arrays, a 3-D array (n, T, d), a list of
    per-sample dicts stream -> (T_i, d_s) (concatenated frame-wise), a
    ``MultimodalDataset`` or a ``Batch``; a 2-D array (n, d) (scikit-learn's
    tabular input) is n one-frame sequences, as in :class:`HMMClassifier`.
    ``y``: one label per sequence (n,).

    Parameters
    ----------
    n_hidden : int, default 4 — latent states
    l2, max_epochs, optimizer, lr, max_fun, batch_size, random_state, device, verbose :
        training, as :class:`MultiViewHCRF`

    Attributes
    ----------
    classes_, network_ (HCRFNetwork), n_iter_, loss_curve_ : as :class:`MultiViewHCRF`
    n_features_in_ : int — d

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(20) % 2
    >>> X = rng.normal(scale=0.3, size=(20, 8, 1)) + np.linspace(-1, 1, 8)[None, :, None] * (2 * y - 1)[:, None, None]
    >>> HCRF(n_hidden=2, max_epochs=30, random_state=0).fit(X, y).score(X, y)
    1.0
    """

    _multiview: ClassVar[bool] = False
    _test_params: ClassVar[dict] = {"n_hidden": 3, "max_epochs": 10, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, n_hidden: int = 4, l2: float = 1e-2, max_epochs: int = 100, optimizer: str = "lbfgs",
                 lr: float = 1.0, max_fun: int | None = None, batch_size: int | None = None, random_state=None,
                 device: str = "cpu", verbose: bool = False) -> None:
        super().__init__(n_hidden=n_hidden, l2=l2, max_epochs=max_epochs, optimizer=optimizer, lr=lr,
                         max_fun=max_fun, batch_size=batch_size, random_state=random_state, device=device,
                         verbose=verbose)

    def _inputs(self, X: Any, reset: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if is_table(X):  # n one-frame sequences
            X = checked_data(self, X, reset=reset, dtype=np.float64)
            x, lens = torch.tensor(X)[:, None, :], torch.ones(X.shape[0], dtype=torch.long)
        else:
            seqs = self._same_width_sequences(X, reset)
            x, lens = pad(seqs)
        if reset:
            self.views_, self.dims_ = ["x"], {"x": x.shape[-1]}
        return {"x": x}, lens

    def _network(self, n_classes: int, seed: int) -> HCRFNetwork:
        if not isinstance(self.n_hidden, numbers.Integral):
            raise ConfigError(f"n_hidden must be an int >= 1; got {self.n_hidden!r}")
        return HCRFNetwork(self.n_features_in_, n_classes, int(self.n_hidden), seed)

