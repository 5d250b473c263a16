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
    "ExperimentConfig",
    "load_config",
    "parse_config",
    "apply_overrides",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Which dataset and how to split and batch it."""

    name: str = "mfeat"
    modalities: list[str] | None = None
    batch_size: int = Field(64, gt=0)
    eval_batch_size: int = Field(1024, gt=0)
    val_size: float = Field(0.2, ge=0, lt=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    standardize: bool = True
    num_workers: int = Field(0, ge=0)


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
    """Lightning trainer flags; CPU, GPU, multi-device DDP without code change."""

    max_epochs: int = Field(100, gt=0)
    patience: int | None = Field(10, gt=0)
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, gt=0)
    precision: str = "32-true"
    deterministic: bool = True
    progress: bool = True
    monitor: str | None = None  # e.g. val_loss, val_accuracy, val_objective; default per task (docs/engine.md)
    gradient_clip_val: float | None = None


class ExperimentConfig(_Strict):
    """A whole experiment; see ``examples/configs/*.yaml``."""

    name: str = "experiment"
    seed: int = 0
    task: Literal["classification", "regression", "multilabel"] | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    output_dir: str = "runs"

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or "/" in value or value in {".", ".."}:
            raise ValueError(f"must be a plain folder name, got {value!r}")
        return value


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{key}'")
        else:
            lines.append(f"config key '{key}': {item['msg']} (got {item.get('input')!r})")
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
        return ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format(error)) from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a copy of ``raw``.

    >>> apply_overrides({"trainer": {"max_epochs": 5}}, ["trainer.max_epochs=7", "seed=3"])
    {'trainer': {'max_epochs': 7}, 'seed': 3}
    """
    import copy

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
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({error})") from None
    return result


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file (``yaml.safe_load``: no code runs), apply
    overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    return parse_config(apply_overrides(raw, overrides or []))
