"""Multimodal deep belief network (Srivastava & Salakhutdinov, "Multimodal
Learning with Deep Boltzmann Machines", NeurIPS 2012; JMLR 2014): one stack
of RBMs per modality, a joint RBM on top, and generation of a missing
modality by Gibbs sampling conditioned on the present ones.

``MultimodalDBNNetwork`` is the torch module (``dict`` of modalities in);
``MultimodalDBN`` the scikit-learn estimator on a sequence of views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation._named_views import fit_views, present_views
from polymodal.representation.rbm import BernoulliRBMNetwork, GaussianBernoulliRBMNetwork
from polymodal.training.estimator_loop import resolve_device, seed_from

__all__ = ["MultimodalDBN", "MultimodalDBNNetwork"]


class MultimodalDBNNetwork(nn.Module):
    """A multimodal DBN trained greedily, layer by layer.

    For each modality :math:`m` a Gaussian-Bernoulli RBM on the
    (standardised) input, then Bernoulli RBMs, each trained on the hidden
    probabilities of the one below; a joint Bernoulli RBM models the
    concatenated top layers :math:`[h^{(1)}_{top}; \\dots; h^{(M)}_{top}]`
    (the joint layer of Srivastava & Salakhutdinov 2012, with the DBN's
    greedy training instead of the DBM's joint fine-tuning).

    Generating a missing modality (paper Sec. 4.3): the present modalities'
    top layers are inferred bottom-up and clamped in the joint RBM's visible
    layer; the missing part starts at 0.5 and alternating Gibbs steps
    :math:`h \\sim p(h | v)`, :math:`v_{missing} \\sim p(v_{missing} | h)`
    run ``n_gibbs`` times; the final mean of the missing top layer is passed
    down its stack (mean-field, :math:`E[v | h]` per layer) to the input space.

    Parameters
    ----------
    in_features : dict[str, int]
    hidden : dict[str, sequence of int] or sequence of int
        Layer sizes per modality (one list for all).
    joint : int
        Hidden units of the joint RBM (``out_features``).
    seed : int
        Offset of the layers' initialisation seeds (``10 i + k + seed``; the joint RBM ``999 + seed``).

    Examples
    --------
    >>> dbn = MultimodalDBNNetwork({"a": 4, "b": 3}, hidden=[8], joint=5)
    >>> rng = np.random.default_rng(0)
    >>> data = {"a": rng.normal(size=(40, 4)), "b": rng.normal(size=(40, 3))}
    >>> dbn.greedy_fit(data, max_epochs=1).generate({"a": data["a"]}, "b").shape
    (40, 3)
    """

    def __init__(self, in_features: Mapping[str, int], hidden: Mapping[str, Sequence[int]] | Sequence[int] = (128,),
                 joint: int = 64, seed: int = 0) -> None:
        super().__init__()
        if not in_features:
            raise ConfigError("in_features: a multimodal DBN needs at least one modality")
        self.in_features = dict(in_features)
        self.modalities = list(self.in_features)
        sizes = {m: list(hidden[m]) if isinstance(hidden, Mapping) else list(hidden) for m in self.modalities}
        if any(not s for s in sizes.values()):
            raise ConfigError(f"hidden: each modality needs at least one layer, got {sizes}")
        self.stacks = nn.ModuleDict()
        for i, m in enumerate(self.modalities):
            dims = [self.in_features[m], *sizes[m]]
            layers = [GaussianBernoulliRBMNetwork(dims[0], dims[1], seed=10 * i + seed)]
            layers += [BernoulliRBMNetwork(dims[k], dims[k + 1], seed=10 * i + k + seed) for k in range(1, len(dims) - 1)]
            self.stacks[m] = nn.ModuleList(layers)
        self.top_sizes = {m: sizes[m][-1] for m in self.modalities}
        self.joint = BernoulliRBMNetwork(sum(self.top_sizes.values()), joint, seed=999 + seed)
        self.out_features = int(joint)

    def _tensor(self, m: str, X) -> torch.Tensor:
        if m not in self.in_features:
            raise ModalityError(f"unknown modality {m!r}; built for {self.modalities}")
        x = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.joint.W.device)
        if x.dim() != 2 or x.shape[1] != self.in_features[m]:
            raise ShapeError(f"modality {m!r}: expected shape (n, {self.in_features[m]}), got {tuple(x.shape)}")
        return x

    @torch.no_grad()
    def up(self, m: str, X) -> torch.Tensor:
        """Top-layer hidden probabilities of modality ``m``."""
        h = self._tensor(m, X)
        for layer in self.stacks[m]:
            h = layer.hidden_probs(h)
        return h

    @torch.no_grad()
    def down(self, m: str, top: torch.Tensor) -> torch.Tensor:
        """Mean-field top-down pass of modality ``m`` to its input space."""
        v = top
        for layer in reversed(self.stacks[m]):
            v = layer.visible_mean(v)
        return v

    def greedy_fit(self, Xs: Mapping[str, np.ndarray], max_epochs: int = 20, lr: float = 0.005,
                   joint_lr: float = 0.05, k: int = 1, persistent: bool = False, batch_size: int = 32,
                   seed: int = 0, verbose: bool = False) -> "MultimodalDBNNetwork":
        """Greedy layer-wise CD-k (or PCD) training; every modality of ``Xs`` given."""
        missing = [m for m in self.modalities if m not in Xs]
        if missing:
            raise ModalityError(f"fit needs every modality {self.modalities}; missing {missing}")
        tops = []
        for i, m in enumerate(self.modalities):
            h = self._tensor(m, Xs[m])
            for j, layer in enumerate(self.stacks[m]):
                layer.contrastive_divergence(h, max_epochs=max_epochs, lr=lr if j == 0 else joint_lr, k=k, persistent=persistent,
                                           batch_size=batch_size, seed=seed + 100 * i + j, verbose=verbose)
                with torch.no_grad():
                    h = layer.hidden_probs(h)
            tops.append(h)
        self.joint.contrastive_divergence(torch.cat(tops, 1), max_epochs=max_epochs, lr=joint_lr, k=k, persistent=persistent,
                                         batch_size=batch_size, seed=seed + 7, verbose=verbose)
        return self

    @torch.no_grad()
    def joint_features(self, Xs: Mapping[str, np.ndarray], n_gibbs: int = 20, seed: int = 0) -> np.ndarray:
        """Joint hidden probabilities ``(n, joint)``; modalities left out of
        ``Xs`` are filled in by conditional Gibbs sampling first."""
        v = self._joint_visible(Xs, n_gibbs, seed)
        return self.joint.hidden_probs(v).cpu().numpy()

    @torch.no_grad()
    def _joint_visible(self, Xs, n_gibbs, seed):
        present = [m for m in self.modalities if m in Xs]
        for m in Xs:
            if m not in self.in_features:
                raise ModalityError(f"unknown modality {m!r}; built for {self.modalities}")
        if not present:
            raise ModalityError(f"at least one of {self.modalities} must be given")
        n = len(next(iter(Xs.values())))
        parts, clamp, dev = [], [], self.joint.W.device
        for m in self.modalities:
            if m in Xs:
                parts.append(self.up(m, Xs[m]))
                clamp.append(torch.ones(self.top_sizes[m], dtype=torch.bool, device=dev))
            else:
                parts.append(torch.full((n, self.top_sizes[m]), 0.5, device=dev))
                clamp.append(torch.zeros(self.top_sizes[m], dtype=torch.bool, device=dev))
        v, keep = torch.cat(parts, 1), torch.cat(clamp)
        if keep.all():
            return v
        g = torch.Generator().manual_seed(seed)
        for step in range(n_gibbs):
            h = self.joint.sample_hidden(v, g)
            mean = self.joint.visible_mean(h)
            sample = mean if step == n_gibbs - 1 else (torch.rand(mean.shape, generator=g).to(dev) < mean).float()
            v = torch.where(keep, v, sample)
        return v

    @torch.no_grad()
    def generate(self, Xs: Mapping[str, np.ndarray], missing: str, n_gibbs: int = 50, seed: int = 0) -> np.ndarray:
        """Generate modality ``missing`` ``(n, d_missing)`` from the modalities in ``Xs``."""
        if missing not in self.in_features:
            raise ModalityError(f"unknown modality {missing!r}; built for {self.modalities}")
        if missing in Xs:
            raise ModalityError(f"modality {missing!r} is given in Xs; leave it out to generate it")
        v = self._joint_visible(Xs, n_gibbs, seed)
        start = sum(self.top_sizes[m] for m in self.modalities[: self.modalities.index(missing)])
        return self.down(missing, v[:, start:start + self.top_sizes[missing]]).cpu().numpy()


class MultimodalDBN(TransformerMixin, BaseEstimator):
    """Multimodal DBN (:class:`MultimodalDBNNetwork`) as a scikit-learn transformer
    on a sequence of views ``[X1, X2, ...]`` (a ``{name: array}`` dict is also
    accepted): greedy layer-wise CD-k per modality, then the joint RBM.
    ``transform`` gives the joint hidden probabilities; a view given as None is
    filled in by conditional Gibbs sampling (``n_gibbs`` steps) first;
    :meth:`generate` returns a missing view.

    Parameters
    ----------
    hidden : sequence of int, or dict name -> sequence — layer sizes per view
    joint : int — hidden units of the joint RBM
    max_epochs, lr, joint_lr, k, persistent, batch_size : CD training (``lr`` for the
        Gaussian bottom layers, ``joint_lr`` for the Bernoulli ones)
    n_gibbs : int — Gibbs steps of ``transform`` with a missing view
    random_state : None or int — layer initialisation, shuffling and Gibbs sampling
    device, verbose : as every deep estimator

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> views = [rng.normal(size=(40, 4)), rng.normal(size=(40, 3))]
    >>> dbn = MultimodalDBN(hidden=[8], joint=5, max_epochs=1, random_state=0).fit(views)
    >>> dbn.transform(views).shape, dbn.generate([views[0], None], 1).shape
    ((40, 5), (40, 3))
    """

    _multiview: ClassVar[bool] = True
    _test_params: ClassVar[dict] = {"hidden": (3,), "joint": 2, "max_epochs": 2, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, hidden=(128,), joint: int = 64, max_epochs: int = 20, lr: float = 0.005,
                 joint_lr: float = 0.05, k: int = 1, persistent: bool = False, batch_size: int = 32,
                 n_gibbs: int = 20, random_state=None, device: str = "cpu", verbose: bool = False):
        self.hidden = hidden
        self.joint = joint
        self.max_epochs = max_epochs
        self.lr = lr
        self.joint_lr = joint_lr
        self.k = k
        self.persistent = persistent
        self.batch_size = batch_size
        self.n_gibbs = n_gibbs
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y=None) -> "MultimodalDBN":
        """Greedy layer-wise training on every view of ``X`` (each (n, p_i))."""
        named = fit_views(X, type(self).__name__)
        self.seed_ = seed_from(self.random_state)
        net = MultimodalDBNNetwork({m: a.shape[1] for m, a in named.items()}, self.hidden, self.joint,
                                   seed=self.seed_).to(resolve_device(self.device))
        self.network_ = net.greedy_fit(named, max_epochs=self.max_epochs, lr=self.lr, joint_lr=self.joint_lr,
                                       k=self.k, persistent=self.persistent, batch_size=self.batch_size,
                                       seed=self.seed_, verbose=self.verbose)
        self.modalities_ = list(named)
        return self

    def _present(self, X) -> dict[str, np.ndarray]:
        check_is_fitted(self, "network_")
        return present_views(X, self.modalities_, type(self).__name__)

    def transform(self, X) -> np.ndarray:
        """Joint hidden probabilities (n, joint); missing views (None) sampled first."""
        present = self._present(X)
        return self.network_.joint_features(present, self.n_gibbs, self.seed_).astype(np.float64)

    def generate(self, X, missing: int | str, n_gibbs: int = 50, random_state: int = 0) -> np.ndarray:
        """The view ``missing`` (its index, or its name for dict input) generated from the others."""
        present = self._present(X)
        name = f"view{missing}" if isinstance(missing, (int, np.integer)) else missing
        return self.network_.generate(present, name, n_gibbs=n_gibbs, seed=random_state)
