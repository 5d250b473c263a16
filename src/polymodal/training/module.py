"""The Lightning module that trains any :class:`MultimodalModel` on any task."""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from polymodal.data.batch import Batch
from polymodal.training.model import ModelOutput, MultimodalModel
from polymodal.training.tasks import Task

__all__ = ["MultimodalLightningModule", "RNGStateCallback", "output_loss"]

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def output_loss(task: Task, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
    """The training loss: the task loss of the fused output, or - for
    decision-level fusion - the mean over branches of each branch's task loss
    on the samples where that branch's modality is present."""
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


class MultimodalLightningModule(pl.LightningModule):
    """Wraps model + task + optimiser; logs ``train_loss``, ``val_<metric>``
    and ``val_objective`` (the training loss on validation data).

    ``config`` (a plain dict) is saved in every checkpoint as the
    hyper-parameters, so ``polymodal evaluate`` can rebuild the model.
    """

    def __init__(self, model: MultimodalModel, task: Task, optim: dict[str, Any], config: dict[str, Any] | None = None):
        super().__init__()
        self.model = model
        self.task = task
        self.optim = dict(optim)
        self.save_hyperparameters({"config": config or {}}, logger=False)
        self._val_logits: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self._val_objective: list[tuple[float, int]] = []
        self._train_loss_sum = torch.zeros(())
        self._train_count = 0

    def forward(self, batch: Batch) -> ModelOutput:
        return self.model(batch)

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        # Batch knows how to move itself; Lightning's generic path walks (and
        # deep-copies) the dataclass field by field, ~0.5 ms per step
        if isinstance(batch, Batch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        output = self.model(batch)
        loss = output_loss(self.task, output, batch.target)
        # accumulated here and logged once per epoch: Lightning's per-step
        # self.log machinery costs more than a small model's step
        n = len(batch)
        self._train_loss_sum = self._train_loss_sum + loss.detach() * n
        self._train_count += n
        return loss

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum = torch.zeros((), device=self.device)
        self._train_count = 0

    def on_train_epoch_end(self) -> None:
        if self._train_count:
            self.log("train_loss", self._train_loss_sum / self._train_count, sync_dist=self.trainer.world_size > 1)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        output = self.model(batch)
        self._val_logits.append(output.logits.detach())
        self._val_targets.append(batch.target.detach())
        self._val_objective.append((output_loss(self.task, output, batch.target).item(), len(batch)))

    def on_validation_epoch_end(self) -> None:
        if not self._val_logits:
            return
        logits = torch.cat(self._val_logits)
        target = torch.cat(self._val_targets)
        objective = sum(v * n for v, n in self._val_objective) / sum(n for _, n in self._val_objective)
        self._val_logits.clear()
        self._val_targets.clear()
        self._val_objective.clear()
        if self.trainer.world_size > 1:
            logits = self.all_gather(logits).flatten(0, 1)
            target = self.all_gather(target).flatten(0, 1)
        values = self.task.metrics(logits.float(), target)
        self.log_dict({f"val_{k}": float(v) for k, v in values.items()}, sync_dist=False, rank_zero_only=False)
        # the training objective on validation data: equals val_loss for one
        # prediction; for decision-level fusion the mean of the branch losses
        self.log("val_objective", objective, sync_dist=self.trainer.world_size > 1)

    def configure_optimizers(self):
        name = self.optim.get("name", "adam")
        kwargs = {"lr": self.optim.get("lr", 1e-3), "weight_decay": self.optim.get("weight_decay", 0.0)}
        if name in ("sgd", "rmsprop"):
            kwargs["momentum"] = self.optim.get("momentum", 0.0)
        return _OPTIMIZERS[name](self.parameters(), **kwargs)


class RNGStateCallback(pl.Callback):
    """Saves and restores the torch, numpy and Python RNG states with every
    checkpoint, so a resumed run draws the same dropout masks (and anything
    else random) as an uninterrupted one."""

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        version, state, extra = random.getstate()
        out = {
            "torch": torch.get_rng_state(),
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": {"version": version, "state": list(state), "gauss": extra},
        }
        if torch.cuda.is_available():
            out["cuda"] = torch.cuda.get_rng_state_all()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
        p = state["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
