"""Multiplicative interactions (Jayakumar, Czarnecki, Menick, Schwarz, Rae,
Osindero, Teh, Harley & Pascanu, "Multiplicative Interactions and Where to
Find Them", ICLR 2020) as a fusion layer."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from polymodal.errors import ConfigError, ModalityError
from polymodal.representation.joint._base import JointFusion
from polymodal.core.registry import register

__all__ = ["MultiplicativeFusion"]


@register("fusion", "multiplicative")
class MultiplicativeFusion(JointFusion):
    """A multiplicative interaction between a primary modality ``x`` and the
    context ``z`` (the concatenation of the other modalities):

    .. math:: f(x, z) = z^\\top \\mathbb{W} x + z^\\top U + V x + b
              = W'(z)\\, x + b'(z)

    with :math:`\\mathbb{W} \\in \\mathbb{R}^{d_z \\times d_{out} \\times d_x}` a
    3-tensor, i.e. the context generates the weights
    :math:`W'(z) = z^\\top \\mathbb{W} + V` and bias :math:`b'(z) = z^\\top U + b`
    of a linear layer applied to ``x`` (Jayakumar et al. 2020, Eq. 1). With
    ``rank`` set, :math:`\\mathbb{W}_{k o j} = \\sum_s A_{ks} C_{os} B_{js}`
    (a CP factorisation, the paper's low-rank variant).

    Missing modalities are zeros: a missing context modality drops its
    columns of :math:`z` (all context missing leaves the plain linear layer
    :math:`Vx + b`); a missing primary modality leaves :math:`z^\\top U + b`.

    Parameters
    ----------
    in_features : dict[str, int]
    out_features : int
    primary : str, optional
        The modality ``x``; the first one by default.
    rank : int, optional
        CP rank of :math:`\\mathbb{W}`; full tensor if None.
    modality_dropout : float

    >>> f = MultiplicativeFusion({"a": 3, "b": 4}, out_features=5)
    >>> f({"a": torch.zeros(2, 3), "b": torch.zeros(2, 4)}).shape
    torch.Size([2, 5])
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        out_features: int = 64,
        primary: str | None = None,
        rank: int | None = None,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__(in_features, modality_dropout)
        if len(self.in_features) < 2:
            raise ConfigError(f"MultiplicativeFusion needs at least two modalities, got {self.modalities}")
        primary = self.modalities[0] if primary is None else primary
        if primary not in self.in_features:
            raise ModalityError(f"primary: unknown modality {primary!r}; built for {self.modalities}")
        if out_features < 1 or (rank is not None and rank < 1):
            raise ConfigError(f"out_features and rank must be positive, got {out_features!r} and {rank!r}")
        self.primary = primary
        self.context = [m for m in self.modalities if m != primary]
        dx = self.in_features[primary]
        dz = sum(self.in_features[m] for m in self.context)
        self.out_features = int(out_features)
        self.rank = rank
        if rank is None:
            self.W = nn.Parameter(torch.randn(dz, self.out_features, dx) / math.sqrt(dz * dx))
        else:
            self.A = nn.Parameter(torch.randn(dz, rank) / math.sqrt(dz))
            self.B = nn.Parameter(torch.randn(dx, rank) / math.sqrt(dx))
            self.C = nn.Parameter(torch.randn(self.out_features, rank) / math.sqrt(rank))
        self.U = nn.Linear(dz, self.out_features, bias=False)
        self.V = nn.Linear(dx, self.out_features)  # carries b

    def fuse(self, features, present):
        x = self._masked(features[self.primary], present[self.primary])
        z = torch.cat([self._masked(features[m], present[m]) for m in self.context], dim=1)
        if self.rank is None:
            inter = torch.einsum("nk,koj,nj->no", z, self.W, x)
        else:
            inter = ((z @ self.A) * (x @ self.B)) @ self.C.T
        return inter + self.U(z) + self.V(x)
