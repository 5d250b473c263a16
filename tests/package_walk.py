"""The walk over every module of the polymodal package, shared by the whole-library tests
(naming, estimator contract, doctests, meta device); importable because pyproject.toml puts
``tests`` on pytest's ``pythonpath``."""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from types import ModuleType

import polymodal


def module_names() -> list[str]:
    """Every ``polymodal.*`` module name in walk order, without ``__main__`` (importing it runs the CLI)."""
    return [info.name for info in pkgutil.walk_packages(polymodal.__path__, "polymodal.")
            if info.name.rsplit(".", 1)[-1] != "__main__"]


def imported_modules() -> list[ModuleType]:
    """``polymodal`` and every module of :func:`module_names`, imported (their import warnings silenced)."""
    mods = [polymodal]
    for name in module_names():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mods.append(importlib.import_module(name))
    return mods
