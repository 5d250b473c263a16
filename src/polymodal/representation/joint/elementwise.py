"""Element-wise joint layers: sum, product and an MLP over the concatenation.

The simplest joint representations of Baltrušaitis et al. ("Multimodal
Machine Learning: A Survey and Taxonomy", TPAMI 2019, Sec. 3.1): project each
modality to a common size and combine the projections additively or
multiplicatively, or feed the concatenation through a fully connected joint
layer (Ngiam et al., ICML 2011, shared layer; Ouyang et al., CVPR 2014).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from polymodal.core.activations import activation_module
from polymodal.errors import ConfigError
from polymodal.representation.joint._base import JointFusion
from polymodal.core.registry import register

__all__ = ["SumFusion", "ProductFusion", "MLPFusion"]

_activation = activation_module  # None: no nonlinearity


class _Projected(JointFusion):
    """Per-modality affine projection ``z_m = act(W_m h_m + b_m)`` to ``out_features``."""

    def __init__(self, in_features, out_features: int | None, project: bool, activation, modality_dropout):
        super().__init__(in_features, modality_dropout)
        sizes = set(self.in_features.values())
        if not project:
            if len(sizes) != 1:
                raise ConfigError(
                    f"project=False needs equal feature sizes, got {self.in_features}; set project=True"
                )
            if out_features is not None and out_features not in sizes:
                raise ConfigError(f"out_features: with project=False it must be {sizes.pop()}, got {out_features}")
            self.out_features = int(next(iter(sizes)))
            self.proj = None
        else:
            if out_features is None or out_features < 1:
                raise ConfigError(f"out_features: expected a positive int with project=True, got {out_features!r}")
            self.out_features = int(out_features)
            self.proj = nn.ModuleDict({m: nn.Linear(d, self.out_features) for m, d in self.in_features.items()})
        self.act = _activation(activation)

    def _z(self, m: str, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.proj[m](h) if self.proj is not None else h)


@register("fusion", "sum")
class SumFusion(_Projected):
    """Element-wise sum of projected modalities.

    .. math:: z = \\sum_{m} \\pi_m \\, \\sigma(W_m h_m + b_m)

    Missing modalities (``present[m]`` False, :math:`\\pi_m = 0`) are left out
    of the sum; with ``reduce="mean"`` the sum is divided by the number of
    present modalities, so the scale does not depend on how many are missing.

    Parameters
    ----------
    in_features : dict[str, int]
        Encoder output size per modality.
    out_features : int
        Common size of the projections (ignored sizes must match if ``project=False``).
    project : bool
        Learn ``W_m, b_m``; without it all ``in_features`` must be equal.
    activation : {"relu", "tanh", "sigmoid", "gelu", None}
        :math:`\\sigma` applied to each projection.
    reduce : {"sum", "mean"}
    modality_dropout : float
        Training-time probability of marking a modality of a sample absent.

    >>> f = SumFusion({"a": 2, "b": 2}, project=False)
    >>> f({"a": torch.ones(1, 2), "b": 2 * torch.ones(1, 2)})
    tensor([[3., 3.]])
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        out_features: int | None = 64,
        project: bool = True,
        activation: str | None = None,
        reduce: str = "sum",
        modality_dropout: float = 0.0,
    ) -> None:
        if reduce not in ("sum", "mean"):
            raise ConfigError(f"reduce: expected 'sum' or 'mean', got {reduce!r}")
        super().__init__(in_features, out_features if project else None, project, activation, modality_dropout)
        self.reduce = reduce

    def fuse(self, features, present):
        z = sum(self._masked(self._z(m, features[m]), present[m]) for m in self.modalities)
        if self.reduce == "mean":
            count = torch.stack([present[m] for m in self.modalities], 1).sum(1).clamp_min(1)
            z = z / count[:, None].to(z.dtype)
        return z


@register("fusion", "product")
class ProductFusion(_Projected):
    """Element-wise (Hadamard) product of projected modalities.

    .. math:: z = \\prod_{m} \\big(\\pi_m \\, \\sigma(W_m h_m + b_m) + (1 - \\pi_m)\\big)

    A missing modality contributes the multiplicative identity 1. With
    projection the biases start at 1, so every factor starts near 1 and the
    product of many modalities neither vanishes nor explodes at initialisation.

    Parameters as :class:`SumFusion` (without ``reduce``).

    >>> f = ProductFusion({"a": 2, "b": 2}, project=False)
    >>> f({"a": torch.ones(1, 2) * 3, "b": 2 * torch.ones(1, 2)}, {"b": torch.tensor([False])})
    tensor([[3., 3.]])
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        out_features: int | None = 64,
        project: bool = True,
        activation: str | None = None,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__(in_features, out_features if project else None, project, activation, modality_dropout)
        if self.proj is not None:
            with torch.no_grad():
                for layer in self.proj.values():
                    layer.bias.fill_(1.0)

    def fuse(self, features, present):
        z = None
        for m in self.modalities:
            zm = self._z(m, features[m])
            p = present[m][:, None]
            zm = torch.where(p, zm, torch.ones_like(zm))
            z = zm if z is None else z * zm
        return z


@register("fusion", "mlp")
class MLPFusion(JointFusion):
    """A fully connected joint layer over the concatenated modalities.

    .. math:: z = \\sigma\\big(W [\\pi_1 h_1; \\dots; \\pi_M h_M; \\pi_1, \\dots, \\pi_M] + b\\big)

    (stacked for several ``hidden`` sizes). Missing modalities are zeroed and,
    with ``indicators=True``, the present bits :math:`\\pi_m` are appended, so
    the layer can tell "absent" from "zero-valued" features.

    Parameters
    ----------
    in_features : dict[str, int]
    hidden : sequence of int
        Sizes of the joint layers; the last one is ``out_features``.
    activation : {"relu", "tanh", "sigmoid", "gelu"}
    dropout : float
    indicators : bool
    modality_dropout : float

    >>> f = MLPFusion({"a": 3, "b": 4}, hidden=[8])
    >>> f({"a": torch.zeros(2, 3), "b": torch.zeros(2, 4)}).shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
        dropout: float = 0.0,
        indicators: bool = True,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__(in_features, modality_dropout)
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ConfigError(f"hidden: expected one or more positive sizes, got {list(hidden)}")
        if activation is None:
            raise ConfigError("activation: the MLP joint layer needs a non-linearity, got None")
        self.indicators = indicators
        width = sum(self.in_features.values()) + (len(self.in_features) if indicators else 0)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, int(size)), _activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def fuse(self, features, present):
        parts = [self._masked(features[m], present[m]) for m in self.modalities]
        if self.indicators:
            parts.append(torch.stack([present[m] for m in self.modalities], 1).to(parts[0].dtype))
        return self.net(torch.cat(parts, dim=1))
