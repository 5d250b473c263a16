"""The name registry: every encoder, fusion and head can be built by name.

Each kind (``"encoder"``, ``"fusion"``, ``"head"``) is its own namespace: the
config key decides which one a name is looked up in, so ``"mlp"`` under
``model.encoder`` is :class:`polymodal.encoders.MLP`, under ``model.head`` the
same class used as a predictor, and under ``model.fusion``
:class:`polymodal.representation.MLPFusion`. Error messages name the kind.

There is one way to register a part: the decorator, on the class where it is
defined::

    @register("encoder", "mlp")
    class MLP(nn.Module): ...

and configs name it: ``{"name": "mlp", "hidden": [128]}``. ``training`` never
imports a concrete encoder or fusion. Built-in parts are found without
importing every package: :data:`BUILTIN_PARTS` maps each built-in
``(kind, name)`` to ``"module:Class"`` and the module is imported on first use
(a test checks the table against what the decorators register, so the two
cannot drift apart).

A config may also name a user's own class by import path,
``{"name": "my_pkg.models:MyEncoder", ...}`` (``module:attribute``; the module
is imported, so only use configs you trust, as with any Python file). An
encoder (and a feature-level fusion) must tell the model its output size in
an ``out_features`` attribute; one without it is a :class:`ConfigError`
saying how to declare it.
"""

from __future__ import annotations

import importlib
import inspect
import operator
from collections.abc import Callable, Mapping
from typing import Any

from polymodal.core.errors import ConfigError
from polymodal.core.interfaces import is_decision_level
from polymodal.core.import_path import is_import_path, resolve_import_path

__all__ = ["register", "build", "registered", "registered_names", "resolve", "resolve_import_path", "KINDS",
           "BUILTIN_PARTS"]

KINDS = ("encoder", "fusion", "head")

# Every built-in part: kind -> name -> "module:Class" (the module is imported
# when the part is first built). tests/training/test_registry.py checks that
# this equals what the @register decorators in src/polymodal declare.
BUILTIN_PARTS: dict[str, dict[str, str]] = {
    "encoder": {
        "audio_cnn": "polymodal.encoders.audio:AudioCNN",
        "clip_text": "polymodal.encoders.pretrained:CLIPTextEncoder",
        "clip_vision": "polymodal.encoders.pretrained:CLIPVisionEncoder",
        "denoising_autoencoder": "polymodal.encoders.autoencoder:DenoisingAutoencoderNetwork",
        "embedding": "polymodal.encoders.text:EmbeddingEncoder",
        "gru": "polymodal.encoders.sequence:GRUEncoder",
        "hf_audio": "polymodal.encoders.pretrained:PretrainedAudioEncoder",
        "hf_text": "polymodal.encoders.pretrained:PretrainedTextEncoder",
        "hf_vision": "polymodal.encoders.pretrained:PretrainedVisionEncoder",
        "identity": "polymodal.encoders.mlp:Identity",
        "lenet": "polymodal.encoders.image:LeNet",
        "lstm": "polymodal.encoders.sequence:LSTMEncoder",
        "mlp": "polymodal.encoders.mlp:MLP",
        "resnet_cnn": "polymodal.encoders.image:ResNetCNN",
        "rnn": "polymodal.encoders.sequence:RNNEncoder",
        "sequence": "polymodal.encoders.sequence:SequenceEncoder",
        "spectrogram_rnn": "polymodal.encoders.audio:SpectrogramSequenceEncoder",
        "stacked_autoencoder": "polymodal.encoders.autoencoder:StackedAutoencoderNetwork",
        "steps": "polymodal.encoders.sequence:SequenceSteps",
        "tied_autoencoder": "polymodal.encoders.autoencoder:TiedAutoencoderNetwork",
    },
    "fusion": {
        "concat": "polymodal.fusion.intermediate:ConcatFusion",
        "early_lstm": "polymodal.fusion.sequential.lstm:EarlyFusionLSTM",
        "gated": "polymodal.fusion.robust:GatedFusion",
        "hybrid": "polymodal.fusion.late:HybridFusion",
        "late": "polymodal.fusion.late:LateFusion",
        "late_lstm": "polymodal.fusion.sequential.lstm:LateFusionLSTM",
        "low_rank": "polymodal.representation.joint.tensor:LowRankFusion",
        "mfn": "polymodal.fusion.sequential.mfn:MemoryFusionNetwork",
        "mlp": "polymodal.representation.joint.elementwise:MLPFusion",
        "mult": "polymodal.fusion.sequential.mult:MultimodalTransformer",
        "multimodal_autoencoder": "polymodal.representation.joint.autoencoder:MultimodalAutoencoderNetwork",
        "multiplicative": "polymodal.representation.joint.multiplicative:MultiplicativeFusion",
        "mv_lstm": "polymodal.fusion.sequential.mvlstm:MVLSTM",
        "product": "polymodal.representation.joint.elementwise:ProductFusion",
        "sum": "polymodal.representation.joint.elementwise:SumFusion",
        "tensor": "polymodal.representation.joint.tensor:TensorFusion",
    },
    "head": {
        "mlp": "polymodal.encoders.mlp:MLP",
    },
}

# classes registered so far (built-ins once their module is imported, and users' own)
_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}


def _check_kind(kind: str) -> None:
    if kind not in _REGISTRY:
        raise ConfigError(f"registry kind must be one of {KINDS}, got {kind!r}")


def _path_of(cls: Any) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class decorator adding ``cls`` to the registry under ``(kind, name)``.

    A name is unique within its kind; a built-in name cannot be taken by
    another class.
    """
    _check_kind(kind)

    def decorate(cls: Callable[..., Any]) -> Callable[..., Any]:
        builtin = BUILTIN_PARTS[kind].get(name)
        if builtin is not None and builtin != _path_of(cls):
            raise ValueError(f"{kind} {name!r} is a built-in registered to {builtin!r}")
        existing = _REGISTRY[kind].get(name)
        if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"{kind} {name!r} is already registered to {existing!r}")
        _REGISTRY[kind][name] = cls
        return cls

    return decorate


def registered_names(kind: str) -> list[str]:
    """Sorted names of one kind (built-ins and users' own), importing nothing."""
    _check_kind(kind)
    return sorted(set(BUILTIN_PARTS[kind]) | set(_REGISTRY[kind]))


def resolve(kind: str, name: str, where: str = "") -> Callable[..., Any]:
    """The class registered as ``name`` of ``kind``; a built-in's module is
    imported on first use. Raises :class:`ConfigError` naming the kind and
    the config key ``where`` for an unknown name."""
    _check_kind(kind)
    where = where or kind
    try:
        return _REGISTRY[kind][name]
    except (KeyError, TypeError):
        pass
    path = BUILTIN_PARTS[kind].get(name) if isinstance(name, str) else None
    if path is None:
        raise ConfigError(
            f"config key '{where}.name': unknown {kind} {name!r}; registered: {registered_names(kind)} "
            "(or a class of your own as 'package.module:ClassName')"
        )
    module, _, attribute = path.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    _REGISTRY[kind].setdefault(name, cls)  # the decorator has run; this covers a reloaded module
    return cls


def load_builtin_parts() -> None:
    """Import the module of every built-in part (only :func:`registered` needs this)."""
    for kind in KINDS:
        for name in BUILTIN_PARTS[kind]:
            resolve(kind, name)


def registered(kind: str) -> dict[str, Callable[..., Any]]:
    """The ``name -> class`` table of one kind (a copy), built-ins included
    (imports every built-in module of that kind; :func:`registered_names`
    lists names without importing)."""
    _check_kind(kind)
    for name in BUILTIN_PARTS[kind]:
        resolve(kind, name)
    return dict(_REGISTRY[kind])


def build(kind: str, spec: Mapping[str, Any], *, where: str = "", **context: Any) -> Any:
    """Instantiate ``spec["name"]`` of ``kind`` with ``spec``'s other keys.

    ``context`` holds arguments the builder knows (``in_features``,
    ``n_outputs``, ...); they are passed only if the constructor accepts them.
    Unknown keys in ``spec`` raise :class:`ConfigError` naming the key path
    ``where`` (e.g. ``model.fusion``).
    """
    _check_kind(kind)
    where = where or kind
    if "name" not in spec:
        raise ConfigError(f"config key '{where}' needs a 'name' (a registered {kind}: {registered_names(kind)})")
    name = spec["name"]
    if is_import_path(name):
        cls = resolve_import_path(name, f"{where}.name")
    else:
        cls = resolve(kind, name, where)
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
    if kind == "head" or (kind == "fusion" and is_decision_level(part)):
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
