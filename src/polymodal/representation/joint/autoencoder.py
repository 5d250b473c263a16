"""The multimodal (bimodal) deep autoencoder of Ngiam, Khosla, Kim, Nam, Lee
& Ng, "Multimodal Deep Learning", ICML 2011."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from polymodal.core.activations import ACTIVATIONS, check_activation
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation.joint._base import JointFusion
from polymodal.core.registry import register

__all__ = ["MultimodalAutoencoder"]



@register("fusion", "multimodal_autoencoder")
class MultimodalAutoencoder(JointFusion):
    """Bimodal (or M-modal) deep autoencoder with a shared representation.

    .. math:: h_m = f(W_m x_m + b_m), \\quad s = f\\big(W_s [h_1; \\dots; h_M] + b_s\\big), \\quad
              \\hat x_m = D_m(s) \\ \\text{for every } m

    Trained as in Ngiam et al. (2011, Sec. 3.2): the training set is
    augmented with copies in which all but one modality are zeroed, and the
    network must still reconstruct *every* modality,

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
    with the rest of the model; :meth:`fit` trains it unsupervised.

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

    >>> ae = MultimodalAutoencoder({"a": 4, "b": 3}, hidden=8, shared=2)
    >>> rng = np.random.default_rng(0)
    >>> data = {"a": rng.normal(size=(30, 4)), "b": rng.normal(size=(30, 3))}
    >>> ae.fit(data, epochs=2).reconstruct(data, present={"b": np.zeros(30, bool)})["b"].shape
    (30, 3)
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

    # -- numpy API -------------------------------------------------------------
    def _tensors(self, Xs, present=None):
        missing = [m for m in self.modalities if m not in Xs]
        extra = [m for m in Xs if m not in self.in_features]
        if extra:
            raise ModalityError(f"unknown modality {extra[0]!r}; built for {self.modalities}")
        n = len(next(iter(Xs.values())))
        dev = next(self.parameters()).device
        feats, pres = {}, {}
        for m, d in self.in_features.items():
            if m in missing:
                feats[m], pres[m] = torch.zeros(n, d, device=dev), torch.zeros(n, dtype=torch.bool, device=dev)
                continue
            x = torch.as_tensor(np.asarray(Xs[m]), dtype=torch.float32, device=dev)
            if x.dim() != 2 or x.shape != (n, d):
                raise ShapeError(f"modality {m!r}: expected shape ({n}, {d}), got {tuple(x.shape)}")
            feats[m] = x
            p = (present or {}).get(m)
            pres[m] = torch.ones(n, dtype=torch.bool, device=dev) if p is None else \
                torch.as_tensor(np.asarray(p), dtype=torch.bool, device=dev)
        return feats, pres

    def _loss(self, feats, pres):
        out = self.decode(self.fuse(feats, pres))
        return sum(((out[m] - feats[m]) ** 2).mean() for m in self.modalities)

    def fit(self, Xs: Mapping[str, np.ndarray], epochs: int = 50, lr: float = 1e-3, batch_size: int = 64,
            seed: int = 0) -> "MultimodalAutoencoder":
        """Unsupervised training with Ngiam's augmentation (every modality of
        ``Xs`` given, ``(n, d_m)`` each). Sets ``loss_history_``."""
        feats, _ = self._tensors(Xs)
        if any(m not in Xs for m in self.modalities):
            raise ModalityError(f"fit needs every modality {self.modalities}, got {sorted(Xs)}")
        n, k = len(feats[self.modalities[0]]), len(self.modalities)
        g = torch.Generator().manual_seed(seed)  # CPU draws (the same stream on any device), moved to the data
        dev = feats[self.modalities[0]].device
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        self.train()
        self.loss_history_ = []
        for _ in range(epochs):
            order = torch.randperm(n, generator=g).to(dev)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                fb = {m: feats[m][idx] for m in self.modalities}
                single = (torch.rand(len(idx), generator=g) < self.missing_rate).to(dev)
                which = torch.randint(k, (len(idx),), generator=g).to(dev)
                pb = {m: ~single | (which == i) for i, m in enumerate(self.modalities)}
                # the decoder targets are the clean inputs; the encoder sees zeros where absent
                out = self.decode(self.fuse({m: fb[m] * pb[m][:, None] for m in self.modalities}, pb))
                loss = sum(((out[m] - fb[m]) ** 2).mean() for m in self.modalities)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            self.loss_history_.append(total / n)
        self.eval()
        return self

    @torch.no_grad()
    def transform(self, Xs: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Shared codes ``(n, shared)``; modalities left out of ``Xs`` or with
        ``present`` False count as missing."""
        self.eval()
        feats, pres = self._tensors(Xs, present)
        return self.fuse(feats, pres).cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, Xs: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Reconstruction of every modality from the present ones."""
        self.eval()
        feats, pres = self._tensors(Xs, present)
        return {m: v.cpu().numpy() for m, v in self.decode(self.fuse(feats, pres)).items()}
