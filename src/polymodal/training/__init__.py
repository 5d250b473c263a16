"""The engine every trainable part uses: model composition, tasks, registry,
configs, checkpoints and the Lightning-based ``fit``."""

from polymodal.training.checkpoint import atomic_save, load_checkpoint_file
from polymodal.training.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    TrainerConfig,
    apply_overrides,
    load_config,
    parse_config,
)
from polymodal.training.model import ModelOutput, MultimodalModel
from polymodal.training.registry import build, register, registered
from polymodal.training.tasks import ClassificationTask, MultilabelTask, RegressionTask, Task, get_task

__all__ = [
    "AtomicCheckpointIO",
    "ClassificationTask",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "ModelOutput",
    "MultilabelTask",
    "MultimodalModel",
    "OptimConfig",
    "RegressionTask",
    "Task",
    "TrainerConfig",
    "apply_overrides",
    "atomic_save",
    "build",
    "get_task",
    "load_checkpoint_file",
    "load_config",
    "parse_config",
    "register",
    "registered",
]


def __getattr__(name: str):
    # the engine and AtomicCheckpointIO import Lightning (about 2 s): load them on first use
    if name in {"fit", "evaluate", "predict", "load_trained", "build_model", "build_datamodule", "FitResult"}:
        from polymodal.training import engine

        return getattr(engine, name)
    if name == "AtomicCheckpointIO":
        from polymodal.training.checkpoint_io import AtomicCheckpointIO

        return AtomicCheckpointIO
    raise AttributeError(f"module 'polymodal.training' has no attribute {name!r}")
