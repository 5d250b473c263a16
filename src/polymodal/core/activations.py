"""The one activation table: names a config or a constructor may use for a
nonlinearity, as module classes (:func:`activation_module`) and as functions
(:func:`activation_function`).

``"identity"`` (alias ``"linear"``, and ``None`` where a caller allows it) is
no nonlinearity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from polymodal.core.errors import ConfigError

__all__ = ["ACTIVATIONS", "activation_module", "activation_function", "check_activation"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
    "linear": nn.Identity,
}


def check_activation(name: str | None, allowed: Iterable[str] | None = None, where: str = "activation") -> str:
    """``name`` normalised (``None`` -> ``"identity"``) if it is in the table (and
    in ``allowed``); else a :class:`ConfigError` naming ``where`` and the choices."""
    choices = sorted(allowed if allowed is not None else ACTIVATIONS)
    key = "identity" if name is None and "identity" in choices else name
    if key not in choices or key not in ACTIVATIONS:
        raise ConfigError(f"{where} must be one of {choices}, got {name!r}")
    return key


def activation_module(name: str | None, allowed: Iterable[str] | None = None, where: str = "activation") -> nn.Module:
    """A new ``nn.Module`` for the activation ``name`` (see :func:`check_activation`).

    Examples
    --------
    >>> activation_module("tanh")
    Tanh()
    """
    return ACTIVATIONS[check_activation(name, allowed, where)]()


def activation_function(name: str | None, allowed: Iterable[str] | None = None,
                        where: str = "activation") -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation ``name`` as a function of a tensor (no module state).

    Examples
    --------
    >>> activation_function("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    key = check_activation(name, allowed, where)
    return _FUNCTIONS[key]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
    "leaky_relu": nn.functional.leaky_relu,
    "identity": _identity,
    "linear": _identity,
}
