"""The engine every trainable part uses: model composition, tasks, configs,
checkpoints and the Lightning-based ``fit``. The part registry lives in
:mod:`polymodal.core.registry`; ``register``, ``build`` and ``registered`` are
re-exported here (documented path). Names load on first use, so importing
this package costs nothing until one is used (the engine imports Lightning)."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "atomic_save": ".checkpoint", "load_checkpoint_file": ".checkpoint",
    "AtomicCheckpointIO": ".checkpoint_io",
    **dict.fromkeys(["DataConfig", "ExperimentConfig", "ModelConfig", "OptimConfig", "TrainerConfig",
                     "apply_overrides", "load_config", "parse_config"], ".config"),
    "ModelOutput": "polymodal.core.outputs", "MultimodalModel": ".model",
    "build": "polymodal.core.registry", "register": "polymodal.core.registry",
    "registered": "polymodal.core.registry",
    **dict.fromkeys(["ClassificationTask", "MultilabelTask", "RegressionTask", "Task", "get_task"], ".tasks"),
    **dict.fromkeys(["fit", "evaluate", "predict", "load_trained", "build_model", "build_datamodule", "FitResult"],
                    ".engine"),
})

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

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.training.checkpoint import atomic_save, load_checkpoint_file
    from polymodal.training.checkpoint_io import AtomicCheckpointIO
    from polymodal.training.config import (
        DataConfig, ExperimentConfig, ModelConfig, OptimConfig, TrainerConfig, apply_overrides, load_config,
        parse_config,
    )
    from polymodal.core.outputs import ModelOutput
    from polymodal.training.model import MultimodalModel
    from polymodal.core.registry import build, register, registered
    from polymodal.training.tasks import ClassificationTask, MultilabelTask, RegressionTask, Task, get_task
    from polymodal.training.engine import (
        fit, evaluate, predict, load_trained, build_model, build_datamodule, FitResult,
    )
