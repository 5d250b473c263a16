"""Experiment configuration: a typed schema, YAML loading, dotted overrides.

Everything is validated before anything runs: an unknown key or a wrong type
raises :class:`~polymodal.errors.ConfigError` naming the key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polymodal.errors import ConfigError

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainerConfig",
    "LRSchedulerConfig",
    "ExperimentConfig",
    "load_config",
    "parse_config",
    "apply_overrides",
    "check_trainer_here",
    "MONITORS",
    "PRECISIONS",
    "ACCELERATORS",
    "LOGGERS",
    "MANAGED_TRAINER_ARGUMENTS",
]

# what Lightning's Trainer accepts (lightning.fabric.connector._PRECISION_INPUT)
PRECISIONS = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
              "32-true", "64-true", "64", "32", "16", "bf16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# the metrics the Lightning module logs: train_loss, val_objective and val_<task metric>
# (tests/test_fuzz_api.py checks this against every task's metrics)
_TASK_METRICS = ("loss", "accuracy", "f1_macro", "mae", "rmse", "r2", "pearson_r", "f1_micro", "subset_accuracy")
MONITORS = ("train_loss", "val_objective", *(f"val_{m}" for m in _TASK_METRICS))
# trainer.logger names (each but csv behind an install extra; 'pkg.module:Class' names your own)
LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")
# lightning.Trainer arguments polymodal sets itself, and the config key to use instead
MANAGED_TRAINER_ARGUMENTS = {
    "enable_checkpointing": "checkpoints are always written (best.ckpt, last.ckpt); "
                            "see trainer.checkpoint_every_n_epochs",
    "enable_progress_bar": "use trainer.progress",
    "default_root_dir": "use output_dir and name",
    "plugins": "polymodal writes checkpoints atomically with its own plugin",
}


def _monitor_name(value: str | None) -> str | None:
    if value is not None and value not in MONITORS:
        raise ValueError(f"must be null (the task's default) or one of {list(MONITORS)}, got {value!r}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(_Strict):
    """Which dataset and how to split and batch it."""

    name: str = "mfeat"  # a catalog name (`polymodal datasets`) or a loader of your own, 'my_pkg.data:load_mine'
    # the loader's keyword arguments, e.g. {path: data.npz}; left out of dumps when empty (old runs resume unchanged)
    options: dict[str, Any] = Field(default_factory=dict, exclude_if=lambda value: not value)
    modalities: list[str] | None = None
    batch_size: int = Field(64, gt=0)
    eval_batch_size: int = Field(1024, gt=0)
    val_size: float = Field(0.2, ge=0, lt=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    standardize: bool = True
    num_workers: int = Field(0, ge=0)

    @field_validator("modalities")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            twice = sorted({m for m in value if value.count(m) > 1})
            raise ValueError(f"names modality {twice[0]!r} more than once")
        return value


class ModelConfig(_Strict):
    """Parts by registry name: ``{"name": ..., **kwargs}``.

    ``encoder`` is the default for every modality; ``encoders`` overrides it
    per modality. ``head`` must be null for decision-level fusion (late, hybrid).
    """

    encoder: dict[str, Any] = Field(default_factory=lambda: {"name": "identity"})
    encoders: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fusion: dict[str, Any] = Field(default_factory=lambda: {"name": "concat"})
    head: dict[str, Any] | None = Field(default_factory=lambda: {"name": "mlp", "hidden": [128]})


class OptimConfig(_Strict):
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)


class TrainerConfig(_Strict):
    """Lightning trainer flags; CPU, GPU, multi-device DDP without code change.

    ``devices``: an integer >= 1, -1 (all), ``"auto"``, or GPU indices
    (``[0, 1]`` or ``"0,1"``); ``precision`` one of :data:`PRECISIONS`;
    ``monitor`` one of :data:`MONITORS` (null: the task's default)."""

    max_epochs: int = Field(100, gt=0)
    patience: int | None = Field(10, gt=0)
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"] = "cpu"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, gt=0)
    precision: str | int = "32-true"
    deterministic: bool = True
    progress: bool = True
    monitor: str | None = None  # e.g. val_loss, val_accuracy, val_objective; default per task (docs/engine.md)
    gradient_clip_val: float | None = Field(None, ge=0)
    checkpoint_every_n_epochs: int = Field(1, gt=0)  # how often last.ckpt is written (and at the final epoch)
    # ... and no sooner than this many seconds after the previous last.ckpt (the final epoch's is always
    # written; best.ckpt likewise: an improving epoch is held in memory until this much time has passed since
    # the previous best.ckpt, or last.ckpt or the end is written): a SIGKILL loses at most this much finished
    # training, and runs whose epochs take less do not pay a durable write per epoch. 0: every due epoch and
    # every improvement at once. Left out of dumps at its default (old runs resume unchanged)
    checkpoint_min_interval_s: float = Field(10.0, ge=0, exclude_if=lambda value: value == 10.0)
    # fast loop only: write each epoch's checkpoint on a background thread while the next epoch trains. A SIGKILL
    # or power loss during that write loses that epoch (resume starts one epoch earlier); off: a completed epoch is
    # on disk before the next one starts. Left out of dumps when off (old runs resume unchanged)
    async_checkpoint: bool = Field(False, exclude_if=lambda value: not value)
    # experiment trackers: a name of LOGGERS, {name: ..., **kwargs}, a list of them, or false; logs/metrics.csv is
    # always written. Left out of dumps at their defaults (old runs resume unchanged)
    logger: bool | str | dict[str, Any] | list[str | dict[str, Any]] = Field(
        "csv", exclude_if=lambda value: value == "csv")
    # extra Lightning callbacks: a lightning.pytorch.callbacks class name or 'pkg.module:Class', bare or
    # {name: ..., **kwargs}
    callbacks: list[str | dict[str, Any]] = Field(default_factory=list, exclude_if=lambda value: not value)
    # any other lightning.Trainer argument (accumulate_grad_batches, val_check_interval, ...) is passed through;
    # parse_config checks its name against Trainer's signature

    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False)

    @field_validator("devices", "max_epochs", "patience", "num_nodes", mode="before")
    @classmethod
    def _no_bool(cls, value):
        if isinstance(value, bool):  # YAML true/false would silently become 1/0
            raise ValueError(f"must be an integer, got {value!r}")
        return value

    @field_validator("devices")
    @classmethod
    def _devices(cls, value):
        if isinstance(value, bool):
            raise ValueError(f"must be an integer >= 1, -1, 'auto' or a list of device indices, got {value!r}")
        if isinstance(value, int):
            if value == 0 or value < -1:
                raise ValueError(f"must be an integer >= 1 (or -1 for all devices), got {value}")
        elif isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if value != "auto" and not (parts and all(p.lstrip("-").isdigit() for p in parts)):
                raise ValueError(f"must be an integer >= 1, -1, 'auto' or device indices like '0,1', got {value!r}")
        elif not value or any(i < 0 for i in value):
            raise ValueError(f"a list of devices must hold device indices >= 0, got {value!r}")
        return value

    @field_validator("precision")
    @classmethod
    def _precision(cls, value):
        if isinstance(value, bool) or str(value) not in PRECISIONS:
            raise ValueError(f"must be one of {list(PRECISIONS)}, got {value!r}")
        return str(value)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value in ("auto", "ddp", "ddp_spawn", "fsdp", "single_device", "deepspeed"):
            return value
        from lightning.pytorch.strategies import StrategyRegistry

        allowed = ["auto", *StrategyRegistry.available_strategies()]
        if value not in allowed:
            raise ValueError(f"must be one of {allowed}, got {value!r}")
        return value

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, value: str | None) -> str | None:
        return _monitor_name(value)

    @field_validator("logger")
    @classmethod
    def _logger(cls, value):
        if value is True:
            return "csv"
        for item in value if isinstance(value, list) else [] if value is False else [value]:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or (name not in LOGGERS and ":" not in name):
                raise ValueError(f"each logger must be one of {list(LOGGERS)} or 'pkg.module:Class', bare or as "
                                 f"{{name: ..., **kwargs}}; got {item!r}")
        return value

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, value):
        for item in value:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                raise ValueError(f"each callback must be a class name or 'pkg.module:Class', bare or as "
                                 f"{{name: ..., **kwargs}}; got {item!r}")
        return value

    @property
    def passthrough(self) -> dict[str, Any]:
        """The ``lightning.Trainer`` arguments given beyond the typed ones."""
        return dict(self.model_extra or {})


class LRSchedulerConfig(_Strict):
    """A ``torch.optim.lr_scheduler`` class by name (``StepLR``, ``CosineAnnealingLR``,
    ``ReduceLROnPlateau``, ``OneCycleLR``, ...) or ``'pkg.module:Class'``; other keys
    are its keyword arguments. ``interval``: step it every ``epoch`` or ``step``;
    ``monitor``: the metric ``ReduceLROnPlateau`` watches (null: the run's monitor)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False)

    name: str
    interval: Literal["epoch", "step"] = "epoch"
    frequency: int = Field(1, gt=0)
    monitor: str | None = None

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, value: str | None) -> str | None:
        return _monitor_name(value)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The scheduler's own keyword arguments."""
        return dict(self.model_extra or {})


class ExperimentConfig(_Strict):
    """A whole experiment; see ``examples/configs/*.yaml``."""

    name: str = "experiment"
    seed: int = Field(0, ge=0, le=2**32 - 1)
    task: Literal["classification", "regression", "multilabel"] | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    # left out of dumps when null, so runs from before it existed resume unchanged
    lr_scheduler: LRSchedulerConfig | None = Field(None, exclude_if=lambda value: value is None)
    output_dir: str = "runs"

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value or "\0" in value or value in {".", ".."}:
            raise ValueError(f"must be a plain folder name, got {value!r}")
        return value


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{key}'")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"config key '{key}': {msg} (got {item.get('input')!r})")
    return "; ".join(lines)


def parse_config(raw: dict[str, Any] | ExperimentConfig | None) -> ExperimentConfig:
    """Validate a plain dict (e.g. from YAML) into an :class:`ExperimentConfig`."""
    if isinstance(raw, ExperimentConfig):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(raw).__name__}")
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format(error)) from None
    _check_passthrough(config.trainer)
    return config


def _check_passthrough(trainer: TrainerConfig) -> None:
    """Every extra ``trainer`` key must be a ``lightning.Trainer`` argument
    polymodal does not set itself (Lightning is imported only when there is one)."""
    extra = trainer.passthrough
    if not extra:
        return
    import difflib
    import inspect

    from lightning.pytorch import Trainer

    known = [p for p in inspect.signature(Trainer.__init__).parameters if p != "self"]
    typed = list(TrainerConfig.model_fields)
    for key in extra:
        if key in MANAGED_TRAINER_ARGUMENTS:
            raise ConfigError(f"config key 'trainer.{key}' is set by polymodal: {MANAGED_TRAINER_ARGUMENTS[key]}")
        if key not in known:
            close = difflib.get_close_matches(key, typed + known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown config key 'trainer.{key}' (not a polymodal trainer key nor a "
                              f"lightning.Trainer argument{hint})")
    _check_passthrough_values(Trainer, extra)


# Trainer arguments Lightning takes without checking that they are >= 1 (0 fails deep in its loops)
_AT_LEAST_ONE = ("accumulate_grad_batches", "check_val_every_n_epoch")


def _check_passthrough_values(trainer_class: type, extra: dict[str, Any]) -> None:
    """Each passed-through value must fit the type hint of its ``Trainer`` argument."""
    import typing

    from pydantic import TypeAdapter

    try:
        hints = typing.get_type_hints(trainer_class.__init__)
    except Exception:  # an unresolvable hint in some Lightning version: leave the check to Lightning
        hints = {}
    for key, value in extra.items():
        if key in hints:
            try:
                TypeAdapter(hints[key], config=ConfigDict(arbitrary_types_allowed=True)).validate_python(value)
            except (ValidationError, TypeError) as error:
                msg = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
                raise ConfigError(f"config key 'trainer.{key}': {msg} (got {value!r})") from None
        if key in _AT_LEAST_ONE and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"config key 'trainer.{key}': must be an integer >= 1 (got {value!r})")


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a copy of ``raw``.

    >>> apply_overrides({"trainer": {"max_epochs": 5}}, ["trainer.max_epochs=7", "seed=3"])
    {'trainer': {'max_epochs': 7}, 'seed': 3}
    """
    import copy

    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(raw).__name__}")
    result = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r} has an empty key part")
        node = result
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: '{'.'.join(parts[: depth + 1])}' is not a mapping")
        try:
            node[parts[-1]] = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as error:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({error})") from None
    return result


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file (``yaml.safe_load``: no code runs), apply
    overrides, validate."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(error).split())}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    return parse_config(apply_overrides(raw, overrides or []))


def check_trainer_here(trainer: TrainerConfig) -> None:
    """Ask Lightning whether ``trainer``'s accelerator, devices, strategy and
    precision can run on this machine (a GPU, torch_xla or DeepSpeed that is
    not there); raise :class:`ConfigError` naming the ``trainer`` keys if not.
    Called by ``polymodal train`` before anything runs."""
    import logging
    import os

    import lightning.pytorch as pl

    launchers = ("MASTER_ADDR", "SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE",
                 "KUBERNETES_SERVICE_HOST")
    if trainer.num_nodes > 1 and not any(os.environ.get(k) for k in launchers):
        raise ConfigError(f"config key 'trainer.num_nodes'={trainer.num_nodes}: a multi-node run needs a launcher "
                          "(SLURM, torchrun, or MASTER_ADDR and NODE_RANK set on every node); none was found, so "
                          "this node would wait forever for the others")
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pl.Trainer(accelerator=trainer.accelerator, devices=trainer.devices, strategy=trainer.strategy,
                       num_nodes=trainer.num_nodes, precision=trainer.precision, logger=False,
                       enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    except Exception as error:  # Lightning raises MisconfigurationException, TypeError, ModuleNotFoundError, ...
        keys = (f"accelerator={trainer.accelerator!r}, devices={trainer.devices!r}, "
                f"strategy={trainer.strategy!r}, precision={trainer.precision!r}")
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"config keys 'trainer' ({keys}) cannot run here: {first}") from None
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
