"""``"package.module:attribute"`` strings: how configs name a user's own class
or function (an encoder, a fusion, a head, a dataset loader)."""

from __future__ import annotations

import importlib
from typing import Any

from polymodal.core.errors import ConfigError

__all__ = ["is_import_path", "resolve_import_path"]


def is_import_path(name: Any) -> bool:
    """Whether ``name`` is written as ``module:attribute`` (registry names have no colon)."""
    return isinstance(name, str) and ":" in name


def resolve_import_path(path: str, where: str = "name") -> Any:
    """The callable a ``"package.module:attribute"`` string names (``attribute``
    may be dotted, ``Outer.Inner``). Importing runs the module's code: use
    configs you trust, as with any Python file. Raises :class:`ConfigError`
    naming the config key ``where`` if the module or attribute does not exist.

    >>> resolve_import_path("collections:OrderedDict").__name__
    'OrderedDict'
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise ConfigError(f"config key '{where}': {path!r} must look like 'package.module:ClassName'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"config key '{where}': cannot import module {module_name!r} of {path!r} ({error}); "
                          "is its package installed or on PYTHONPATH?") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"config key '{where}': module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(obj):
        raise ConfigError(f"config key '{where}': {path!r} is a {type(obj).__name__}, not a class or function")
    return obj
