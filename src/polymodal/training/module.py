"""The Lightning module that trains any :class:`MultimodalModel` on any task."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from polymodal.data.batch import Batch
from polymodal.data.preprocessing import (check_same_preprocessing, preprocessing_state, standardize_batch,
                                          standardizer_from_state)
from polymodal.data.transforms import Standardizer
from polymodal.errors import CheckpointError, ConfigError
from polymodal.training.checkpoint import load_checkpoint_file, rng_state, set_rng_state
from polymodal.training.model import ModelOutput, MultimodalModel
from polymodal.training.objective import build_optimizer, output_loss
from polymodal.training.schedulers import build_lr_scheduler
from polymodal.training.tasks import Task, get_task

__all__ = ["MultimodalLightningModule", "RNGStateCallback"]

_PREPROCESSING_KEY = "polymodal_preprocessing"  # the checkpoint entry holding the fitted preprocessing
_INPUT_MODES = ("auto", "raw", "preprocessed")


class MultimodalLightningModule(pl.LightningModule):
    """Wraps model + task + optimiser (+ an optional LR scheduler) for any
    Lightning ``Trainer``; logs ``train_loss``, ``val_<metric>``,
    ``val_objective`` (the training loss on validation data) and
    ``test_<metric>``; ``predict_step`` returns the batch's :class:`ModelOutput`.

    Everything needed to rebuild it is saved as hyper-parameters, so
    ``MultimodalLightningModule.load_from_checkpoint(path)`` needs no other
    input when the model was built from a config (by :func:`~polymodal.fit`).
    A model composed in Python is not rebuilt: pass the same architecture,
    ``load_from_checkpoint(path, model=MultimodalModel(...))``.

    **Inputs are raw data.** The fitted preprocessing of the training data
    (the :class:`~polymodal.data.transforms.Standardizer` statistics per
    modality) is stored in every checkpoint and restored by
    ``load_from_checkpoint`` (``module.standardizer``); every step applies it
    to raw batches, so ``Trainer.predict``/``test`` on raw data give the
    engine's own predictions. Loaders over a
    :class:`~polymodal.data.datamodule.MultimodalDataModule`'s splits are
    recognised as standardised already (their datasets carry
    ``preprocessing``) and passed through - or refused with a
    :class:`ConfigError` naming the modality when they were standardised
    with other statistics. Other loaders are taken as raw; set
    ``module.input_preprocessing = "preprocessed"`` for a loader of your own
    over data you standardised with ``module.standardizer`` (``"raw"`` forces
    standardisation, ``"auto"`` is the default). A checkpoint written before
    the preprocessing was stored holds none, and nothing is applied.

    Parameters
    ----------
    model : MultimodalModel, optional
        Built from ``config`` and ``model_inputs`` when omitted.
    task : Task or str
        A task, or its name (``"classification"``; then ``n_outputs`` is needed).
    optim : dict
        ``{"name": "adam" | "adamw" | "sgd" | "rmsprop", "lr", "weight_decay", "momentum"}``.
    config : dict, optional
        The resolved experiment config (what :func:`~polymodal.fit` trains).
    lr_scheduler : dict, optional
        An ``lr_scheduler`` config section, e.g. ``{"name": "StepLR", "step_size": 5}``.
    monitor : str
        The metric ``ReduceLROnPlateau`` watches when the scheduler names none.
    n_outputs : int, optional
        Model outputs (with a task name).
    model_inputs : dict, optional
        ``{modality: {"in_features": int, "shape": [...]}}``: what
        :func:`~polymodal.training.engine.build_model_from_inputs` needs
        besides the config.
    standardizer : Standardizer, optional
        The training data's fitted statistics (``datamodule.standardizer``);
        taken from the training loader's data when omitted.

    Examples
    --------
    >>> from polymodal.encoders import MLP
    >>> from polymodal.fusion import ConcatFusion
    >>> model = MultimodalModel({"a": MLP(4, 8, hidden=[])}, ConcatFusion({"a": 8}), MLP(8, 3, hidden=[]))
    >>> module = MultimodalLightningModule(model, "classification", {"name": "adam", "lr": 0.01}, n_outputs=3)
    >>> module.hparams["task"], module.hparams["n_outputs"]
    ('classification', 3)
    """

    def __init__(self, model: MultimodalModel | None = None, task: Task | str | None = None,
                 optim: dict[str, Any] | None = None, config: dict[str, Any] | None = None, *,
                 lr_scheduler: dict[str, Any] | None = None, monitor: str = "val_loss",
                 n_outputs: int | None = None, model_inputs: dict[str, Any] | None = None,
                 standardizer: Standardizer | None = None):
        super().__init__()
        config = dict(config or {})
        if isinstance(task, Task):
            n_outputs = task.n_outputs
        elif task is None or n_outputs is None:
            raise ConfigError("MultimodalLightningModule needs task=Task(...), or task=<name> with n_outputs")
        else:
            task = get_task(task, int(n_outputs))
        if model is None:
            model = _rebuild_model(config, model_inputs, task)
        self.model = model
        self.task = task
        self.optim = dict(optim or {})
        self.lr_scheduler = dict(lr_scheduler) if lr_scheduler else None
        self.monitor = monitor
        self.save_hyperparameters({
            "config": config, "task": task.name, "n_outputs": int(n_outputs), "optim": self.optim,
            "lr_scheduler": self.lr_scheduler, "monitor": monitor, "model_inputs": model_inputs,
        }, logger=False)
        # None: unknown (no data seen, or an old checkpoint); else preprocessing_state(...)
        self.preprocessing: dict[str, Any] | None = None if standardizer is None else preprocessing_state(standardizer)
        self.input_preprocessing = "auto"
        self._input_mode: dict[str, str] = {}
        self._outputs: dict[str, list] = {"val": [], "test": []}
        self._train_loss_sum = torch.zeros(())
        self._train_count = 0

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, hparams_file=None, strict=None,
                             weights_only=None, *, require_seal: bool = False, **kwargs):
        """Rebuild the module (model included) from a checkpoint and load its weights.

        The file is read with ``weights_only=True`` (no code runs); a polymodal
        seal, when there is one, is verified (``require_seal=True`` refuses a
        file without one). ``kwargs`` replace saved hyper-parameters
        (``model=...`` for a model composed in Python)."""
        checkpoint = load_checkpoint_file(checkpoint_path, map_location or "cpu", require_seal=require_seal)
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        if "task" not in hparams and hparams.get("config"):  # written before the task was saved
            hparams.update(_task_from_config(hparams["config"]))
        hparams.update(kwargs)
        if hparams.get("model") is None and not hparams.get("config"):
            raise CheckpointError(
                f"{checkpoint_path} was written for a MultimodalModel composed in Python (it holds no config to "
                "rebuild it from); pass the same architecture: "
                "MultimodalLightningModule.load_from_checkpoint(path, model=MultimodalModel(...))")
        module = cls(**hparams)
        module.on_load_checkpoint(checkpoint)
        module.load_state_dict(checkpoint["state_dict"], strict=True if strict is None else strict)
        return module

    @property
    def standardizer(self) -> Standardizer | None:
        """The training data's standardisation statistics (``None``: none, or not known)."""
        return standardizer_from_state(self.preprocessing)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.preprocessing is not None:
            checkpoint[_PREPROCESSING_KEY] = self.preprocessing

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint.get(_PREPROCESSING_KEY) is not None:
            self.preprocessing = checkpoint[_PREPROCESSING_KEY]

    def _stage_loaders(self, stage: str) -> list[Any]:
        trainer = self._trainer
        if trainer is None:
            return []
        loaders = {"train": lambda: trainer.train_dataloader, "val": lambda: trainer.val_dataloaders,
                   "test": lambda: trainer.test_dataloaders, "predict": lambda: trainer.predict_dataloaders}[stage]()
        if loaders is None:
            return []
        if isinstance(loaders, dict):
            return list(loaders.values())
        return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]

    def _detect_input_mode(self, stage: str) -> str:
        """``"raw"`` (apply the stored preprocessing) or ``"preprocessed"`` for this stage's loaders."""
        if self.input_preprocessing not in _INPUT_MODES:
            raise ConfigError(f"input_preprocessing must be one of {_INPUT_MODES}, got {self.input_preprocessing!r}")
        if self.input_preprocessing != "auto":
            return self.input_preprocessing
        marks = [getattr(getattr(loader, "dataset", None), "preprocessing", None)
                 for loader in self._stage_loaders(stage)]
        if self.preprocessing is None and stage == "train" and marks and marks[0] is not None:
            self.preprocessing = marks[0]  # a user's Trainer on a DataModule: remember what the data went through
        standardised = [bool(mark and mark.get("standardize")) for mark in marks]
        if not any(standardised):
            return "raw"
        if not all(standardised):
            raise ConfigError(f"the {stage} loaders mix standardised MultimodalDataModule splits with other data; "
                              "set module.input_preprocessing to 'raw' or 'preprocessed'")
        if self.preprocessing is not None:
            for mark in marks:
                check_same_preprocessing(self.preprocessing, mark, f"the {stage} data")
        return "preprocessed"

    def _prepare(self, batch: Batch, stage: str) -> Batch:
        """``batch`` standardised with the stored statistics when its loader serves raw data."""
        mode = self._input_mode.get(stage)
        if mode is None:
            mode = self._input_mode[stage] = self._detect_input_mode(stage)
        if mode == "raw" and self.preprocessing is not None:
            return standardize_batch(batch, self.preprocessing)
        return batch

    def on_train_start(self) -> None:
        self._input_mode.pop("train", None)

    def on_validation_start(self) -> None:
        self._input_mode.pop("val", None)

    def on_test_start(self) -> None:
        self._input_mode.pop("test", None)

    def on_predict_start(self) -> None:
        self._input_mode.pop("predict", None)

    def forward(self, batch: Batch) -> ModelOutput:
        return self.model(batch)

    # no transfer_batch_to_device override: Lightning's move_data_to_device calls
    # Batch.to itself (it has a ``to`` method), and an override here would make
    # Lightning warn whenever a user passes a DataModule

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        batch = self._prepare(batch, "train")
        output = self.model(batch)
        loss = output_loss(self.task, output, batch.target)
        # accumulated here and logged once per epoch: Lightning's per-step
        # self.log machinery costs more than a small model's step
        n = len(batch)
        self._train_loss_sum = self._train_loss_sum + loss.detach().float() * n
        self._train_count += n
        return loss

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum = torch.zeros((), device=self.device)
        self._train_count = 0

    def on_train_epoch_end(self) -> None:
        if self._train_count:
            self.log("train_loss", self._train_loss_sum / self._train_count, sync_dist=self.trainer.world_size > 1)

    def _collect(self, stage: str, batch: Batch) -> None:
        batch = self._prepare(batch, stage)
        output = self.model(batch)
        loss = output_loss(self.task, output, batch.target).float().item()
        self._outputs[stage].append((output.logits.detach(), batch.target.detach(), loss, len(batch)))

    def _log_epoch(self, stage: str) -> None:
        rows = self._outputs[stage]
        if not rows:
            return
        logits = torch.cat([r[0] for r in rows])
        target = torch.cat([r[1] for r in rows])
        objective = sum(r[2] * r[3] for r in rows) / sum(r[3] for r in rows)
        rows.clear()
        if self.trainer.world_size > 1:
            logits = self.all_gather(logits).flatten(0, 1)
            target = self.all_gather(target).flatten(0, 1)
        values = self.task.metrics(logits.float(), target)
        self.log_dict({f"{stage}_{k}": float(v) for k, v in values.items()}, sync_dist=False, rank_zero_only=False)
        # the training objective on held-out data: equals <stage>_loss for one
        # prediction; for decision-level fusion the mean of the branch losses
        self.log(f"{stage}_objective", objective, sync_dist=self.trainer.world_size > 1)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._collect("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._collect("test", batch)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> ModelOutput:
        return self.model(self._prepare(batch, "predict"))

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), self.optim)
        if not self.lr_scheduler:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": build_lr_scheduler(optimizer, self.lr_scheduler, self.monitor)}


def _task_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """Task name and output count for a checkpoint saved before they were stored (loads the data)."""
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_datamodule

    datamodule = build_datamodule(parse_config(config))
    return {"task": config.get("task") or datamodule.dataset.task, "n_outputs": datamodule.dataset.n_outputs}


def _rebuild_model(config: dict[str, Any], model_inputs: dict[str, Any] | None, task: Task) -> MultimodalModel:
    """The model ``config`` describes, for the inputs ``model_inputs`` (or, for
    checkpoints written before those were stored, for the config's dataset)."""
    if not config:
        raise ConfigError("MultimodalLightningModule needs a model, or a config to build one from")
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_datamodule, build_model_from_inputs, model_inputs_of
    from polymodal.core.registry import load_builtin_parts

    load_builtin_parts()
    parsed = parse_config(config)
    if model_inputs is None:
        model_inputs = model_inputs_of(build_datamodule(parsed).specs)
    return build_model_from_inputs(parsed, model_inputs, task.n_outputs, task.name)


class RNGStateCallback(pl.Callback):
    """Saves and restores the torch, numpy and Python RNG states with every
    checkpoint, so a resumed run draws the same dropout masks (and anything
    else random) as an uninterrupted one."""

    def state_dict(self) -> dict[str, Any]:
        return rng_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng_state(state)
