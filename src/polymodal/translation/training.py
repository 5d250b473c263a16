"""Training sequence generators (captioners, seq2seq) with PyTorch Lightning."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from polymodal.errors import ConfigError, ShapeError
from polymodal.training.console import EpochProgress, quiet_lightning
from polymodal.translation.attention import StepwiseDecoder

__all__ = ["GeneratorFit", "SequenceGenerationModule", "fit_generator", "recompute_batchnorm"]


def _take(source: Any, idx: torch.Tensor) -> Any:
    if isinstance(source, (tuple, list)):
        return type(source)(_take(s, idx) for s in source)
    return source[idx]


def _length(source: Any) -> int:
    return len(source[0]) if isinstance(source, (tuple, list)) else len(source)


class _IndexCollate:
    """Collate a list of indices into (source, tokens) cut to the longest non-padding target."""

    def __init__(self, source: Any, tokens: torch.Tensor, pad_id: int) -> None:
        self.source, self.tokens, self.pad_id = source, tokens, pad_id

    def __call__(self, idx: list[int]):
        i = torch.as_tensor(idx, dtype=torch.long)
        tok = self.tokens[i]
        if tok.ndim == 2:  # token targets: cut to the longest non-padding sequence
            tok = tok[:, : int((tok != self.pad_id).sum(1).max())]
        src = _take(self.source, i)
        if isinstance(src, tuple) and len(src) == 2 and src[0].ndim >= 2 and src[1].ndim == 1 \
                and src[1].dtype == torch.long:  # (values, lengths): cut source padding too
            src = (src[0][:, : int(src[1].max())], src[1])
        return src, tok


class SequenceGenerationModule(pl.LightningModule):
    """Lightning wrapper: loss ``model.compute_loss(source, tokens)``, Adam, ``val_loss`` logged per epoch."""

    def __init__(self, model: StepwiseDecoder, lr: float = 2e-3, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.model, self.lr, self.weight_decay = model, lr, weight_decay

    def training_step(self, batch, batch_idx):
        loss = self.model.compute_loss(*batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(batch[1]))
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self.model.compute_loss(*batch)
        self.log("val_loss", loss, on_epoch=True, on_step=False, batch_size=len(batch[1]))

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


@torch.no_grad()
def recompute_batchnorm(model: torch.nn.Module, batches: Any, forward: Any, max_batches: int | None = None) -> int:
    """Reset every BatchNorm's running statistics and recompute them with the current weights.

    "Precise BN" (Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021): the
    running averages kept during training mix statistics of older weights, so
    with few, large steps the eval-mode model (and the validation loss that
    selects epochs) can be far from the trained one. Here each BatchNorm's
    ``running_mean`` / ``running_var`` become the plain averages, over up to
    ``max_batches`` batches, of the per-batch mean and unbiased variance of its
    input (``momentum=None``), computed in train mode without gradients.

    Parameters
    ----------
    model : nn.Module
    batches : iterable of batches, each passed to ``forward(batch)``
    forward : callable running ``model`` on one batch
    max_batches : int, optional (all when None)

    Returns the number of batches used (0 when the model has no BatchNorm).
    """
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    momenta, was_training = [m.momentum for m in norms], model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches seen
    model.train()
    used = 0
    try:
        for batch in batches:
            if max_batches is not None and used >= max_batches:
                break
            forward(batch)
            used += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return used


class _PreciseBatchNorm(pl.Callback):
    """Before each validation, :func:`recompute_batchnorm` on up to ``max_batches`` training batches."""

    def __init__(self, loader: DataLoader, max_batches: int) -> None:
        self.loader, self.max_batches = loader, max_batches

    def on_validation_epoch_start(self, trainer, module):
        from lightning.fabric.utilities.apply_func import move_data_to_device

        recompute_batchnorm(module.model, self.loader,
                            lambda batch: module.model.compute_loss(*move_data_to_device(batch, module.device)),
                            self.max_batches)


class _KeepBest(pl.Callback):
    def __init__(self) -> None:
        self.best, self.state, self.epoch, self.history = float("inf"), None, -1, []

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        v = float(trainer.callback_metrics["val_loss"])
        self.history.append(v)
        if v < self.best:
            self.best, self.epoch = v, trainer.current_epoch
            self.state = copy.deepcopy(module.model.state_dict())


@dataclass
class GeneratorFit:
    """Result of :func:`fit_generator`: the model (best validation weights), its validation loss, history."""

    model: StepwiseDecoder
    best_val_loss: float
    best_epoch: int
    epochs: int
    train_seconds: float
    val_history: list[float] = field(default_factory=list)


def fit_generator(model: StepwiseDecoder, train: tuple[Any, torch.Tensor], val: tuple[Any, torch.Tensor] | None = None,
                  max_epochs: int = 30, batch_size: int = 32, lr: float = 2e-3, weight_decay: float = 0.0,
                  patience: int = 5, grad_clip: float = 5.0, seed: int = 0,
                  precise_bn_batches: int = 0, progress: str | None = None) -> GeneratorFit:
    """Train a sequence generator by teacher forcing with Lightning; keep the best validation weights.

    Parameters
    ----------
    model : nn.Module
        Any model with ``compute_loss(source, targets)`` and ``pad_id`` (:class:`ShowAndTell`,
        :class:`ShowAttendTell`, :class:`Seq2SeqAttention`, :class:`VQABaseline`).
    train, val : (source, tokens)
        ``source``: a tensor (N, ...) or a tuple of tensors with first dimension N
        (``(values, lengths)`` for seq2seq); ``tokens`` (N, T) int64 ``<bos>`` ... ``<eos>``
        padded with 0, or class targets (N,). Without ``val`` the training data is used for selection.
    max_epochs, batch_size, lr, weight_decay, patience, grad_clip, seed : training settings
        (early stopping on validation loss after ``patience`` epochs without improvement).
    precise_bn_batches : int
        If > 0, recompute BatchNorm statistics on this many training batches
        before each validation (:func:`recompute_batchnorm`), so the validation
        loss that picks the epoch is that of the weights being validated.
    progress : str, optional
        Show a bar over the epochs on stderr with this label (commands that train several models).
    """
    for name, part in (("train", train), ("val", val)):
        if part is None:
            continue
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise ConfigError(f"{name} must be a pair (source, tokens), got {type(part).__name__}"
                              f"{f' of length {len(part)}' if isinstance(part, (tuple, list)) else ''}")
        if part[1].ndim not in (1, 2) or _length(part[0]) != len(part[1]):
            raise ShapeError(f"{name}: source has {_length(part[0])} items but tokens has shape {tuple(part[1].shape)}")
    if max_epochs < 1 or batch_size < 1:
        raise ConfigError(f"max_epochs and batch_size must be >= 1, got {max_epochs}, {batch_size}")
    if precise_bn_batches < 0:
        raise ConfigError(f"precise_bn_batches must be >= 0, got {precise_bn_batches}")
    pl.seed_everything(seed, workers=True, verbose=False)
    val = train if val is None else val
    g = torch.Generator().manual_seed(seed)
    train_collate = _IndexCollate(train[0], train[1], model.pad_id)
    train_dl = DataLoader(list(range(len(train[1]))), batch_size=batch_size, shuffle=True, generator=g,
                          collate_fn=train_collate)
    val_dl = DataLoader(list(range(len(val[1]))), batch_size=max(batch_size, 128),
                        collate_fn=_IndexCollate(val[0], val[1], model.pad_id))
    keep = _KeepBest()
    callbacks = [keep, pl.callbacks.EarlyStopping("val_loss", patience=patience)]
    if precise_bn_batches:
        bn_dl = DataLoader(list(range(len(train[1]))), batch_size=batch_size, shuffle=True,
                           generator=torch.Generator().manual_seed(seed + 1), collate_fn=train_collate)
        callbacks.insert(0, _PreciseBatchNorm(bn_dl, precise_bn_batches))
    if progress:
        callbacks.append(EpochProgress(progress))
    with quiet_lightning():  # no "GPU available" / tip banners
        trainer = pl.Trainer(max_epochs=max_epochs, accelerator="auto", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             gradient_clip_val=grad_clip, num_sanity_val_steps=0, deterministic=False,
                             callbacks=callbacks)
    module = SequenceGenerationModule(model, lr=lr, weight_decay=weight_decay)
    start = time.perf_counter()
    with quiet_lightning():
        trainer.fit(module, train_dl, val_dl)
    seconds = time.perf_counter() - start
    if keep.state is not None:
        model.load_state_dict(keep.state)
    model.cpu().eval()
    return GeneratorFit(model, keep.best, keep.epoch, trainer.current_epoch, seconds, keep.history)
