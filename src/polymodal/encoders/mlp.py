"""Multilayer perceptrons: the basic encoder and prediction head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from polymodal.core.activations import ACTIVATIONS, check_activation
from polymodal.core.registry import register

__all__ = ["MLP", "Identity"]


@register("encoder", "mlp")
@register("head", "mlp")
class MLP(nn.Module):
    """``Linear -> act -> [dropout] -> ... -> Linear``.

    Parameters
    ----------
    in_features : int
    out_features : int, optional
        Output size; for a head the builder sets it to the task's output size.
        For an encoder without ``out_features`` the last hidden layer is the
        output (followed by its activation).
    hidden : sequence of int
        Hidden layer sizes (may be empty: a linear model).
    activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"}
    dropout : float
    batchnorm : bool
        BatchNorm1d after every hidden linear layer.

    >>> MLP(10, 3, hidden=[16])(torch.zeros(5, 10)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int | None = None,
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
        dropout: float = 0.0,
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        activation = check_activation(activation)
        if out_features is None and not hidden:
            raise ValueError("an MLP needs out_features or at least one hidden layer")
        if isinstance(hidden, (int, str)) or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                                                     for h in hidden):
            raise ValueError(f"hidden must be a list of layer sizes >= 1, got {hidden!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batchnorm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        if out_features is not None:
            layers.append(nn.Linear(width, out_features))
            width = out_features
        self.net = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


@register("encoder", "identity")
class Identity(nn.Module):
    """Passes the (flattened) features through: raw features for early fusion."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.in_features = self.out_features = in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)
