"""Training sequence generators (captioners, seq2seq, the VQA baseline) by teacher forcing.

They train through polymodal's one loop for in-memory deep models,
:func:`polymodal.training.estimator_loop.train_network` (device, seeding,
shuffled minibatches, Adam, gradient clipping, early stopping on the
validation loss with the best weights restored, progress bar); this module
adds what is particular to sequence targets: batches cut to their longest
non-padding sequence, a validation loss averaged over validation batches and,
optionally, BatchNorm statistics recomputed before each validation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from polymodal.errors import ConfigError, ShapeError
from polymodal.training.estimator_loop import TrainingResult, resolve_device, seed_from, seeded, train_network
from polymodal.translation.attention import StepwiseDecoder

__all__ = ["fit_generator", "recompute_batchnorm"]


def _length(source: Any) -> int:
    return len(source[0]) if isinstance(source, (tuple, list)) else len(source)


def _flatten(source: Any) -> tuple[list[Tensor], Any]:
    """The tensors of a (nested) tuple/list ``source`` and a spec to rebuild it."""
    if isinstance(source, (tuple, list)):
        leaves, specs = [], []
        for s in source:
            part, spec = _flatten(s)
            leaves += part
            specs.append((len(part), spec))
        return leaves, (type(source), specs)
    return [source], None


def _unflatten(leaves: list[Tensor], spec: Any) -> Any:
    if spec is None:
        return leaves[0]
    kind, specs, out, i = spec[0], spec[1], [], 0
    for n, sub in specs:
        out.append(_unflatten(leaves[i:i + n], sub))
        i += n
    return kind(out)


def _cut(source: Any, tokens: Tensor, pad_id: int) -> tuple[Any, Tensor]:
    """Cut token targets (N, T) to the longest non-padding sequence of the batch, and a
    ``(values, lengths)`` source to its longest length (class targets (N,) stay as they are)."""
    if tokens.ndim == 2:
        tokens = tokens[:, : int((tokens != pad_id).sum(1).max())]
    if isinstance(source, tuple) and len(source) == 2 and source[0].ndim >= 2 and source[1].ndim == 1 \
            and source[1].dtype == torch.long:
        source = (source[0][:, : int(source[1].max())], source[1])
    return source, tokens


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


def _check_pair(name: str, part: Any) -> None:
    if not isinstance(part, (tuple, list)) or len(part) != 2:
        raise ConfigError(f"{name} must be a pair (source, tokens), got {type(part).__name__}"
                          f"{f' of length {len(part)}' if isinstance(part, (tuple, list)) else ''}")
    if part[1].ndim not in (1, 2) or _length(part[0]) != len(part[1]):
        raise ShapeError(f"{name}: source has {_length(part[0])} items but tokens has shape {tuple(part[1].shape)}")


def fit_generator(model: StepwiseDecoder | nn.Module, train: tuple[Any, Tensor],
                  val: tuple[Any, Tensor] | None = None, *, max_epochs: int = 30, batch_size: int = 32,
                  lr: float = 2e-3, weight_decay: float = 0.0, n_iter_no_change: int = 5,
                  max_grad_norm: float | None = 5.0, random_state=0, device: str | torch.device | None = "auto",
                  precise_bn_batches: int = 0, progress: str | None = None) -> TrainingResult:
    """Train a sequence generator by teacher forcing; keep the weights of the best validation epoch.

    Minimises ``model.compute_loss(source, tokens)`` (the mean token
    cross-entropy for the captioners) with Adam over shuffled minibatches,
    each cut to its longest non-padding target, through
    :func:`~polymodal.training.estimator_loop.train_network`. After each epoch
    the validation loss (the mean of ``compute_loss`` over validation batches
    of ``max(batch_size, 128)``, weighted by their sizes) is computed in eval
    mode; training stops after ``n_iter_no_change`` epochs without a lower one
    and the best epoch's weights are restored. The model is trained in place
    and returned to the CPU in eval mode.

    Parameters
    ----------
    model : nn.Module
        Any model with ``compute_loss(source, targets)`` and ``pad_id`` (:class:`ShowAndTell`,
        :class:`ShowAttendTell`, :class:`Seq2SeqAttention`, :class:`VQABaseline`).
    train, val : (source, tokens)
        ``source``: a tensor (N, ...) or a tuple of tensors with first dimension N
        (``(values, lengths)`` for seq2seq); ``tokens`` (N, T) int64 ``<bos>`` ... ``<eos>``
        padded with ``model.pad_id``, or class targets (N,). Without ``val`` the training
        data is used for selection.
    max_epochs, batch_size, lr, weight_decay : int, int, float, float
        Epoch limit, minibatch size, Adam's learning rate and weight decay.
    n_iter_no_change : int
        Early stopping: epochs without a lower validation loss before training stops.
    max_grad_norm : float or None
        Clip the gradients' global 2-norm to this before each step (None: no clipping).
    random_state : int, RandomState or None
        Seeds the minibatch order and the dropout masks (the caller's global torch RNG
        state is restored afterwards).
    device : "auto" (CUDA when available), "cpu", "cuda", ...
    precise_bn_batches : int
        If > 0, recompute BatchNorm statistics on this many training batches
        before each validation (:func:`recompute_batchnorm`), so the validation
        loss that picks the epoch is that of the weights being validated.
    progress : str, optional
        Show a bar over the epochs on stderr (when it is a terminal) with this label.

    Returns
    -------
    TrainingResult
        Epochs run, per-epoch training and validation losses, ``best_epoch``
        (0-based) and ``best_val_loss``.
    """
    _check_pair("train", train)
    if val is not None:
        _check_pair("val", val)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if precise_bn_batches < 0:
        raise ConfigError(f"precise_bn_batches must be >= 0, got {precise_bn_batches}")
    val = train if val is None else val
    leaves, spec = _flatten(train[0])
    val_leaves, val_spec = _flatten(val[0])
    if len(val_leaves) != len(leaves):
        raise ShapeError(f"val source has {len(val_leaves)} tensors but train source has {len(leaves)}")
    pad_id, n = model.pad_id, len(train[1])
    seed, dev = seed_from(random_state), resolve_device(device)

    def loss(batch: list[Tensor], source_spec: Any = spec) -> Tensor:
        return model.compute_loss(*_cut(_unflatten(batch[:-1], source_spec), batch[-1], pad_id))

    bn_gen = torch.Generator().manual_seed(seed + 1)

    def val_loss(batch: list[Tensor]) -> float:
        if precise_bn_batches:
            order = torch.randperm(n, generator=bn_gen)
            batches = ([d[i].to(dev) for d in (*leaves, train[1])] for i in order.split(batch_size))
            recompute_batchnorm(model, batches, loss, precise_bn_batches)
        total, size = 0.0, max(batch_size, 128)
        for i in range(0, len(batch[-1]), size):
            part = [d[i:i + size] for d in batch]
            total += float(loss(part, val_spec)) * len(part[-1])
        return total / len(batch[-1])

    with seeded(seed):  # dropout masks
        fit = train_network(model, lambda _, batch: loss(batch), [*leaves, train[1]], max_epochs=max_epochs,
                            lr=lr, batch_size=batch_size, weight_decay=weight_decay, random_state=seed,
                            device=dev, verbose=progress is not None, desc=progress,
                            validation_data=[*val_leaves, val[1]], val_loss=val_loss,
                            n_iter_no_change=n_iter_no_change, max_grad_norm=max_grad_norm)
    model.cpu().eval()
    return fit
