"""The numba kernel modules load on first use, so importing the DTW family imports no numba.

:func:`kernels` returns a stand-in for the module ``polymodal.alignment.dtw.<name>`` whose
attribute reads import that module (``import numba``, the ``@njit`` definitions, numba's
on-disk cache lookup) the first time and then forward to it. The stand-in is not a module
and not in ``sys.modules`` (``importlib.util.LazyLoader`` was not used: ``inspect.getmodule``,
which torch calls when it registers custom operators, reads ``__file__`` of every module in
``sys.modules`` and would load the kernels at once).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["kernels"]


class _Kernels:
    """Attribute access imports and forwards to the module ``name``."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = sys.modules.get(self._name)
        if module is None:
            module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<kernels {self._name} ({'loaded' if self._name in sys.modules else 'not loaded yet'})>"


def kernels(name: str) -> Any:
    """A stand-in for ``polymodal.alignment.dtw.<name>`` that imports it on first attribute access."""
    return _Kernels(f"{__package__}.{name}")
