"""Experiment trackers and extra callbacks named in a config (``trainer.logger``,
``trainer.callbacks``), built as Lightning objects.

``logs/metrics.csv`` is always written (by the run's checkpoint callback, from
the history stored in the checkpoints, so it survives resumes); ``csv`` names
it. The other loggers are Lightning's, each behind an install extra:

========== ========================== =========================================
name       extra                      where it writes by default
========== ========================== =========================================
tensorboard ``polymodal[tensorboard]`` ``<run>/logs/tensorboard/`` (event files)
mlflow     ``polymodal[mlflow]``      ``<output_dir>/mlruns`` (a local file store;
                                      ``$MLFLOW_TRACKING_URI`` when set; MLflow 3
                                      reads file stores only with
                                      ``MLFLOW_ALLOW_FILE_STORE=true``, which is
                                      set for them)
wandb      ``polymodal[wandb]``       ``<run>/logs/wandb/`` in offline mode
                                      (``wandb sync`` uploads it later)
========== ========================== =========================================

Any other keys of a logger block go to the Lightning logger's constructor
(``{name: mlflow, tracking_uri: http://host:5000}``); ``'pkg.module:Class'``
names a logger class of your own.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from polymodal.core.import_path import is_import_path, resolve_import_path
from polymodal.errors import ConfigError

__all__ = ["logger_specs", "check_loggers", "build_loggers", "start_loggers", "finish_loggers", "build_callbacks",
           "flat_hyperparameters"]

# logger name -> (module that must be importable, install extra)
_EXTRAS = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
    "wandb": ("wandb", "wandb"),
}


def logger_specs(value: Any) -> list[dict[str, Any]]:
    """``trainer.logger`` as a list of ``{name, **kwargs}`` blocks, ``csv`` left out."""
    if value is False or value is None or value is True:
        return []
    items = value if isinstance(value, list) else [value]
    specs = [dict(item) if isinstance(item, dict) else {"name": item} for item in items]
    return [spec for spec in specs if spec["name"] != "csv"]


def check_loggers(value: Any) -> None:
    """Raise :class:`ConfigError` naming the install extra of a logger whose
    package is not installed (checked without importing it)."""
    for spec in logger_specs(value):
        name = spec["name"]
        if name in _EXTRAS:
            module, extra = _EXTRAS[name]
            if importlib.util.find_spec(module) is None:
                raise ConfigError(f"config key 'trainer.logger': the {name} logger needs the package {module!r}; "
                                  f"install it with: pip install 'polymodal[{extra}]'")
        else:
            resolve_import_path(name, "trainer.logger")


def build_loggers(value: Any, run_dir: Path, output_dir: Path, name: str) -> list[Any]:
    """Lightning loggers for ``trainer.logger`` (``[]`` for ``csv`` only)."""
    check_loggers(value)
    loggers = []
    for spec in logger_specs(value):
        kind = spec.pop("name")
        where = f"trainer.logger ({kind})"
        if kind == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger as cls

            kwargs = {"save_dir": str(run_dir / "logs"), "name": "tensorboard", "version": "",
                      "default_hp_metric": False}
        elif kind == "mlflow":
            from lightning.pytorch.loggers import MLFlowLogger as cls

            uri = spec.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") \
                or (output_dir / "mlruns").resolve().as_uri()
            if uri.startswith("file:"):  # MLflow >= 3.7 refuses a file store unless it is opted into
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            kwargs = {"experiment_name": name, "run_name": name, "tracking_uri": uri}
        elif kind == "wandb":
            from lightning.pytorch.loggers import WandbLogger as cls

            kwargs = {"save_dir": str(run_dir / "logs"), "project": name, "name": name, "offline": True}
        else:
            cls = resolve_import_path(kind, "trainer.logger")
            kwargs = {}
        _check_keys(cls, kind, spec, where)
        kwargs.update(spec)
        try:
            loggers.append(cls(**kwargs))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"config key '{where}': cannot build the logger: {error}") from None
    return loggers


def _check_keys(cls: type, kind: str, spec: dict[str, Any], where: str) -> None:
    """Refuse a key the logger would pass on to a writer that fails only at
    its first write (TensorBoard's ``SummaryWriter``, ``wandb.init``)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = set(params) - {"self"}
    elif kind == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        allowed = set(params) | set(inspect.signature(SummaryWriter.__init__).parameters)
    elif kind == "wandb":
        import wandb

        allowed = set(params) | set(inspect.signature(wandb.init).parameters)
    else:
        return  # your own class takes what it takes
    allowed -= {"self", "kwargs", "args"}
    for key in spec:
        if key not in allowed:
            raise ConfigError(f"unknown config key '{where}.{key}'; allowed: {sorted(allowed)}")


def start_loggers(loggers: list[Any], hyperparameters: dict[str, Any]) -> None:
    """Log the run's flat hyper-parameters to each tracker (this is where a
    tracker first connects or creates its files): a failure is a ConfigError."""
    for tracker in loggers:
        try:
            tracker.log_hyperparams(hyperparameters)
        except Exception as error:  # mlflow, wandb, tensorboard each raise their own kinds
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConfigError(f"config key 'trainer.logger': {type(tracker).__name__} could not start: "
                              f"{first}") from None


def finish_loggers(loggers: list[Any]) -> None:
    """Close what Lightning leaves open at the end of ``fit``: a W&B run (so
    the next ``fit`` in this process starts its own)."""
    for tracker in loggers:
        if type(tracker).__name__ == "WandbLogger" and getattr(tracker, "_experiment", None) is not None:
            tracker.experiment.finish()


def build_callbacks(items: list[Any]) -> list[Any]:
    """Lightning callbacks for ``trainer.callbacks``: a class of
    ``lightning.pytorch.callbacks`` by name (``LearningRateMonitor``) or
    ``'pkg.module:Class'``, bare or ``{name: ..., **kwargs}``."""
    import lightning.pytorch as pl
    import lightning.pytorch.callbacks as builtin

    callbacks = []
    for i, item in enumerate(items):
        spec = dict(item) if isinstance(item, dict) else {"name": item}
        name = spec.pop("name")
        where = f"trainer.callbacks[{i}]"
        if is_import_path(name):
            cls = resolve_import_path(name, where)
        else:
            cls = getattr(builtin, name, None)
            if not (isinstance(cls, type) and issubclass(cls, pl.Callback)):
                known = sorted(n for n in builtin.__all__ if n[0].isupper())
                raise ConfigError(f"config key '{where}': unknown callback {name!r}; name a class of "
                                  f"lightning.pytorch.callbacks ({', '.join(known)}) or 'pkg.module:Class'")
        if cls is builtin.ModelCheckpoint:
            raise ConfigError(f"config key '{where}': ModelCheckpoint is not needed; every run writes sealed "
                              "checkpoints/best.ckpt and last.ckpt (see trainer.monitor, "
                              "trainer.checkpoint_every_n_epochs)")
        try:
            callback = cls(**spec)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"config key '{where}': cannot build callback {name!r}: {error}") from None
        if not isinstance(callback, pl.Callback):
            raise ConfigError(f"config key '{where}': {name!r} built a {type(callback).__name__}, "
                              "not a lightning.pytorch.Callback")
        callbacks.append(callback)
    return callbacks


def flat_hyperparameters(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The config as ``{"optim.lr": 0.001, ...}`` (trackers show flat parameters)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flat_hyperparameters(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return out
