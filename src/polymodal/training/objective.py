"""What one training step optimises, shared by both training loops (Lightning-free).

:func:`output_loss` (the loss of a :class:`~polymodal.core.outputs.ModelOutput`),
:data:`OPTIMIZERS` and :func:`build_optimizer` (the ``optim`` config section),
used by the fast single-process loop (:mod:`polymodal.training.fast_loop`) and by
the Lightning module (:mod:`polymodal.training.module`); importing this module
does not import Lightning.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["OPTIMIZERS", "build_optimizer", "output_loss"]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def output_loss(task, output, target: torch.Tensor) -> torch.Tensor:
    """The training loss: the task loss of the fused output, or - for
    decision-level fusion - the mean over branches of each branch's task loss
    on the samples where that branch's modality is present.

    Parameters
    ----------
    task : Task
        Its ``loss(logits, target)`` is applied (:mod:`polymodal.training.tasks`).
    output : ModelOutput
        ``logits`` (N, n_outputs); for decision-level fusion ``branch_logits``
        {branch: (N, n_outputs)} and ``branch_present`` {branch: (N,) bool}.
    target : Tensor
        (N,) class indices or (N, n_outputs) targets, as the task expects.

    Examples
    --------
    >>> import torch
    >>> from polymodal.core.outputs import ModelOutput
    >>> from polymodal.training.tasks import get_task
    >>> task = get_task("classification", 2)
    >>> out = ModelOutput(torch.zeros(2, 2), {"a": torch.zeros(2, 2), "b": torch.tensor([[9.0, 0.0], [0.0, 0.0]])},
    ...                   {"a": torch.tensor([True, True]), "b": torch.tensor([True, False])})
    >>> round(float(output_loss(task, out, torch.tensor([0, 1]))), 4)  # mean of log 2 and branch b's one sample
    0.3466
    """
    if not output.branch_logits:
        return task.loss(output.logits, target)
    losses = []
    for name, logits in output.branch_logits.items():
        mask = output.branch_present.get(name)
        if mask is not None and not bool(mask.all()):
            if not bool(mask.any()):
                continue
            logits, branch_target = logits[mask], target[mask]
        else:
            branch_target = target
        losses.append(task.loss(logits, branch_target))
    return torch.stack(losses).mean()


def build_optimizer(parameters, optim: dict[str, Any], foreach: bool | None = None,
                    lean: bool = False) -> torch.optim.Optimizer:
    """The optimiser an ``optim`` config section describes: ``{"name": "adam" | "adamw" | "sgd" |
    "rmsprop", "lr" (1e-3), "weight_decay" (0), "momentum" (0; sgd and rmsprop)}``; ``foreach``
    as torch's (``True``: multi-tensor kernels, ``None``: torch's default). ``lean=True`` (the fast
    loop's) gives :mod:`polymodal.training.optimizers`' subclass of the same torch class: the
    ``foreach=True`` arithmetic bit for bit, without importing ``torch._dynamo`` (``foreach`` is ignored).

    Examples
    --------
    >>> import torch
    >>> opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], {"name": "sgd", "lr": 0.1, "momentum": 0.9})
    >>> type(opt).__name__, opt.defaults["lr"], opt.defaults["momentum"]
    ('SGD', 0.1, 0.9)
    >>> lean = build_optimizer([torch.nn.Parameter(torch.zeros(2))], {"name": "adam"}, lean=True)
    >>> type(lean).__module__, isinstance(lean, torch.optim.Adam)
    ('polymodal.training.optimizers', True)
    """
    name = optim.get("name", "adam")
    kwargs: dict[str, Any] = {"lr": optim.get("lr", 1e-3), "weight_decay": optim.get("weight_decay", 0.0)}
    if name in ("sgd", "rmsprop"):
        kwargs["momentum"] = optim.get("momentum", 0.0)
    if lean:
        from polymodal.training.optimizers import LEAN_OPTIMIZERS

        return LEAN_OPTIMIZERS[name](parameters, **kwargs)
    if foreach is not None:
        kwargs["foreach"] = foreach
    return OPTIMIZERS[name](parameters, **kwargs)
