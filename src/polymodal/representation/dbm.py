"""Multimodal deep Boltzmann machine (Srivastava & Salakhutdinov, "Multimodal
Learning with Deep Boltzmann Machines", NeurIPS 2012; JMLR 2014): one
two-hidden-layer pathway per modality joined by a shared top layer, trained
jointly with mean-field inference and persistent Markov chains.

``MultimodalDBMNetwork`` is the torch module (``dict`` of modalities in);
``MultimodalDBM`` the scikit-learn estimator on a sequence of views."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation._named_views import fit_views, present_views, view_name
from polymodal.representation.rbm import BernoulliRBMNetwork, GaussianBernoulliRBMNetwork
from polymodal.training.estimator_loop import resolve_device, seed_from, train_network

__all__ = ["MultimodalDBM", "MultimodalDBMNetwork"]

_KINDS = ("gaussian", "bernoulli")
_MAX_ENUM = 22


class _Scaled:
    """Pretraining RBM whose bottom-up (``up``) or top-down (``down``) input is
    doubled: the "two copies" trick of Salakhutdinov & Hinton (AISTATS 2009)."""

    def __init__(self, n_visible: int, n_hidden: int, up: float, down: float, seed: int) -> None:
        super().__init__(n_visible, n_hidden, seed=seed)
        self.up, self.down = float(up), float(down)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up * (v @ self.W) + self.c)


class _ScaledBernoulliRBM(_Scaled, BernoulliRBMNetwork):
    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.down * (h @ self.W.T) + self.b)


class _ScaledGaussianRBM(_Scaled, GaussianBernoulliRBMNetwork):
    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return self.down * (h @ self.W.T) + self.b


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return (torch.special.entr(p) + torch.special.entr(1 - p)).sum(1)


class MultimodalDBMNetwork(nn.Module):
    """Multimodal deep Boltzmann machine with unit-variance Gaussian or
    Bernoulli visible units per modality (the torch module; :class:`MultimodalDBM`
    is the scikit-learn estimator that trains it).

    For modalities :math:`m` with visible :math:`v_m`, pathway layers
    :math:`h_m^{(1)}, \\dots, h_m^{(L)}` and a shared top layer :math:`h^{(J)}`
    (Srivastava & Salakhutdinov, NeurIPS 2012; JMLR 2014):

    .. math:: -E = \\sum_m \\Big[-\\varepsilon_m(v_m) + v_m^\\top W_m^{(1)} h_m^{(1)}
              + \\sum_{l<L} h_m^{(l)\\top} W_m^{(l+1)} h_m^{(l+1)} + h_m^{(L)\\top} W_m^{(J)} h^{(J)}
              + \\sum_l c_m^{(l)\\top} h_m^{(l)}\\Big] + c^{(J)\\top} h^{(J)}

    with :math:`\\varepsilon_m(v) = \\tfrac12\\|v - b_m\\|^2` (``"gaussian"``,
    standardised data, unit variance as in :class:`GaussianBernoulliRBMNetwork`) or
    :math:`-b_m^\\top v` (``"bernoulli"``, binary or [0, 1] data).

    Training (Salakhutdinov & Hinton, AISTATS 2009; Neural Computation 2012):
    :meth:`pretrain`, greedy CD-1 pretraining of one RBM per pair of adjacent
    layers, each unit that has neighbours on both sides in the DBM getting
    doubled input from its one RBM neighbour (bottom RBMs: doubled bottom-up;
    joint RBM: doubled top-down; middle RBMs, e.g. h1-h2: doubled both ways,
    our reading of the rule, i.e. halved weights once composed); then
    :meth:`train_joint`, stochastic approximation of :math:`\\nabla \\log p(v) =
    E_{p(h|v)}[-\\nabla E] - E_{p(v,h)}[-\\nabla E]`, the data term under the
    fully factorised mean-field posterior (coordinate ascent, one layer at a
    time) and the model term from ``n_chains`` persistent Gibbs chains
    (persistent CD, Tieleman 2008), ``n_gibbs`` sweeps per update.

    A missing modality is inferred by clamping the present ones and running
    mean-field (``generate(method="mean_field")``) or Gibbs sampling, averaging
    :math:`E[v_{missing} | h^{(1)}]` over the sweeps (``method="gibbs"``) over
    everything else. ``forward`` / :meth:`features` return the mean-field
    posterior of :math:`h^{(J)}` (the joint representation), optionally
    concatenated with every :math:`h_m^{(L)}` (``representation="joint+penultimate"``,
    the paper's features). Inputs are ``{modality: (n, d_m)}`` tensors or arrays;
    they follow the parameters' device and dtype.

    Parameters
    ----------
    in_features : dict[str, int]
    visible : dict[str, "gaussian" | "bernoulli"], default Gaussian for every modality
    hidden : dict[str, sequence of int] or sequence of int (pathway sizes; paper: two layers)
    joint : int, size of the shared layer (``out_features``)
    n_mean_field : int, default mean-field sweeps
    seed : int, seed of the initial weights (:meth:`reset_parameters`)
    dtype : torch dtype

    Examples
    --------
    >>> net = MultimodalDBMNetwork({"a": 4, "b": 3}, visible={"b": "bernoulli"}, hidden=[5, 4], joint=3)
    >>> x = {"a": torch.randn(6, 4), "b": torch.ones(6, 3)}
    >>> net(x).shape, net.generate({"a": x["a"]}, "b").shape
    (torch.Size([6, 3]), torch.Size([6, 3]))
    """

    def __init__(self, in_features: Mapping[str, int], visible: Mapping[str, str] | None = None,
                 hidden: Mapping[str, Sequence[int]] | Sequence[int] = (64, 64), joint: int = 64,
                 n_mean_field: int = 10, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if not in_features:
            raise ConfigError("in_features: a multimodal DBM needs at least one modality")
        self.in_features = {m: int(d) for m, d in in_features.items()}
        self.modalities = list(self.in_features)
        visible = dict(visible or {})
        for m, kind in visible.items():
            if m not in self.in_features:
                raise ModalityError(f"visible: unknown modality {m!r}; built for {self.modalities}")
            if kind not in _KINDS:
                raise ConfigError(f"visible[{m!r}] must be one of {_KINDS}, got {kind!r}")
        self.visible = {m: visible.get(m, "gaussian") for m in self.modalities}
        if isinstance(hidden, Mapping) and set(hidden) != set(self.modalities):
            raise ModalityError(f"hidden: expected sizes for exactly {self.modalities}, got {sorted(hidden)}")
        sizes = {m: [int(s) for s in (hidden[m] if isinstance(hidden, Mapping) else hidden)] for m in self.modalities}
        if any(not s or min(s) < 1 for s in sizes.values()) or joint < 1 or min(self.in_features.values()) < 1:
            raise ConfigError(f"hidden: each modality needs >= 1 layer of positive size and joint >= 1, got "
                              f"{sizes} and joint={joint}")
        if n_mean_field <= 0:
            raise ConfigError(f"n_mean_field must be > 0, got {n_mean_field}")
        self.hidden, self.joint, self.n_mean_field, self.seed = sizes, int(joint), int(n_mean_field), int(seed)
        # the graph: layers (name, size, kind, modality) and edges (lower, upper)
        self.layers: list[tuple[str, int, str, str | None]] = []
        self.edges: list[tuple[int, int]] = []
        tops = []
        for m in self.modalities:
            self.layers.append((m, self.in_features[m], self.visible[m], m))
            for k, s in enumerate(sizes[m]):
                self.layers.append((f"{m}/h{k + 1}", s, "bernoulli", m))
                self.edges.append((len(self.layers) - 2, len(self.layers) - 1))
            tops.append(len(self.layers) - 1)
        self.layers.append(("joint", self.joint, "bernoulli", None))
        self.edges += [(t, len(self.layers) - 1) for t in tops]
        self.top_index = len(self.layers) - 1
        self.visible_index = {name: i for i, (name, _, _, m) in enumerate(self.layers) if name == m}
        self.penultimate_index = tops
        self.W = nn.ParameterList([nn.Parameter(torch.empty(self.layers[lo][1], self.layers[up][1], dtype=dtype),
                                                requires_grad=False) for lo, up in self.edges])
        self.b = nn.ParameterList([nn.Parameter(torch.empty(s, dtype=dtype), requires_grad=False)
                                   for _, s, _, _ in self.layers])
        self.reset_parameters()
        self.neighbours: list[list[tuple[int, int, bool]]] = [[] for _ in self.layers]  # (edge, other, other_is_up)
        for e, (lo, up) in enumerate(self.edges):
            self.neighbours[lo].append((e, up, True))
            self.neighbours[up].append((e, lo, False))
        self.out_features = self.joint

    @property
    def device(self) -> torch.device:
        """The parameters' device (inputs, chains and draws follow it)."""
        return self.b[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.b[0].dtype

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Weights ~ N(0, 0.01^2) drawn (on the CPU) from ``seed``, biases 0; forgets the chains."""
        g = torch.Generator().manual_seed(self.seed)
        for W in self.W:
            W.copy_(0.01 * torch.randn(W.shape, generator=g, dtype=W.dtype, device="cpu"))
        for b in self.b:
            b.zero_()
        self.__dict__.pop("chains_", None)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean-field posterior of the shared layer ``(n, joint)`` (missing modalities inferred)."""
        return self.features(features)

    # -- conditionals and energies ---------------------------------------------------
    def _input(self, i: int, s: list, skip=lambda j, j_up: False) -> torch.Tensor:
        """Input to layer ``i`` from its neighbours (bias excluded), skipping those ``skip`` names."""
        a = 0.0
        for e, j, j_up in self.neighbours[i]:
            if not skip(j, j_up):
                a = a + (s[j] @ self.W[e].T if j_up else s[j] @ self.W[e])
        return a

    def _mean(self, i: int, s: list[torch.Tensor]) -> torch.Tensor:
        """:math:`E[x_i | \\text{neighbours}]`: ``b + input`` (Gaussian) or ``sigmoid(b + input)``."""
        a = self.b[i] + self._input(i, s)
        return a if self.layers[i][2] == "gaussian" else torch.sigmoid(a)

    def energy(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        """:math:`E(v, h)` per row for a full state, one tensor per layer in ``self.layers`` order, ``(n,)``.
        Multilinear in the binary layers, so it also gives :math:`E_q[E]` at mean-field means."""
        e = 0.0
        for i, (_, _, kind, _) in enumerate(self.layers):
            x = states[i]
            e = e + (0.5 * ((x - self.b[i]) ** 2).sum(1) if kind == "gaussian" else -(x @ self.b[i]))
        for k, (lo, up) in enumerate(self.edges):
            e = e - ((states[lo] @ self.W[k]) * states[up]).sum(1)
        return e

    def mean_field_free_energy(self, states: Sequence[torch.Tensor], visible_clamped: bool = True) -> torch.Tensor:
        """:math:`F_q = E_q[E(v, h)] - H(q)` for factorial Bernoulli means of the hidden layers,
        ``(n,)``; :math:`-F_q - \\log Z \\le \\log p(v)` (the ELBO)."""
        hid = [i for i, (_, _, _, m) in enumerate(self.layers) if not (visible_clamped and i in self._visible_set)]
        return self.energy(states) - sum(_entropy(states[i]) for i in hid)

    @property
    def _visible_set(self) -> set[int]:
        return set(self.visible_index.values())

    # -- data handling -----------------------------------------------------------------
    def _tensor(self, m: str, X) -> torch.Tensor:
        if m not in self.in_features:
            raise ModalityError(f"unknown modality {m!r}; built for {self.modalities}")
        if not isinstance(X, torch.Tensor):
            X = np.asarray(X)
            X = X if X.flags.writeable and min(X.strides, default=0) >= 0 else X.copy()  # torch: writable, no negative strides
        x = torch.as_tensor(X)
        x = x.to(device=self.device, dtype=self.dtype)
        if x.dim() != 2 or x.shape[1] != self.in_features[m]:
            raise ShapeError(f"modality {m!r}: expected shape (n, {self.in_features[m]}), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ShapeError(f"modality {m!r}: contains NaN or infinite values")
        if self.visible[m] == "bernoulli" and (x.min() < 0 or x.max() > 1):
            raise ShapeError(f"modality {m!r} is Bernoulli: values must lie in [0, 1], got range "
                             f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
        return x

    def _inputs(self, Xs: Mapping[str, object], need_all: bool = False) -> dict[str, torch.Tensor]:
        if not isinstance(Xs, Mapping):
            raise ModalityError(f"expected a mapping modality -> array for {self.modalities}, got {type(Xs).__name__}")
        out = {m: self._tensor(m, X) for m, X in Xs.items()}
        if need_all and set(out) != set(self.modalities):
            raise ModalityError(f"fit needs every modality {self.modalities}; missing "
                                f"{[m for m in self.modalities if m not in out]}")
        if not out:
            raise ModalityError(f"at least one of {self.modalities} must be given")
        n = {m: x.shape[0] for m, x in out.items()}
        if len(set(n.values())) > 1:
            raise ShapeError(f"modalities must have the same number of rows, got {n}")
        return out

    # -- inference -----------------------------------------------------------------------
    def _initial_state(self, xs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Clamped visibles; one bottom-up pass for the present pathways (input doubled below the
        top, Salakhutdinov & Hinton, Neural Computation 2012; the shared layer's input scaled by
        #modalities / #present); then one top-down pass (doubled) for the missing pathways."""
        s: list[torch.Tensor | None] = [None] * len(self.layers)
        for i, (_, _, _, m) in enumerate(self.layers):
            if m is None:
                present = lambda j, j_up: self.layers[j][3] not in xs  # noqa: E731  (skip missing pathways)
                scale = len(self.modalities) / len(xs)
                s[i] = torch.sigmoid(self.b[i] + scale * self._input(i, s, present))
            elif m in xs:
                s[i] = xs[m] if i == self.visible_index[m] else \
                    torch.sigmoid(self.b[i] + 2 * self._input(i, s, lambda j, j_up: j_up))
        for i in reversed(range(len(self.layers))):
            m = self.layers[i][3]
            if m is not None and m not in xs:
                a = self.b[i] + (1 if i in self._visible_set else 2) * self._input(i, s, lambda j, j_up: not j_up)
                s[i] = a if self.layers[i][2] == "gaussian" else torch.sigmoid(a)
        return s

    @torch.no_grad()
    def mean_field(self, Xs: Mapping[str, object] | dict[str, torch.Tensor], n_iter: int | None = None,
                   state: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Mean-field means of every layer (``self.layers`` order) with the given modalities clamped:
        ``n_iter`` sweeps of the coordinate-ascent update :math:`\\mu_i \\leftarrow E[x_i | \\mu_{\\text{neighbours}}]`
        (each sweep cannot decrease the ELBO). A missing Gaussian modality gets the optimal
        factor :math:`N(\\mu_i, I)`, of which the mean is returned."""
        return self._mean_field(self._inputs(Xs), n_iter, state)

    def _mean_field(self, xs: dict[str, torch.Tensor], n_iter: int | None = None, state=None) -> list[torch.Tensor]:
        s = list(state) if state is not None else self._initial_state(xs)
        clamped = {self.visible_index[m] for m in xs}
        free = [i for i in range(len(self.layers)) if i not in clamped]
        for _ in range(self.n_mean_field if n_iter is None else n_iter):
            for i in free:
                s[i] = self._mean(i, s)
        return s

    def _sample(self, i: int, s: list[torch.Tensor], g: torch.Generator) -> torch.Tensor:
        mean = self._mean(i, s)
        noise = torch.rand if self.layers[i][2] == "bernoulli" else torch.randn
        r = noise(mean.shape, generator=g, dtype=mean.dtype, device="cpu").to(self.device)
        return (r < mean).to(mean.dtype) if self.layers[i][2] == "bernoulli" else mean + r

    def _gibbs(self, s: list[torch.Tensor], clamped: set[int], g: torch.Generator) -> list[torch.Tensor]:
        """One sequential Gibbs sweep over the unclamped layers."""
        s = list(s)
        for i in range(len(self.layers)):
            if i not in clamped:
                s[i] = self._sample(i, s, g)
        return s

    # -- gradient ----------------------------------------------------------------------
    def _stats(self, s: Sequence[torch.Tensor], weights: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Expected :math:`-\\nabla_\\theta E` over rows (``weights`` summing to one, uniform if None),
        in the order ``[*W, *b]``."""
        ref = next(x for x in s if x is not None)
        w = torch.full((ref.shape[0],), 1.0 / ref.shape[0], dtype=ref.dtype, device=ref.device) \
            if weights is None else weights
        out = [torch.zeros_like(W) if s[lo] is None else s[lo].T @ (w[:, None] * s[up])
               for W, (lo, up) in zip(self.W, self.edges)]
        for i, (_, _, kind, _) in enumerate(self.layers):  # None: filled in by the caller
            out.append(torch.zeros_like(self.b[i]) if s[i] is None else
                       w @ (s[i] - self.b[i] if kind == "gaussian" else s[i]))
        return out

    @torch.no_grad()
    def gradient(self, Xs: Mapping[str, object], data_term: str = "mean_field", model_term: str = "pcd",
                 n_gibbs: int = 1, n_chains: int = 100, seed: int = 0) -> list[torch.Tensor]:
        """Estimate of :math:`\\nabla \\frac1n\\sum \\log p(v)` for ``[*W, *b]`` (no weight decay):
        data term by ``"mean_field"`` or ``"exact"`` enumeration, model term by ``"pcd"``
        (advances ``chains_`` ``n_gibbs`` sweeps; ``n_chains`` of them started from the data
        on the first call) or ``"exact"`` enumeration (tiny models)."""
        xs = self._inputs(Xs, need_all=True)
        if data_term == "mean_field":
            data = self._stats(self._mean_field(xs))
        elif data_term == "exact":
            data = self._exact_data_stats(xs)
        else:
            raise ConfigError(f"data_term must be 'mean_field' or 'exact', got {data_term!r}")
        if model_term == "pcd":
            g = torch.Generator().manual_seed(seed)
            if getattr(self, "chains_", None) is None:
                self.chains_ = self._init_chains(xs, g, n_chains)
            for _ in range(n_gibbs):
                self.chains_ = self._gibbs(self.chains_, set(), g)
            model = self._stats(self.chains_)
        elif model_term == "exact":
            model = self._exact_model_stats()
        else:
            raise ConfigError(f"model_term must be 'pcd' or 'exact', got {model_term!r}")
        return [d - m for d, m in zip(data, model)]

    def _init_chains(self, xs: dict[str, torch.Tensor], g: torch.Generator, n_chains: int) -> list[torch.Tensor]:
        if n_chains <= 0:
            raise ConfigError(f"n_chains must be > 0, got {n_chains}")
        n = next(iter(xs.values())).shape[0]
        rows = torch.randint(n, (n_chains,), generator=g, device="cpu").to(self.device)
        mu = self._mean_field({m: x[rows] for m, x in xs.items()})
        return [x if i in self._visible_set else
                (torch.rand(x.shape, generator=g, dtype=x.dtype, device="cpu").to(self.device) < x).to(x.dtype)
                for i, x in enumerate(mu)]

    # -- training ----------------------------------------------------------------------
    @torch.no_grad()
    def pretrain(self, Xs: Mapping[str, object], max_epochs: int = 10, lr: float = 0.05, batch_size: int = 50,
                 weight_decay: float = 1e-4, verbose: bool = False) -> "MultimodalDBMNetwork":
        """Greedy layer-wise CD-1 pretraining (momentum 0.5; on the CPU, each RBM through the shared
        estimator loop, RBM ``k`` seeded ``seed + k``) with doubled inputs where the DBM unit has two
        neighbours; copies the RBMs' weights in. Every modality of ``Xs`` given."""
        xs = self._inputs(Xs, need_all=True)
        seed, tops, h = self.seed, [], None
        for lo, up in self.edges:
            if up == self.top_index:
                continue
            _, _, kind, m = self.layers[lo]
            x = xs[m].cpu() if lo == self.visible_index[m] else h  # h: the layer below's output
            cls = _ScaledGaussianRBM if kind == "gaussian" else _ScaledBernoulliRBM
            rbm = cls(self.layers[lo][1], self.layers[up][1], up=2.0, down=1.0 if lo == self.visible_index[m] else 2.0,
                      seed=seed + up)
            rbm.contrastive_divergence(x, max_epochs=max_epochs, lr=lr, batch_size=batch_size, momentum=0.5,
                                       weight_decay=weight_decay, seed=seed + up, verbose=verbose)
            self._copy(rbm, lo, up)
            h = rbm.hidden_probs(x.to(rbm.W.dtype))
            if up in self.penultimate_index:
                tops.append(h)
        v = torch.cat(tops, 1)
        rbm = _ScaledBernoulliRBM(v.shape[1], self.joint, up=1.0, down=2.0, seed=seed + self.top_index)
        rbm.contrastive_divergence(v, max_epochs=max_epochs, lr=lr, batch_size=batch_size, momentum=0.5,
                                   weight_decay=weight_decay, seed=seed + self.top_index, verbose=verbose)
        self.b[self.top_index].copy_(rbm.c.to(self.b[self.top_index]))
        start = 0
        for t in self.penultimate_index:
            e = self.edges.index((t, self.top_index))
            self.W[e].copy_(rbm.W[start:start + self.layers[t][1]].to(self.W[e]))
            start += self.layers[t][1]
        return self

    def _copy(self, rbm, lo: int, up: int) -> None:
        e = self.edges.index((lo, up))
        self.W[e].copy_(rbm.W.to(self.W[e]))
        self.b[up].copy_(rbm.c.to(self.b[up]))
        if lo in self._visible_set:
            self.b[lo].copy_(rbm.b.to(self.b[lo]))

    @torch.no_grad()
    def train_joint(self, Xs: Mapping[str, object], max_epochs: int = 20, lr: float = 0.005, momentum: float = 0.5,
                    weight_decay: float = 1e-4, batch_size: int = 50, n_chains: int = 100, n_gibbs: int = 1,
                    seed: int = 0, verbose: bool = False) -> list[float]:
        """Joint training (mean-field data term, persistent chains for the model term) by SGD with
        momentum, learning rate ``lr / (1 + epoch / max(1, max_epochs / 4))`` and weight decay on
        the weights; ``chains_`` are (re)started from the data. Epochs and minibatches come from
        :func:`~polymodal.training.estimator_loop.train_network` with a custom ``step`` (not loss +
        backward); shuffling, chain initialisation and Gibbs draw from one generator seeded with
        ``seed``. Returns the mean-field free energy :math:`F_q` per row, per epoch."""
        for name, val in (("lr", lr), ("batch_size", batch_size), ("n_gibbs", n_gibbs)):
            if val <= 0:
                raise ConfigError(f"{name} must be > 0, got {val}")
        if max_epochs < 0:
            raise ConfigError(f"max_epochs must be >= 0, got {max_epochs}")
        xs = self._inputs(Xs, need_all=True)
        g = torch.Generator().manual_seed(seed)
        self.chains_ = self._init_chains(xs, g, n_chains)
        if not max_epochs:
            return []
        params = [*self.W, *self.b]
        vel = [torch.zeros_like(p) for p in params]
        n = next(iter(xs.values())).shape[0]
        per_epoch, done = math.ceil(n / min(batch_size, n)), [0]

        def pcd_step(batch: list[torch.Tensor]) -> float:
            epoch = done[0] // per_epoch
            rate = lr / (1.0 + epoch / max(1.0, max_epochs / 4))
            mu = self._mean_field(dict(zip(self.modalities, batch)))
            data = self._stats(mu)
            for _ in range(n_gibbs):
                self.chains_ = self._gibbs(self.chains_, set(), g)
            model = self._stats(self.chains_)
            for k, (p, d, mo, vv) in enumerate(zip(params, data, model, vel)):
                grad = d - mo - (weight_decay * p if k < len(self.W) else 0.0)
                vv.mul_(momentum).add_(rate * grad)
                p.add_(vv)
            done[0] += 1
            if done[0] % per_epoch == 0 and not all(torch.isfinite(p).all() for p in params):
                raise ConfigError(f"training diverged at epoch {epoch}: lower lr (now {lr}) or raise weight_decay")
            return float(self.mean_field_free_energy(mu).mean())

        fit = train_network(self, None, [xs[m] for m in self.modalities], max_epochs=max_epochs,
                            batch_size=batch_size, device=self.device, step=pcd_step, generator=g,
                            verbose=verbose, desc=type(self).__name__)
        return fit.train_loss

    # -- outputs -------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, Xs: Mapping[str, object], representation: str = "joint") -> torch.Tensor:
        """Mean-field posterior of the shared layer ``(n, joint)`` given the modalities in ``Xs``
        (missing ones are inferred, with at least 30 sweeps), or with ``"joint+penultimate"`` also
        every pathway's top layer."""
        if representation not in ("joint", "joint+penultimate"):
            raise ConfigError(f"representation must be 'joint' or 'joint+penultimate', got {representation!r}")
        xs = self._inputs(Xs)
        s = self._mean_field(xs, n_iter=max(self.n_mean_field, 30) if len(xs) < len(self.modalities) else None)
        parts = [s[self.top_index]] + ([s[i] for i in self.penultimate_index]
                                        if representation == "joint+penultimate" else [])
        return torch.cat(parts, 1)

    @torch.no_grad()
    def generate(self, Xs: Mapping[str, object], missing: str, method: str = "mean_field", n_iter: int = 50,
                 n_gibbs: int = 200, burn_in: int = 50, seed: int = 0) -> torch.Tensor:
        """Infer modality ``missing`` ``(n, d_missing)`` from the modalities in ``Xs``:
        its mean-field mean after ``n_iter`` sweeps, or with ``method="gibbs"`` the average of
        :math:`E[v_{missing} | h^{(1)}]` over ``n_gibbs`` sweeps after ``burn_in`` (started at the mean-field state)."""
        if missing not in self.in_features:
            raise ModalityError(f"unknown modality {missing!r}; built for {self.modalities}")
        if missing in Xs:
            raise ModalityError(f"modality {missing!r} is given in Xs; leave it out to generate it")
        if method not in ("mean_field", "gibbs"):
            raise ConfigError(f"method must be 'mean_field' or 'gibbs', got {method!r}")
        xs = self._inputs(Xs)
        s = self._mean_field(xs, n_iter=n_iter)
        i = self.visible_index[missing]
        if method == "mean_field":
            return s[i]
        g = torch.Generator().manual_seed(seed)
        clamped = {self.visible_index[m] for m in xs}
        s = [x if j in clamped or j in self._visible_set else
             (torch.rand(x.shape, generator=g, dtype=x.dtype, device="cpu").to(self.device) < x).to(x.dtype)
             for j, x in enumerate(s)]
        total = torch.zeros_like(s[i])
        for step in range(burn_in + n_gibbs):
            s = self._gibbs(s, clamped, g)
            if step >= burn_in:
                total += self._mean(i, s)
        return total / n_gibbs

    # -- exact quantities by enumeration (tiny models, tests) ----------------------------
    def _hidden_ids(self) -> list[int]:
        return [i for i in range(len(self.layers)) if i not in self._visible_set]

    def _enumerate_hidden(self) -> list[torch.Tensor | None]:
        hid = self._hidden_ids()
        total = sum(self.layers[i][1] for i in hid)
        if total > _MAX_ENUM:
            raise ConfigError(f"exact enumeration over 2^{total} hidden states; at most 2^{_MAX_ENUM}")
        states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=total)), dtype=self.dtype,
                              device=self.device).reshape(-1, total)
        out: list[torch.Tensor | None] = [None] * len(self.layers)
        start = 0
        for i in hid:
            out[i] = states[:, start:start + self.layers[i][1]]
            start += self.layers[i][1]
        return out

    def _hidden_terms(self, h: list) -> torch.Tensor:
        """:math:`-E` restricted to hidden biases and hidden-hidden weights, per hidden state."""
        lw = sum(h[i] @ self.b[i] for i in self._hidden_ids())
        for k, (lo, up) in enumerate(self.edges):
            if lo not in self._visible_set:
                lw = lw + ((h[lo] @ self.W[k]) * h[up]).sum(1)
        return lw

    def _hidden_log_weights(self, h: list) -> torch.Tensor:
        """:math:`\\log \\sum_v e^{-E(v, h)}` (visibles summed / integrated out analytically) per hidden state."""
        lw = self._hidden_terms(h)
        for m, i in self.visible_index.items():
            (e, j, _), = self.neighbours[i]
            wh = h[j] @ self.W[e].T
            if self.visible[m] == "gaussian":
                lw = lw + wh @ self.b[i] + 0.5 * (wh ** 2).sum(1) + 0.5 * self.layers[i][1] * math.log(2 * math.pi)
            else:
                lw = lw + nn.functional.softplus(wh + self.b[i]).sum(1)
        return lw

    @torch.no_grad()
    def log_partition(self) -> float:
        """Exact :math:`\\log Z` (hidden states enumerated, visibles summed/integrated analytically)."""
        return float(torch.logsumexp(self._hidden_log_weights(self._enumerate_hidden()), 0))

    @torch.no_grad()
    def _posterior(self, xs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list]:
        """:math:`-E(v_r, h_k)` for every row ``r`` and enumerated hidden state ``k``, ``(n, K)``."""
        h = self._enumerate_hidden()
        logits = self._hidden_terms(h)[None, :]
        for m, i in self.visible_index.items():
            (e, j, _), = self.neighbours[i]
            v = xs[m]
            vis = -0.5 * ((v - self.b[i]) ** 2).sum(1) if self.visible[m] == "gaussian" else v @ self.b[i]
            logits = logits + vis[:, None] + (v @ self.W[e]) @ h[j].T
        return logits, h

    @torch.no_grad()
    def free_energy(self, Xs: Mapping[str, object]) -> torch.Tensor:
        """Exact :math:`F(v) = -\\log \\sum_h e^{-E(v, h)}` per row by enumeration, ``(n,)``."""
        logits, _ = self._posterior(self._inputs(Xs, need_all=True))
        return -torch.logsumexp(logits, 1)

    @torch.no_grad()
    def exact_log_likelihood(self, Xs: Mapping[str, object]) -> torch.Tensor:
        """Exact :math:`\\log p(v) = -F(v) - \\log Z` per row (a density for Gaussian modalities)."""
        return -self.free_energy(Xs) - self.log_partition()

    @torch.no_grad()
    def exact_posterior_marginals(self, Xs: Mapping[str, object]) -> list[torch.Tensor | None]:
        """Exact :math:`p(h_{ij} = 1 | v)` per hidden layer (``None`` for visible layers)."""
        logits, h = self._posterior(self._inputs(Xs, need_all=True))
        p = torch.softmax(logits, 1)
        return [None if x is None else p @ x for x in h]

    def _exact_data_stats(self, xs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        logits, h = self._posterior(xs)
        p = torch.softmax(logits, 1)
        out = self._stats(h, p.mean(0))  # hidden biases and hidden-hidden weights
        for k, (lo, up) in enumerate(self.edges):
            if lo in self._visible_set:
                out[k] = xs[self.layers[lo][0]].T @ (p @ h[up]) / p.shape[0]
        for m, i in self.visible_index.items():
            v = xs[m]
            out[len(self.edges) + i] = (v - self.b[i] if self.visible[m] == "gaussian" else v).mean(0)
        return out

    def _exact_model_stats(self) -> list[torch.Tensor]:
        h = self._enumerate_hidden()
        p = torch.softmax(self._hidden_log_weights(h), 0)
        s = list(h)
        for i in self._visible_set:
            s[i] = self._mean(i, s)
        return self._stats(s, p)


_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _per_view(value, names: list[str], what: str, is_item) -> dict:
    """A per-view setting from one value for every view, a ``{name: value}`` dict or a sequence in view order."""
    if isinstance(value, Mapping):
        missing = [m for m in value if m not in names]
        if missing:
            raise ModalityError(f"{what} names modalities that X does not have (fit needs every modality); "
                                f"missing {missing}, X has {names}")
        return dict(value)
    if is_item(value):
        return {m: value for m in names}
    value = list(value)
    if len(value) != len(names):
        raise ConfigError(f"{what}: one entry per view expected ({len(names)}), got {len(value)}")
    return dict(zip(names, value))


class MultimodalDBM(TransformerMixin, BaseEstimator):
    """Multimodal deep Boltzmann machine (:class:`MultimodalDBMNetwork`; Srivastava &
    Salakhutdinov, NeurIPS 2012 / JMLR 2014) as a scikit-learn transformer on a
    sequence of views ``[X1, X2, ...]`` (a ``{name: array}`` dict is also
    accepted; views of a sequence are named ``view0, view1, ...``).

    ``fit`` builds the network (weights drawn from ``random_state``), runs greedy
    CD-1 pretraining for ``pretrain_epochs`` (:meth:`MultimodalDBMNetwork.pretrain`,
    0 skips it), then joint mean-field + persistent-CD training for
    ``max_epochs`` (:meth:`MultimodalDBMNetwork.train_joint`, 0 keeps the
    pretrained model), both through
    :func:`~polymodal.training.estimator_loop.train_network` (custom CD steps);
    a refit starts from the same initialisation. ``transform`` gives the
    mean-field posterior of the shared layer (a view given as None is inferred);
    :meth:`generate` infers a missing view by mean-field or Gibbs sampling.

    Parameters
    ----------
    visible : None, "gaussian" | "bernoulli", a sequence in view order or a dict name -> kind
        Visible units per view (None: Gaussian, unit variance: standardise the view;
        Bernoulli views must lie in [0, 1]).
    hidden : sequence of int (every view), a sequence of them in view order, or a dict name -> sizes
    joint : int — size of the shared layer
    max_epochs, lr, momentum, weight_decay, batch_size : joint-training SGD
    pretrain_epochs, pretrain_lr : greedy CD-1 pretraining
    n_chains, n_gibbs, n_mean_field : persistent chains, Gibbs sweeps per update, mean-field sweeps
    random_state : None or int — initial weights, shuffling, chains (an int is the torch seed)
    device : "cpu", "cuda", "auto", ... — parameters, data and chains (the pretraining RBMs run on the CPU)
    dtype : "float32" or "float64"
    verbose : bool — progress bars on stderr (when it is a TTY)

    Attributes
    ----------
    network_ : MultimodalDBMNetwork (its ``chains_`` are the persistent chains)
    modalities_ : list of str
    history_ : list of float — mean-field free energy per row, per joint-training epoch
    n_iter_ : int — joint-training epochs run

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> views = [rng.normal(size=(40, 4)), rng.integers(0, 2, (40, 3))]
    >>> dbm = MultimodalDBM(visible=["gaussian", "bernoulli"], hidden=[5, 4], joint=3, max_epochs=1,
    ...                     pretrain_epochs=1, random_state=0).fit(views)
    >>> dbm.transform(views).shape, dbm.generate([views[0], None], 1).shape
    ((40, 3), (40, 3))
    """

    _multiview: ClassVar[bool] = True
    _test_params: ClassVar[dict] = {"hidden": (2,), "joint": 2, "max_epochs": 2, "pretrain_epochs": 1,
                                    "batch_size": 20, "n_chains": 10, "n_mean_field": 3, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, visible=None, hidden=(64, 64), joint: int = 64, max_epochs: int = 20, lr: float = 0.005,
                 momentum: float = 0.5, weight_decay: float = 1e-4, batch_size: int = 50, pretrain_epochs: int = 10,
                 pretrain_lr: float = 0.05, n_chains: int = 100, n_gibbs: int = 1, n_mean_field: int = 10,
                 random_state=None, device: str = "cpu", dtype: str = "float32", verbose: bool = False):
        self.visible = visible
        self.hidden = hidden
        self.joint = joint
        self.max_epochs = max_epochs
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.n_chains = n_chains
        self.n_gibbs = n_gibbs
        self.n_mean_field = n_mean_field
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    def fit(self, X, y=None) -> "MultimodalDBM":
        """Pretrain, then jointly train on every view of ``X`` (each (n, p_m), rows paired)."""
        views = fit_views(X, type(self).__name__)
        names = list(views)
        if self.dtype not in _DTYPES:
            raise ConfigError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        for name in ("pretrain_epochs", "max_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("pretrain_lr", "batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        visible = _per_view(self.visible, names, "visible", lambda v: v is None or isinstance(v, str))
        hidden = _per_view(self.hidden, names, "hidden",
                           lambda v: all(isinstance(s, (int, np.integer)) for s in v))
        self.seed_ = seed_from(self.random_state)
        net = MultimodalDBMNetwork({m: v.shape[1] for m, v in views.items()},
                                   {m: k for m, k in visible.items() if k is not None}, hidden, self.joint,
                                   self.n_mean_field, seed=self.seed_, dtype=_DTYPES[self.dtype])
        net.to(resolve_device(self.device))
        xs = net._inputs(views, need_all=True)
        if self.pretrain_epochs:
            net.pretrain(xs, max_epochs=self.pretrain_epochs, lr=self.pretrain_lr, batch_size=self.batch_size,
                         weight_decay=self.weight_decay, verbose=self.verbose)
        self.history_ = net.train_joint(xs, max_epochs=self.max_epochs, lr=self.lr, momentum=self.momentum,
                                        weight_decay=self.weight_decay, batch_size=self.batch_size,
                                        n_chains=self.n_chains, n_gibbs=self.n_gibbs, seed=self.seed_,
                                        verbose=self.verbose)
        self.network_, self.modalities_, self.n_iter_ = net, names, self.max_epochs
        return self

    def _present(self, X) -> dict[str, np.ndarray]:
        check_is_fitted(self, "network_")
        return present_views(X, self.modalities_, type(self).__name__)

    def transform(self, X, representation: str = "joint") -> np.ndarray:
        """Mean-field posterior of the shared layer ``(n, joint)`` (views given as None are
        inferred), or with ``"joint+penultimate"`` also every pathway's top layer."""
        present = self._present(X)
        return self.network_.features(present, representation).cpu().double().numpy()

    def generate(self, X, missing: int | str, method: str = "mean_field", n_iter: int = 50, n_gibbs: int = 200,
                 burn_in: int = 50, random_state: int = 0) -> np.ndarray:
        """The view ``missing`` (its index, or its name for dict input) inferred from the given ones:
        its mean-field mean after ``n_iter`` sweeps, or with ``method="gibbs"`` the average of
        :math:`E[v_{missing} | h^{(1)}]` over ``n_gibbs`` Gibbs sweeps after ``burn_in``."""
        present = self._present(X)
        name = view_name(missing, self.modalities_)
        return self.network_.generate(present, name, method=method, n_iter=n_iter, n_gibbs=n_gibbs,
                                      burn_in=burn_in, seed=random_state).cpu().double().numpy()

    def mean_field(self, X, n_iter: int | None = None) -> dict[str, np.ndarray]:
        """Mean-field means of every layer (``network_.layers`` names: ``view0``, ``view0/h1``, ...,
        ``joint``) with the given views clamped, ``n_iter`` sweeps (None: ``n_mean_field``)."""
        present = self._present(X)
        mu = self.network_.mean_field(present, n_iter=n_iter)
        return {name: x.cpu().double().numpy() for (name, *_), x in zip(self.network_.layers, mu)}

    def exact_log_likelihood(self, X) -> np.ndarray:
        """Exact :math:`\\log p(v)` per row (enumerates the hidden states: tiny models only)."""
        present = self._present(X)
        return self.network_.exact_log_likelihood(present).cpu().double().numpy()
