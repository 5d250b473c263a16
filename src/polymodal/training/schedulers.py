"""Learning-rate schedulers named in a config (the ``lr_scheduler`` section)."""

from __future__ import annotations

from typing import Any

import torch

from polymodal.core.import_path import is_import_path, resolve_import_path
from polymodal.errors import ConfigError

__all__ = ["scheduler_class", "build_lr_scheduler", "check_lr_scheduler"]


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def scheduler_class(name: str) -> type:
    """The scheduler class ``name`` names: a ``torch.optim.lr_scheduler`` class
    (``StepLR``; case and underscores ignored, ``step_lr``) or ``'pkg.module:Class'``."""
    if is_import_path(name):
        return resolve_import_path(name, "lr_scheduler.name")
    module = torch.optim.lr_scheduler
    known = {n: getattr(module, n) for n in dir(module)
             if isinstance(getattr(module, n), type) and issubclass(getattr(module, n), module.LRScheduler)
             and not n.startswith("_") and n not in ("LRScheduler", "_LRScheduler")}
    known["ReduceLROnPlateau"] = module.ReduceLROnPlateau
    found = {_key(n): cls for n, cls in known.items()}.get(_key(name))
    if found is None:
        raise ConfigError(f"config key 'lr_scheduler.name': unknown scheduler {name!r}; one of {sorted(known)} "
                          "(torch.optim.lr_scheduler) or 'pkg.module:Class'")
    return found


def build_lr_scheduler(optimizer: torch.optim.Optimizer, spec: dict[str, Any], monitor: str) -> dict[str, Any]:
    """Lightning's scheduler block ``{"scheduler", "interval", "frequency", "monitor"}``
    for ``spec`` (an ``lr_scheduler`` config section as a dict); ``monitor`` is
    the run's monitored metric, used when ``spec`` names none."""
    spec = dict(spec)
    name = spec.pop("name")
    interval = spec.pop("interval", "epoch")
    frequency = spec.pop("frequency", 1)
    monitor = spec.pop("monitor", None) or monitor
    cls = scheduler_class(name)
    try:
        scheduler = cls(optimizer, **spec)
    except (TypeError, ValueError, ZeroDivisionError) as error:
        raise ConfigError(f"config key 'lr_scheduler': cannot build {name!r} with {spec}: {error}") from None
    return {"scheduler": scheduler, "interval": interval, "frequency": frequency, "monitor": monitor}


def check_lr_scheduler(spec: dict[str, Any] | None) -> None:
    """Build ``spec`` on a throwaway optimiser so a bad name or argument fails
    before anything runs (:class:`ConfigError` naming ``lr_scheduler``)."""
    if spec:
        build_lr_scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), spec, "val_loss")
