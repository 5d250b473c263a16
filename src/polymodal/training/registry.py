"""The name registry: every encoder, fusion and head can be built by name.

Classes register themselves where they are defined::

    @register("encoder", "mlp")
    class MLP(nn.Module): ...

and configs name them: ``{"name": "mlp", "hidden": [128]}``. ``training``
never imports a concrete encoder or fusion; the decorator fills the table.

A config may also name a user's own class by import path,
``{"name": "my_pkg.models:MyEncoder", ...}`` (``module:attribute``; the module
is imported, so only use configs you trust, as with any Python file). An
encoder (and a feature-level fusion) must tell the model its output size in
an ``out_features`` attribute; one without it is a :class:`ConfigError`
saying how to declare it.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Mapping
from typing import Any

from polymodal._import_path import is_import_path, resolve_import_path
from polymodal.errors import ConfigError

__all__ = ["register", "build", "registered", "resolve_import_path", "KINDS"]

KINDS = ("encoder", "fusion", "head")
_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}

# Packages whose modules register built-in parts. They are imported by name on
# first use (like plugin entry points), so ``training`` has no import-time
# dependency on the layers above it and users never need an import for its
# side effect.
BUILTIN_PART_PACKAGES = (
    "polymodal.encoders",
    "polymodal.encoders.pretrained",  # imports transformers only when one is built
    "polymodal.representation",
    "polymodal.fusion",
    "polymodal.alignment",
    "polymodal.translation",
    "polymodal.colearning",
)
_builtins_loaded = False


def load_builtin_parts() -> None:
    """Import every built-in part package once (fills the registry)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    import importlib

    for package in BUILTIN_PART_PACKAGES:
        importlib.import_module(package)
    _builtins_loaded = True


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class decorator adding ``cls`` to the registry under ``(kind, name)``."""
    if kind not in _REGISTRY:
        raise ValueError(f"registry kind must be one of {KINDS}, got {kind!r}")

    def decorate(cls: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY[kind].get(name)
        if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"{kind} {name!r} is already registered to {existing!r}")
        _REGISTRY[kind][name] = cls
        return cls

    return decorate


def registered(kind: str) -> dict[str, Callable[..., Any]]:
    """The ``name -> class`` table of one kind (a copy), built-ins included."""
    load_builtin_parts()
    return dict(_REGISTRY[kind])


def build(kind: str, spec: Mapping[str, Any], *, where: str = "", **context: Any) -> Any:
    """Instantiate ``spec["name"]`` of ``kind`` with ``spec``'s other keys.

    ``context`` holds arguments the builder knows (``in_features``,
    ``n_outputs``, ...); they are passed only if the constructor accepts them.
    Unknown keys in ``spec`` raise :class:`ConfigError` naming the key path
    ``where`` (e.g. ``model.fusion``).
    """
    where = where or kind
    if "name" not in spec:
        raise ConfigError(f"config key '{where}' needs a 'name' (one of {sorted(_REGISTRY[kind])})")
    name = spec["name"]
    if is_import_path(name):
        cls = resolve_import_path(name, f"{where}.name")
    else:
        if name not in _REGISTRY[kind]:
            load_builtin_parts()
        try:
            cls = _REGISTRY[kind][name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"config key '{where}.name': unknown {kind} {name!r}; registered: {sorted(_REGISTRY[kind])} "
                "(or a class of your own as 'package.module:ClassName')"
            ) from None
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    for key in kwargs:
        if key in context:
            raise ConfigError(f"config key '{where}.{key}' is set by polymodal from the data; remove it")
        if not accepts_any and key not in params:
            allowed = sorted(k for k in params if k not in context and k != "self")
            raise ConfigError(f"unknown config key '{where}.{key}' for {kind} {name!r}; allowed: {allowed}")
    kwargs.update({k: v for k, v in context.items() if accepts_any or k in params})
    try:
        part = cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as error:  # RuntimeError: torch refusing e.g. a negative size
        raise ConfigError(f"config key '{where}': cannot build {kind} {name!r}: {error}") from error
    _check_out_features(part, kind, name, where)
    return part


def _check_out_features(part: Any, kind: str, name: str, where: str) -> None:
    """Encoders and feature-level fusions must declare their output size."""
    if kind == "head" or (kind == "fusion" and getattr(part, "decision_level", False)):
        return
    size = getattr(part, "out_features", None)
    try:
        ok = not isinstance(size, bool) and operator.index(size) >= 1
    except TypeError:
        ok = False
    if not ok:
        got = "has no 'out_features' attribute" if size is None else f"has out_features={size!r}"
        shape = "(N, d)" if kind == "encoder" else "(N, d) fused"
        raise ConfigError(
            f"config key '{where}': {kind} {name!r} {got}; the model needs the size d of its {shape} output: "
            f"set `self.out_features = d` (a positive int) in its __init__, e.g. from a constructor argument "
            f"that the config sets ('{where}.out_features: 64')"
        )

