"""The training engine: config -> data, model, Lightning trainer -> results.

``fit`` is the one entry point used by the CLI, the demo and the benchmarks:
seeded, best-checkpoint selection on validation, early stopping, CSV logs
(and TensorBoard, MLflow or W&B: ``trainer.logger``), extra callbacks,
an LR scheduler, atomic checkpoints, exact resume, run provenance
(``config.yaml``, ``environment.json``, ``command.txt``), and any Lightning
accelerator/strategy/argument (``trainer.accelerator=gpu trainer.devices=4
trainer.strategy=ddp trainer.accumulate_grad_batches=2``) with no code change.

``fit`` reads as its steps: :func:`build_callbacks`, :func:`build_trainer`
(which calls :func:`~polymodal.training.loggers.build_loggers`), then
``trainer.fit`` inside :func:`~polymodal.training.console.quiet_lightning`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml

from polymodal.data.catalog import load_dataset
from polymodal.data.multimodal_splits import MultimodalSplits
from polymodal.data.preprocessing import standardizer_from_state  # no scikit-learn until a Standardizer is asked for
from polymodal.errors import CheckpointError, ConfigError
from polymodal.training.checkpoint import atomic_save, atomic_write_text, load_checkpoint_file, run_state
from polymodal.training.config import ExperimentConfig, parse_config
from polymodal.training.fast_loop import fit_fast, lightning_needed
from polymodal.training.loggers import check_loggers
from polymodal.training.model import ModelOutput, MultimodalModel
from polymodal.core.interfaces import is_decision_level
from polymodal.core.registry import build
from polymodal.training.resume import check_resume_config, check_state_fits, is_ddp_worker, replace_run
from polymodal.training.provenance import write_provenance
from polymodal.training.schedulers import check_lr_scheduler
from polymodal.training.seeding import seed_everything
from polymodal.training.tasks import Task, check_monitor, get_task

if TYPE_CHECKING:  # Lightning is imported only by runs that need its Trainer (fast_loop.lightning_needed)
    import lightning.pytorch as pl

__all__ = ["FitResult", "build_datamodule", "build_model", "build_model_from_inputs", "model_inputs_of",
           "build_callbacks", "build_trainer", "fit", "evaluate", "predict", "load_trained"]

logger = logging.getLogger("polymodal")


@dataclass
class FitResult:
    """What :func:`fit` returns (on the global-zero process)."""

    model: MultimodalModel
    task: Task
    config: ExperimentConfig
    run_dir: Path
    best_checkpoint: Path | None
    val_metrics: dict[str, float]
    test_metrics: dict[str, float]
    train_seconds: float
    epochs: int
    n_parameters: int
    datamodule: MultimodalSplits = field(repr=False)
    already_finished: bool = False  # a resume found the run finished and did not retrain


def build_datamodule(config: ExperimentConfig, dataset=None, standardizer=None) -> MultimodalSplits:
    """The data module a config describes (``dataset`` replaces ``data.name``;
    ``standardizer``, a trained model's statistics, replaces fitting them)."""
    d = config.data
    return MultimodalSplits(
        dataset if dataset is not None else load_dataset(d.name, **d.options),
        modalities=d.modalities,
        batch_size=d.batch_size,
        eval_batch_size=d.eval_batch_size,
        val_size=d.val_size,
        test_size=d.test_size,
        seed=config.seed,
        standardize=d.standardize,
        num_workers=d.num_workers,
        standardizer=standardizer,
    )


def _data_task_model(config: ExperimentConfig, dataset=None,
                     standardizer=None) -> tuple[MultimodalSplits, Task, MultimodalModel]:
    """The data module, task and freshly built model a config describes."""
    datamodule = build_datamodule(config, dataset, standardizer)
    task_name = config.task or datamodule.dataset.task
    n_outputs = datamodule.dataset.n_outputs
    model = build_model(config, datamodule.specs, n_outputs, task_name)
    return datamodule, get_task(task_name, n_outputs), model


def model_inputs_of(specs: dict) -> dict[str, dict[str, Any]]:
    """What the model needs to know of each modality: ``{name: {"in_features",
    "shape"}}`` (per-step features for sequences, the flattened size otherwise).
    Saved in checkpoints, so the model can be rebuilt without the data."""
    inputs = {}
    for name, spec in specs.items():
        if spec.kind == "sequence" or spec.variable_length:
            in_features = spec.dim  # per-step features of (T, d)
        else:
            in_features = 1
            for size in spec.shape:
                in_features *= size
        inputs[name] = {"in_features": int(in_features), "shape": list(spec.shape)}
    return inputs


def build_model(config: ExperimentConfig, specs: dict, n_outputs: int, task: str) -> MultimodalModel:
    """Build encoders, fusion and head by registry name from ``config.model``."""
    return build_model_from_inputs(config, model_inputs_of(specs), n_outputs, task)


def build_model_from_inputs(config: ExperimentConfig, inputs: dict[str, dict[str, Any]], n_outputs: int,
                            task: str) -> MultimodalModel:
    """:func:`build_model` from :func:`model_inputs_of`'s summary instead of the dataset's specs."""
    m = config.model
    unknown = [k for k in m.encoders if k not in inputs]
    if unknown:
        raise ConfigError(f"config key 'model.encoders.{unknown[0]}': unknown modality; the data has {list(inputs)}")
    encoders = {}
    for name, info in inputs.items():
        where = f"model.encoders.{name}" if name in m.encoders else "model.encoder"
        encoders[name] = build("encoder", m.encoders.get(name, m.encoder), where=where,
                               in_features=info["in_features"])
    enc_out = {name: int(e.out_features) for name, e in encoders.items()}
    fusion = build("fusion", m.fusion, where="model.fusion", in_features=enc_out, n_outputs=n_outputs, task=task)
    head = None
    if is_decision_level(fusion):
        if m.head is not None:
            raise ConfigError(
                f"config key 'model.head' must be null: fusion {m.fusion['name']!r} predicts per branch itself "
                "(set its branch predictor with model.fusion.head)"
            )
    else:
        if m.head is None:
            head = build("head", {"name": "mlp", "hidden": []}, where="model.head",
                         in_features=fusion.out_features, out_features=n_outputs)
        else:
            head = build("head", m.head, where="model.head", in_features=fusion.out_features, out_features=n_outputs)
    return MultimodalModel(encoders, fusion, head, input_shapes={n: tuple(i["shape"]) for n, i in inputs.items()})


@torch.no_grad()
def predict(model: MultimodalModel, loader, device: str | torch.device = "cpu", drop: tuple[str, ...] = ()):
    """Run ``model`` over ``loader``; returns ``(output, target)`` concatenated.
    ``drop`` names modalities to remove (missing at test time)."""
    model.eval().to(device)
    outputs, targets = [], []
    for batch in loader:
        for modality in drop:
            batch = batch.drop(modality)
        outputs.append(model(batch.to(device)))
        targets.append(batch.target)
    merged = ModelOutput(
        torch.cat([o.logits.cpu() for o in outputs]),
        {b: torch.cat([o.branch_logits[b].cpu() for o in outputs]) for b in outputs[0].branch_logits},
        {b: torch.cat([o.branch_present[b].cpu() for o in outputs]) for b in outputs[0].branch_present},
    )
    return merged, torch.cat(targets)


def evaluate(model: MultimodalModel, task: Task, loader, drop: tuple[str, ...] = ()) -> dict[str, float]:
    """Task metrics of ``model`` on ``loader`` (optionally with modalities dropped)."""
    output, target = predict(model, loader, drop=drop)
    return task.metrics(output.logits.float(), target)


def default_monitor(task: Task, decision_level: bool, has_val: bool) -> tuple[str, str]:
    """The metric that picks the best checkpoint and drives early stopping.

    The task's validation metric (accuracy, loss, macro-F1), except for
    decision-level fusion, whose branches are trained on their own losses:
    there the fused accuracy saturates while weak branches are still
    undertrained (on mfeat it peaks ~5 epochs in, leaving the `mor` branch
    at 0.58 accuracy where it reaches 0.70 alone), so the mean branch loss on
    validation data (``val_objective``) is monitored instead.
    """
    if not has_val:
        return "train_loss", "min"
    if decision_level:
        return "val_objective", "min"
    return task.monitor, task.mode


def run_monitor(config: ExperimentConfig, task: Task, has_val: bool, decision_level: bool = False) -> tuple[str, str]:
    """The monitored metric and its mode: ``trainer.monitor`` or :func:`default_monitor`."""
    if config.trainer.monitor:
        monitor = config.trainer.monitor
        return monitor, "max" if any(k in monitor for k in ("accuracy", "f1", "r2", "pearson")) else "min"
    return default_monitor(task, decision_level, has_val)


def build_callbacks(config: ExperimentConfig, run_dir: Path, monitor: str, mode: str) -> list[pl.Callback]:
    """The run's checkpoints (sealed ``best.ckpt``/``last.ckpt`` + ``metrics.csv``),
    RNG state, early stopping, the progress bar, then ``trainer.callbacks``."""
    from polymodal.training.console import StderrProgressBar
    from polymodal.training.loggers import build_callbacks as build_user_callbacks
    from polymodal.training.module import RNGStateCallback
    from polymodal.training.run_checkpoints import ResumableEarlyStopping, RunCheckpoints

    t = config.trainer
    callbacks: list[pl.Callback] = [
        RunCheckpoints(run_dir / "checkpoints", run_dir / "logs" / "metrics.csv", monitor, mode,
                       every_n_epochs=t.checkpoint_every_n_epochs, min_interval_s=t.checkpoint_min_interval_s),
        RNGStateCallback(),
    ]
    if t.patience is not None:
        callbacks.append(ResumableEarlyStopping(monitor=monitor, mode=mode, patience=t.patience))
    if t.progress:
        callbacks.append(StderrProgressBar(leave=False))
    return callbacks + build_user_callbacks(t.callbacks)


def build_trainer(config: ExperimentConfig, run_dir: Path, callbacks: list[pl.Callback], has_val: bool) -> pl.Trainer:
    """The Lightning ``Trainer`` of a run: the typed ``trainer`` keys, the
    loggers of ``trainer.logger``, then every other ``trainer`` key as given."""
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from polymodal.training.checkpoint_io import AtomicCheckpointIO
    from polymodal.training.loggers import build_loggers

    t = config.trainer
    loggers = build_loggers(t.logger, run_dir, Path(config.output_dir), config.name)
    kwargs = dict(
        max_epochs=t.max_epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=t.precision,
        deterministic=t.deterministic,
        gradient_clip_val=t.gradient_clip_val,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        # RunCheckpoints writes logs/metrics.csv from the history stored in the checkpoints
        logger=loggers or False,
        enable_progress_bar=t.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_val else 0,
        default_root_dir=str(run_dir),
    )
    kwargs.update(t.passthrough)
    if not has_val:
        kwargs["limit_val_batches"] = 0
    try:
        return pl.Trainer(**kwargs)
    except (TypeError, ValueError, MisconfigurationException) as error:
        keys = ", ".join(f"{k}={v!r}" for k, v in t.passthrough.items()) or "the typed keys"
        raise ConfigError(f"config key 'trainer' ({keys}): Lightning refused it: {error}") from None


def _device(trainer: pl.Trainer) -> str:
    device = trainer.strategy.root_device
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    if trainer.world_size > 1:
        name += f" x {trainer.world_size} processes"
    return name


def _fit_post_hoc(model: MultimodalModel, datamodule: MultimodalSplits) -> None:
    """Fit parts trained on held-out predictions (late fusion's learned combiner)."""
    if getattr(model.fusion, "needs_fit", False):
        if len(datamodule.val_set) == 0:
            raise ConfigError("combine='learned' needs a validation split (data.val_size > 0)")
        output, target = predict(model, datamodule.val_dataloader())
        model.fusion.fit_combiner(output.branch_logits, output.branch_present, target)


def _has_checkpoints(run_dir: Path) -> bool:
    folder = run_dir / "checkpoints"
    return folder.is_dir() and any(p.suffix == ".ckpt" for p in folder.iterdir())


def _remove_temporaries(folder: Path) -> None:
    """Delete ``.<name>.*.tmp`` files a killed atomic write left behind."""
    if folder.is_dir():
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def _resume_point(run_dir: Path, resume: bool | str | Path) -> tuple[Path | None, dict | None, dict]:
    """``(checkpoint path, checkpoint, stored config)`` to resume from.

    ``resume=True``: the latest completed epoch on disk: ``last.ckpt``, or
    ``best.ckpt`` when it is newer (``checkpoint_every_n_epochs > 1``,
    ``checkpoint_min_interval_s`` not yet passed, or a kill between the two
    writes); the path is ``None`` for a run killed before any checkpoint
    (it restarts from scratch)."""
    if isinstance(resume, bool):
        folder = run_dir / "checkpoints"
        found = [(p, load_checkpoint_file(p)) for p in (folder / "last.ckpt", folder / "best.ckpt") if p.exists()]
        if not found:
            stored = run_dir / "config.yaml"
            if stored.is_file():  # killed before its first epoch ended
                try:
                    return None, None, yaml.safe_load(stored.read_text()) or {}
                except yaml.YAMLError as error:
                    raise ConfigError(f"the run's stored config {stored} is not valid YAML: {error}") from None
            raise CheckpointError(f"nothing to resume: {folder / 'last.ckpt'} does not exist "
                                  "(start the run without --resume)")
        path, checkpoint = max(found, key=lambda item: (run_state(item[1]) or {}).get("epochs_completed", -1))
    else:
        path = Path(resume)
        checkpoint = load_checkpoint_file(path)
    stored = (checkpoint.get("hyper_parameters") or {}).get("config")
    if not stored:
        raise CheckpointError(f"{path} holds no polymodal config (was it written by polymodal.fit?)")
    return path, checkpoint, stored


def fit(
    config: ExperimentConfig | dict[str, Any] | None = None,
    *,
    dataset=None,
    resume: bool | str | Path = False,
    overwrite: bool = False,
    resume_with_changes: bool = False,
    verbose: bool = False,
) -> FitResult | None:
    """Train the experiment ``config`` describes; evaluate the best checkpoint.

    The run folder ``<output_dir>/<name>`` holds ``config.yaml`` (the resolved
    config: ``polymodal train <run>/config.yaml`` repeats the run),
    ``environment.json`` (Python, torch, Lightning, numpy and polymodal
    versions, git commit and dirty flag, device), ``command.txt``,
    ``checkpoints/best.ckpt`` (best epoch), ``checkpoints/last.ckpt`` (latest
    completed epoch), ``logs/metrics.csv`` (plus the logs of ``trainer.logger``)
    and ``result.json``.

    Parameters
    ----------
    config : ExperimentConfig or dict
        Validated with :func:`parse_config` first.
    dataset : MultimodalDataset, optional
        Use this dataset instead of ``config.data.name``.
    resume : bool or path
        Continue from ``<run_dir>/checkpoints/last.ckpt`` (True) or a path. The
        config must equal the stored one (:class:`ConfigError` lists the
        differing keys); a finished run is not retrained (the result has
        ``already_finished=True``).
    overwrite : bool
        Replace an existing run. Config, data and model are validated first;
        the new run is trained in ``.<name>.new`` beside the old one and
        swapped in only when it is complete, so the old run survives any failure.
    resume_with_changes : bool
        Allow a resume whose config differs only in
        :data:`~polymodal.training.resume.SAFE_RESUME_CHANGES` (``max_epochs``,
        ``patience``, ``num_workers``, ...).
    verbose : bool
        Show Lightning's banners, tips and known-harmless warnings
        (:func:`~polymodal.training.console.quiet_lightning` hides them).

    Returns ``None`` on non-zero DDP ranks.
    """
    config = parse_config(config)
    run_dir = Path(config.output_dir) / config.name
    worker = is_ddp_worker()
    if resume and overwrite:
        raise ConfigError("resume and overwrite exclude each other: resume continues a run, overwrite replaces it")
    ckpt_path = checkpoint = None
    changed: list[str] = []
    if resume:
        ckpt_path, checkpoint, stored = _resume_point(run_dir, resume)
        changed = check_resume_config(stored, config.model_dump(mode="json"), str(ckpt_path or run_dir),
                                      resume_with_changes)
    elif _has_checkpoints(run_dir) and not overwrite:
        raise CheckpointError(
            f"run folder {run_dir} already has checkpoints; resume it (--resume), "
            "pass --overwrite, or choose another name/output_dir"
        )

    # everything is built and checked before the run folder is touched
    seed_everything(config.seed, workers=True)  # what lightning.seed_everything does, without importing it
    datamodule, task, model = _data_task_model(config, dataset)
    task.check_target(torch.as_tensor(datamodule.dataset.target))
    has_val = len(datamodule.val_set) > 0
    check_monitor(task, config.trainer.monitor, has_val)
    check_loggers(config.trainer.logger)
    check_lr_scheduler(config.lr_scheduler.model_dump() if config.lr_scheduler else None)
    monitor, mode = run_monitor(config, task, has_val, model.decision_level)
    if checkpoint is not None:
        check_state_fits(model, checkpoint["state_dict"], str(ckpt_path))
        state = run_state(checkpoint)
        stopped = state and state["stopped_early"] and "trainer.patience" not in changed  # more patience: go on
        if state and (stopped or state["epochs_completed"] >= config.trainer.max_epochs):
            if not worker:
                atomic_write_text(_config_yaml(config), run_dir / "config.yaml")
            return _complete(config, run_dir, datamodule, task, model, 0.0, state, already_finished=True)

    needs = lightning_needed(config)  # the rule: docs/engine.md
    if not worker and needs is None:  # one process, nothing only Lightning's Trainer has
        return fit_fast(config, run_dir, datamodule, task, model, monitor, mode, checkpoint, overwrite)
    if checkpoint is not None and checkpoint.get("polymodal_engine") == "fast":
        raise ConfigError(
            f"{ckpt_path or run_dir} was written by the fast single-process loop, which Lightning's Trainer "
            f"cannot resume (it holds no Lightning loop state), and the resumed run needs the Trainer for "
            f"{needs or 'a distributed worker'}; resume without that change, or start runs you mean to extend "
            "this way on the Trainer (POLYMODAL_ENGINE=lightning)"
        )
    return _fit_lightning(config, run_dir, datamodule, task, model, monitor, mode, ckpt_path, overwrite, worker,
                          has_val, verbose)


def _fit_lightning(config: ExperimentConfig, run_dir: Path, datamodule: MultimodalSplits, task: Task,
                   model: MultimodalModel, monitor: str, mode: str, ckpt_path: Path | None, overwrite: bool,
                   worker: bool, has_val: bool, verbose: bool) -> FitResult | None:
    """:func:`fit`'s training and completion on Lightning's ``Trainer`` (the only part that imports Lightning)."""
    from polymodal.training.console import quiet_lightning
    from polymodal.training.loggers import finish_loggers, flat_hyperparameters, start_loggers
    from polymodal.training.module import MultimodalLightningModule

    replacing, work_dir = _work_dir(config, run_dir, overwrite, clear=not worker)
    with quiet_lightning(verbose):
        callbacks = build_callbacks(config, work_dir, monitor, mode)
        trainer = build_trainer(config, work_dir, callbacks, has_val)
    # the trackers connect (or create their files) before polymodal writes
    # anything: one that fails leaves the run folder as it was
    with _undo_on_failure(run_dir, enabled=not worker), _undo_on_failure(work_dir, enabled=not worker):
        start_loggers(trainer.loggers, flat_hyperparameters(config.model_dump(mode="json")))
    if not worker:
        _remove_temporaries(work_dir / "checkpoints")
        atomic_write_text(_config_yaml(config), work_dir / "config.yaml")
        write_provenance(work_dir, _device(trainer))
    try:
        module = MultimodalLightningModule(
            model, task, config.optim.model_dump(), config.model_dump(mode="json"),
            lr_scheduler=config.lr_scheduler.model_dump() if config.lr_scheduler else None, monitor=monitor,
            model_inputs=model_inputs_of(datamodule.specs), standardizer=datamodule.standardizer)
        module.preprocessing = datamodule.preprocessing  # into every checkpoint ({"standardize": None} too)
        module.input_preprocessing = "preprocessed"  # the engine feeds the DataModule's standardised splits
        start = time.perf_counter()
        with quiet_lightning(verbose):
            trainer.fit(
                module,
                train_dataloaders=datamodule.train_dataloader(),
                val_dataloaders=datamodule.val_dataloader() if has_val else None,
                ckpt_path=str(ckpt_path) if ckpt_path else None,
            )
        train_seconds = time.perf_counter() - start
        finish_loggers(trainer.loggers)
        if not trainer.is_global_zero:
            return None
        state = callbacks[0].state_dict()  # the RunCheckpoints
        result = _complete(config, work_dir, datamodule, task, module.model, train_seconds, state, write=not replacing)
    except BaseException:
        if replacing and not worker:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return _finish_replacement(result, work_dir, run_dir) if replacing else result


def _work_dir(config, run_dir: Path, overwrite: bool, clear: bool = True) -> tuple[bool, Path]:
    """(replacing, the folder the run writes to): an ``--overwrite`` of a run with
    checkpoints trains in ``.<name>.new`` beside it (cleared of what a killed
    overwrite left when ``clear``) and replaces the old run only once it succeeds."""
    replacing = overwrite and _has_checkpoints(run_dir)
    work_dir = run_dir.parent / f".{config.name}.new" if replacing else run_dir
    if replacing and clear and work_dir.exists():
        shutil.rmtree(work_dir)  # left by an overwrite that was killed
    return replacing, work_dir


def _finish_replacement(result: FitResult, work_dir: Path, run_dir: Path) -> FitResult:
    """Move a successful overwrite from ``work_dir`` into ``run_dir`` and point the result there."""
    replace_run(work_dir, run_dir)
    result.run_dir = run_dir
    result.best_checkpoint = run_dir / "checkpoints" / result.best_checkpoint.name
    _write_result(result)
    return result


@contextmanager
def _undo_on_failure(folder: Path, enabled: bool = True):
    """On an exception, delete what was created in (or above) ``folder`` inside
    the block: the folder itself when it did not exist, else the new paths in it."""
    created = next((p for p in [folder, *folder.parents] if not p.exists() and p.parent.exists()), None) \
        if not folder.exists() else None
    before = set(folder.rglob("*")) if folder.exists() else set()
    try:
        yield
    except BaseException:
        if enabled:
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            elif folder.exists():
                for path in sorted(set(folder.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
        raise


def _config_yaml(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _complete(config: ExperimentConfig, run_dir: Path, datamodule: MultimodalSplits, task: Task,
              model: MultimodalModel, train_seconds: float, state: dict | None, *, already_finished: bool = False,
              write: bool = True) -> FitResult:
    """Load the best checkpoint, fit post-hoc parts, evaluate, write result.json."""
    ckpt_dir = run_dir / "checkpoints"
    best_path = ckpt_dir / "best.ckpt" if (ckpt_dir / "best.ckpt").exists() else ckpt_dir / "last.ckpt"
    checkpoint = load_checkpoint_file(best_path)
    model.load_state_dict({k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()})
    model = model.cpu()
    if getattr(model.fusion, "needs_fit", False) and not bool(getattr(model.fusion, "combiner_fitted", False)):
        _fit_post_hoc(model, datamodule)
        checkpoint["state_dict"] = {f"model.{k}": v for k, v in model.state_dict().items()}
        atomic_save(checkpoint, best_path)  # store the fitted combiner with the weights

    has_val = len(datamodule.val_set) > 0
    result = FitResult(
        model=model,
        task=task,
        config=config,
        run_dir=run_dir,
        best_checkpoint=best_path,
        val_metrics=evaluate(model, task, datamodule.val_dataloader()) if has_val else {},
        test_metrics=evaluate(model, task, datamodule.test_dataloader()),
        train_seconds=train_seconds,
        epochs=int((state or {}).get("epochs_completed", 0)),
        n_parameters=model.n_parameters(),
        datamodule=datamodule,
        already_finished=already_finished,
    )
    if already_finished:
        why = "stopped early" if (state or {}).get("stopped_early") else f"reached max_epochs={config.trainer.max_epochs}"
        logger.warning("run %s had already finished (%d epochs, %s); nothing was retrained", run_dir, result.epochs, why)
    if write:
        _write_result(result)
    return result


def _write_result(result: FitResult) -> None:
    summary = {
        "name": result.config.name,
        "best_checkpoint": str(result.best_checkpoint),
        "val": result.val_metrics,
        "test": result.test_metrics,
        "train_seconds": result.train_seconds,
        "epochs": result.epochs,
        "n_parameters": result.n_parameters,
    }
    atomic_write_text(json.dumps(summary, indent=2), result.run_dir / "result.json")


def load_trained(checkpoint_path: str | Path, dataset=None, *, require_seal: bool = True):
    """Rebuild a trained model from a checkpoint written by :func:`fit`.

    Returns ``(model, task, config, datamodule)``; the data module repeats the
    run's seeded split and standardises with the statistics stored in the
    checkpoint (the training data's, also for a ``dataset`` of your own), so
    ``evaluate(model, task, dm.test_dataloader())`` reproduces its test
    metrics. The checkpoint is verified first
    (:func:`~polymodal.training.checkpoint.load_checkpoint_file`;
    ``require_seal=False`` accepts one written before checkpoints were sealed).
    """
    checkpoint = load_checkpoint_file(checkpoint_path, require_seal=require_seal)
    raw = (checkpoint.get("hyper_parameters") or {}).get("config")
    if not raw:
        raise CheckpointError(f"{checkpoint_path} holds no polymodal config (was it written by polymodal.fit?)")
    config = parse_config(raw)
    stored = checkpoint.get("polymodal_preprocessing")
    standardizer = standardizer_from_state(stored) if stored is not None else None
    if stored is not None and standardizer is None and config.data.standardize:
        raise CheckpointError(f"{checkpoint_path} stores no standardisation statistics, but its config has "
                              "data.standardize=true")
    datamodule, task, model = _data_task_model(config, dataset, standardizer)
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()}
    check_state_fits(model, checkpoint["state_dict"], str(checkpoint_path))
    model.load_state_dict(state)
    return model.eval(), task, config, datamodule
