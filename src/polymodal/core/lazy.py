"""Lazy package exports (PEP 562): ``import polymodal.X`` loads only what is used.

A package ``__init__`` lists its public names and the submodule each lives in;
the submodule is imported on first attribute access::

    __getattr__, __dir__ = lazy_exports(__name__, {"CCA": ".cca", "dtw": ".dtw"})
    __all__ = [...]

Submodules stay reachable as attributes too, except where a public name
shadows its own module (``polymodal.data.collate`` is the function).
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str | None]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in
    ``exports[name]``: a module path (relative with a leading dot), optionally
    ``"module:attribute"`` when the attribute is named otherwise, or ``None``
    for a submodule of ``package`` exported under its own name."""
    module = importlib.import_module(package)
    # a name exported from a submodule of the same name (``data.collate`` the
    # function, ``alignment.dtw`` the function): importing the submodule must
    # not replace it with the module, as the eager ``from .collate import collate`` did
    shadowed = {name for name, where in exports.items() if where is not None}

    class LazyModule(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            if name in shadowed and isinstance(value, types.ModuleType) and value.__name__ == f"{package}.{name}":
                return
            super().__setattr__(name, value)

    module.__class__ = LazyModule

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            try:  # a submodule: ``polymodal.alignment.dtw``
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where, _, attribute = where.partition(":")
        value = getattr(importlib.import_module(where, package), attribute or name)
        setattr(module, name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__
