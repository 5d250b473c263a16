"""Lazy package exports (PEP 562): ``import polymodal.X`` loads only what is used.

A package ``__init__`` lists its public names and the submodule each lives in;
the submodule is imported on first attribute access::

    __getattr__, __dir__ = lazy_exports(__name__, {"CCA": ".cca", "dtw": ".dtw"})
    __all__ = [...]

Subpackages and submodules stay reachable as attributes too (``polymodal.alignment.dtw``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str | None]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in
    ``exports[name]``: a module path (relative with a leading dot), optionally
    ``"module:attribute"`` when the attribute is named otherwise, or ``None``
    for a submodule of ``package`` exported under its own name."""
    module = importlib.import_module(package)

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
