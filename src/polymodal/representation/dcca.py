"""Deep CCA and the deep canonically correlated autoencoder (DCCAE) as torch modules."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation.cca import CCA
from polymodal.representation.dcca_loss import cca_loss

__all__ = ["DCCA", "DCCAE"]


class DCCA(nn.Module):
    """Deep CCA: two encoders trained so their outputs are maximally correlated.

    Andrew, Arora, Bilmes & Livescu, "Deep canonical correlation analysis",
    ICML 2013: :math:`\\max_{f_1, f_2} \\operatorname{corr}(f_1(X_1), f_2(X_2))`
    (:func:`~polymodal.representation.dcca_loss.cca_correlation`, the sum of the
    top ``n_components`` canonical correlations of a batch, regularised by
    ``reg``). ``forward`` takes ``{modality: (batch, p_m)}`` and returns the
    encoder outputs; ``loss`` is the negative correlation.

    Protocol (as in the paper): after training, :meth:`fit` fits a linear
    :class:`CCA` on the encoder outputs of the whole training set;
    :meth:`transform` returns those final canonical projections.

    Parameters
    ----------
    encoders : mapping of exactly two modality names to modules (batch, p) -> (batch, o)
    n_components : int or None — correlations summed in the loss and kept by the
        final linear CCA (None: all ``min(o1, o2)``)
    reg : float — ridge added to the batch covariances

    Examples
    --------
    >>> enc = {"a": nn.Linear(4, 2), "b": nn.Linear(3, 2)}
    >>> model = DCCA(enc, n_components=2)
    >>> batch = {"a": torch.randn(16, 4), "b": torch.randn(16, 3)}
    >>> model.loss(batch).shape
    torch.Size([])
    """

    def __init__(self, encoders: Mapping[str, nn.Module], n_components: int | None = None,
                 reg: float = 1e-3):
        super().__init__()
        if len(encoders) != 2:
            raise ModalityError(
                f"{type(self).__name__} needs exactly 2 modalities; got {list(encoders)}"
            )
        self.encoders = nn.ModuleDict(dict(encoders))
        self.modalities = list(encoders)
        self.n_components = n_components
        self.reg = reg

    def _inputs(self, batch: Mapping[str, Tensor]) -> list[Tensor]:
        missing = [m for m in self.modalities if m not in batch]
        if missing:
            raise ModalityError(
                f"batch is missing modality {missing[0]!r}; expected {self.modalities}, "
                f"got {list(batch)}"
            )
        return [batch[m] for m in self.modalities]

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {m: self.encoders[m](x) for m, x in zip(self.modalities, self._inputs(batch))}

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Negative canonical correlation of the batch's encoder outputs."""
        h = self(batch)
        return cca_loss(h[self.modalities[0]], h[self.modalities[1]], self.n_components,
                        self.reg)

    # ------------------------------------------------------------------ training
    def fit(self, views: Mapping[str, np.ndarray | Tensor], max_epochs: int = 50,
            batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 0.0,
            seed: int = 0, trainer_kwargs: dict | None = None) -> "DCCA":
        """Train with a Lightning ``Trainer`` (Adam), then fit the final linear CCA.

        ``views`` maps each modality to its (n, p_m) training array.
        ``trainer_kwargs`` go to ``lightning.Trainer`` (e.g. ``accelerator="gpu"``).
        """
        import lightning as L
        from torch.utils.data import DataLoader

        data = self._tensors(views)
        n = data[0].shape[0]
        if batch_size < 2:
            raise ConfigError(f"batch_size must be >= 2; got {batch_size}")
        L.seed_everything(seed, verbose=False)
        loader = DataLoader(_Paired(self.modalities, data), batch_size=min(batch_size, n),
                            shuffle=True, drop_last=n > batch_size)
        kwargs = dict(max_epochs=max_epochs, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      accelerator="cpu", devices=1)
        kwargs.update(trainer_kwargs or {})
        from polymodal.training.console import quiet_lightning

        with quiet_lightning():  # no "GPU available" / tip banners on every fit
            L.Trainer(**kwargs).fit(_lightning_module(self, lr, weight_decay), loader)
        return self.fit_linear_cca(views)

    def fit_linear_cca(self, views: Mapping[str, np.ndarray | Tensor]) -> "DCCA":
        """Fit the final linear CCA on the encoder outputs of ``views``."""
        h = self.features(views)
        k = self.n_components or min(h[0].shape[1], h[1].shape[1])
        self.linear_cca_ = CCA(n_components=k, reg=self.reg).fit(h[0], h[1])
        return self

    @torch.no_grad()
    def features(self, views: Mapping[str, np.ndarray | Tensor]) -> list[np.ndarray]:
        """Encoder outputs (numpy, float64) of each modality, in ``self.modalities`` order."""
        was = self.training
        self.eval()
        data = self._tensors(views)
        dev = next(self.parameters()).device
        out = [self.encoders[m](x.to(dev)).double().cpu().numpy()
               for m, x in zip(self.modalities, data)]
        self.train(was)
        return out

    def transform(self, views: Mapping[str, np.ndarray | Tensor]) -> dict[str, np.ndarray]:
        """Final canonical projections ``{modality: (n, n_components)}``."""
        if not hasattr(self, "linear_cca_"):
            raise ConfigError(f"{type(self).__name__} has no linear CCA yet: call fit first")
        h = self.features(views)
        a, b = self.linear_cca_.transform(h[0], h[1])
        return {self.modalities[0]: a, self.modalities[1]: b}

    def _tensors(self, views) -> list[Tensor]:
        xs = self._inputs(views)
        dtype = next(self.parameters()).dtype
        ts = [torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).to(dtype)
              for x in xs]
        if ts[0].shape[0] != ts[1].shape[0]:
            raise ShapeError(
                f"modality {self.modalities[1]!r} has {ts[1].shape[0]} samples, "
                f"{self.modalities[0]!r} has {ts[0].shape[0]}; they must match"
            )
        return ts


class DCCAE(DCCA):
    """Deep canonically correlated autoencoder (Wang, Arora, Livescu & Bilmes,
    "On deep multi-view representation learning", ICML 2015):

    .. math::

        \\min\\; -\\operatorname{corr}(f_1(X_1), f_2(X_2))
        + \\lambda \\sum_{j=1,2} \\tfrac{1}{n}\\lVert X_j - g_j(f_j(X_j)) \\rVert^2,

    with decoders ``g_j``; ``lam`` (``lambda``) trades reconstruction against
    correlation (``lam=0`` is DCCA). The same final linear CCA protocol applies.

    Examples
    --------
    >>> enc = {"a": nn.Linear(4, 2), "b": nn.Linear(3, 2)}
    >>> dec = {"a": nn.Linear(2, 4), "b": nn.Linear(2, 3)}
    >>> model = DCCAE(enc, dec, lam=0.1)
    >>> model.loss({"a": torch.randn(8, 4), "b": torch.randn(8, 3)}).item() < 10
    True
    """

    def __init__(self, encoders: Mapping[str, nn.Module], decoders: Mapping[str, nn.Module],
                 lam: float = 1e-2, n_components: int | None = None, reg: float = 1e-3):
        super().__init__(encoders, n_components, reg)
        if set(decoders) != set(encoders):
            raise ModalityError(
                f"decoders must have the encoders' modalities {sorted(encoders)}; "
                f"got {sorted(decoders)}"
            )
        if lam < 0:
            raise ConfigError(f"lam must be >= 0; got {lam!r}")
        self.decoders = nn.ModuleDict(dict(decoders))
        self.lam = lam

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        xs = self._inputs(batch)
        h = [self.encoders[m](x) for m, x in zip(self.modalities, xs)]
        corr = cca_loss(h[0], h[1], self.n_components, self.reg)
        recon = sum(
            ((self.decoders[m](hi) - x) ** 2).sum(dim=1).mean()
            for m, hi, x in zip(self.modalities, h, xs)
        )
        return corr + self.lam * recon


class _Paired(torch.utils.data.Dataset):
    def __init__(self, names: list[str], data: list[Tensor]):
        self.names, self.data = names, data

    def __len__(self) -> int:
        return self.data[0].shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {m: d[i] for m, d in zip(self.names, self.data)}


def _lightning_module(model: DCCA, lr: float, weight_decay: float):
    import lightning as L

    class DCCALightning(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            loss = self.model.loss(batch)
            self.log("train_loss", loss, prog_bar=False, batch_size=len(next(iter(batch.values()))))
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=weight_decay)

    return DCCALightning()
