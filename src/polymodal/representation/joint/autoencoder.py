"""The multimodal (bimodal) deep autoencoder of Ngiam, Khosla, Kim, Nam, Lee
& Ng, "Multimodal Deep Learning", ICML 2011.

``MultimodalAutoencoderNetwork`` is the torch module (a joint fusion layer on
``dict[str, Tensor]``, registered as ``multimodal_autoencoder``);
``MultimodalAutoencoder`` the scikit-learn estimator on a sequence of views that
trains one with Ngiam's augmentation through
:func:`polymodal.training.estimator_loop.train_network`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from polymodal.core.activations import ACTIVATIONS, check_activation
from polymodal.core.registry import register
from polymodal.errors import ConfigError, ShapeError
from polymodal.representation._named_views import fit_views, present_views
from polymodal.representation.joint._base import JointFusion
from polymodal.training.estimator_loop import seed_from, seeded, train_network

__all__ = ["MultimodalAutoencoder", "MultimodalAutoencoderNetwork"]


@register("fusion", "multimodal_autoencoder")
class MultimodalAutoencoderNetwork(JointFusion):
    """Bimodal (or M-modal) deep autoencoder with a shared representation.

    .. math:: h_m = f(W_m x_m + b_m), \\quad s = f\\big(W_s [h_1; \\dots; h_M] + b_s\\big), \\quad
              \\hat x_m = D_m(s) \\ \\text{for every } m

    Trained as in Ngiam et al. (2011, Sec. 3.2) by :meth:`augmented_loss`: the
    training set is augmented with copies in which all but one modality are
    zeroed, and the network must still reconstruct *every* modality,

    .. math:: \\min \\sum_m \\frac{1}{d_m} \\| x_m - D_m(s(\\pi \\odot x)) \\|^2,

    so the shared code can be computed from any single modality and the
    decoders reconstruct a missing modality from the present one
    (cross-modal reconstruction). ``missing_rate`` is the share of training
    samples shown with one modality only (2/3 as in the paper for two
    modalities: one third each modality alone, one third both); 0 trains on
    both modalities only.

    Missing modality at inference: its input is zeros (the training mean
    after standardisation), exactly what the network saw in training.

    As a registered fusion layer (``multimodal_autoencoder``) ``forward``
    returns the shared code ``s`` (``out_features = shared``) and is trained
    with the rest of the model; :class:`MultimodalAutoencoder` trains it
    unsupervised.

    Parameters
    ----------
    in_features : dict[str, int]
    hidden : int
        Size of each modality-specific layer.
    shared : int
        Size of the shared layer.
    activation : {"relu", "sigmoid", "tanh"}
    missing_rate : float in [0, 1]
    modality_dropout : float
        For supervised training as a fusion layer.

    Examples
    --------
    >>> net = MultimodalAutoencoderNetwork({"a": 4, "b": 3}, hidden=8, shared=2)
    >>> x = {"a": torch.randn(5, 4), "b": torch.randn(5, 3)}
    >>> net(x).shape, net.reconstruct(x, {"b": torch.zeros(5, dtype=torch.bool)})["b"].shape
    (torch.Size([5, 2]), torch.Size([5, 3]))
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        hidden: int = 128,
        shared: int = 64,
        activation: str = "relu",
        missing_rate: float = 2.0 / 3.0,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__(in_features, modality_dropout)
        act = ACTIVATIONS[check_activation(activation)]
        if not 0.0 <= missing_rate <= 1.0:
            raise ConfigError(f"missing_rate: expected a value in [0, 1], got {missing_rate}")
        self.missing_rate = float(missing_rate)
        self.encoders = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, hidden), act()) for m, d in self.in_features.items()})
        self.shared = nn.Sequential(nn.Linear(hidden * len(self.in_features), shared), act())
        self.decoders = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(shared, hidden), act(), nn.Linear(hidden, d)) for m, d in self.in_features.items()}
        )
        self.out_features = int(shared)

    def fuse(self, features, present):
        parts = [self.encoders[m](self._masked(features[m], present[m])) for m in self.modalities]
        return self.shared(torch.cat(parts, dim=1))

    def decode(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: dec(code) for m, dec in self.decoders.items()}

    def reconstruct(self, features: Mapping[str, torch.Tensor],
                    present: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Every modality ``(N, d_m)`` decoded from the shared code of the present ones."""
        features, present = self._checked(features, present)
        return self.decode(self.fuse(features, present))

    def augmented_loss(self, features: Mapping[str, torch.Tensor],
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Ngiam's training loss on a batch of complete ``features``: each row is shown with one
        modality only (drawn uniformly) with probability ``missing_rate``, else with all; the
        targets are the clean inputs, :math:`\\sum_m \\operatorname{mean}(\\hat x_m - x_m)^2`.
        Draws come from ``generator`` on the CPU (the same stream on any device)."""
        first = features[self.modalities[0]]
        n, k, dev = first.shape[0], len(self.modalities), first.device
        single = torch.rand(n, generator=generator, device="cpu").to(dev) < self.missing_rate
        which = torch.randint(k, (n,), generator=generator, device="cpu").to(dev)
        present = {m: ~single | (which == i) for i, m in enumerate(self.modalities)}
        # the decoder targets are the clean inputs; the encoder sees zeros where absent
        out = self.decode(self.fuse({m: features[m] * present[m][:, None] for m in self.modalities}, present))
        return sum(((out[m] - features[m]) ** 2).mean() for m in self.modalities)


class MultimodalAutoencoder(TransformerMixin, BaseEstimator):
    """Ngiam et al.'s multimodal autoencoder (:class:`MultimodalAutoencoderNetwork`,
    ICML 2011) as a scikit-learn transformer on a sequence of views
    ``[X1, X2, ...]`` (a ``{name: array}`` dict is also accepted; standardise
    each view, a missing one is read as zeros).

    ``fit`` minimises the augmented reconstruction loss
    (:meth:`MultimodalAutoencoderNetwork.augmented_loss`) with Adam on
    minibatches through :func:`~polymodal.training.estimator_loop.train_network`;
    one generator seeded from ``random_state`` shuffles and draws the
    augmentation. ``transform`` gives the shared code; a view given as None (or
    left out of a dict, or masked per row by ``present``) counts as missing, so
    the code can be computed from one view. :meth:`reconstruct` returns every
    view reconstructed from the present ones (cross-modal reconstruction).

    Parameters
    ----------
    hidden : int — size of each view's layer
    shared : int — size of the shared code
    activation : {"relu", "sigmoid", "tanh"}
    missing_rate : float in [0, 1] — share of training rows shown with one view only
    max_epochs, lr, batch_size : training
    random_state : None or int — initial weights (an int is the torch seed), shuffling, augmentation
    device, verbose : as every deep estimator

    Attributes
    ----------
    network_ : MultimodalAutoencoderNetwork
    modalities_ : list of str — view names (``view0, view1, ...`` for a sequence)
    loss_curve_ : list of float — mean training loss per epoch

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> views = [rng.normal(size=(30, 4)), rng.normal(size=(30, 3))]
    >>> ae = MultimodalAutoencoder(hidden=8, shared=2, max_epochs=2, random_state=0).fit(views)
    >>> ae.transform(views).shape, ae.reconstruct([views[0], None])[1].shape
    ((30, 2), (30, 3))
    """

    _multiview: ClassVar[bool] = True
    _test_params: ClassVar[dict] = {"hidden": 3, "shared": 2, "max_epochs": 2, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, hidden: int = 128, shared: int = 64, activation: str = "relu",
                 missing_rate: float = 2.0 / 3.0, max_epochs: int = 50, lr: float = 1e-3, batch_size: int = 64,
                 random_state=None, device: str = "cpu", verbose: bool = False):
        self.hidden = hidden
        self.shared = shared
        self.activation = activation
        self.missing_rate = missing_rate
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y=None) -> "MultimodalAutoencoder":
        """Build the network (initialised from ``random_state``) and train it on every view of
        ``X`` (each (n, p_m)) with Ngiam's augmentation."""
        views = fit_views(X, type(self).__name__)
        seed = seed_from(self.random_state)
        with seeded(seed):
            net = MultimodalAutoencoderNetwork({m: v.shape[1] for m, v in views.items()}, self.hidden, self.shared,
                                               self.activation, self.missing_rate)
        names = list(views)
        g = torch.Generator().manual_seed(seed)
        fit = train_network(net, lambda n, b: n.augmented_loss(dict(zip(names, b)), g),
                            [torch.tensor(v, dtype=torch.float32) for v in views.values()],
                            max_epochs=self.max_epochs, lr=self.lr, batch_size=self.batch_size,
                            device=self.device, generator=g, verbose=self.verbose, desc=type(self).__name__)
        self.network_, self.modalities_, self.loss_curve_ = net, names, fit.train_loss
        return self

    def _tensors(self, X, present) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], bool]:
        check_is_fitted(self, "network_")
        given = present_views(X, self.modalities_, type(self).__name__)
        n = len(next(iter(given.values())))
        dev = next(self.network_.parameters()).device
        masks = present if isinstance(present, Mapping) or present is None else \
            {f"view{i}": p for i, p in enumerate(present)}
        feats, pres = {}, {}
        for m, d in self.network_.in_features.items():
            if m not in given:
                feats[m], pres[m] = torch.zeros(n, d, device=dev), torch.zeros(n, dtype=torch.bool, device=dev)
                continue
            if given[m].shape != (n, d):
                raise ShapeError(f"modality {m!r}: expected shape ({n}, {d}), got {given[m].shape}")
            feats[m] = torch.tensor(given[m], dtype=torch.float32, device=dev)  # a copy: views may be read-only
            p = (masks or {}).get(m)
            pres[m] = torch.ones(n, dtype=torch.bool, device=dev) if p is None else \
                torch.as_tensor(np.asarray(p), dtype=torch.bool, device=dev)
        return feats, pres, isinstance(X, Mapping)

    @torch.no_grad()
    def transform(self, X, present=None) -> np.ndarray:
        """Shared codes ``(n, shared)``; views given as None (left out of a dict), or with a
        ``present`` row mask False (one bool array per view, or a dict), count as missing."""
        feats, pres, _ = self._tensors(X, present)
        self.network_.eval()
        return self.network_(feats, pres).cpu().double().numpy()

    @torch.no_grad()
    def reconstruct(self, X, present=None) -> list[np.ndarray] | dict[str, np.ndarray]:
        """Every view reconstructed from the present ones: a list in view order (a dict for dict input)."""
        feats, pres, as_dict = self._tensors(X, present)
        self.network_.eval()
        out = {m: v.cpu().double().numpy() for m, v in self.network_.reconstruct(feats, pres).items()}
        return out if as_dict else list(out.values())
