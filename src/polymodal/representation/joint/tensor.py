"""Tensor fusion (Zadeh et al., EMNLP 2017) and its low-rank factorisation
(Liu et al., ACL 2018)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from polymodal.errors import ConfigError
from polymodal.representation.joint._base import JointFusion
from polymodal.core.registry import register

__all__ = ["TensorFusion", "LowRankFusion", "outer_product_fusion"]


def _with_one(h: torch.Tensor) -> torch.Tensor:
    return torch.cat([h, torch.ones(h.shape[0], 1, dtype=h.dtype, device=h.device)], dim=1)


def outer_product_fusion(hs: list[torch.Tensor]) -> torch.Tensor:
    """``vec([h_1; 1] ⊗ [h_2; 1] ⊗ ... ⊗ [h_M; 1])`` per sample, row-major
    (the first modality's index varies slowest). ``hs``: list of ``(N, d_m)``;
    returns ``(N, prod(d_m + 1))``.

    >>> outer_product_fusion([torch.tensor([[2.0]]), torch.tensor([[3.0]])])
    tensor([[6., 2., 3., 1.]])
    """
    z = _with_one(hs[0])
    for h in hs[1:]:
        h1 = _with_one(h)
        z = (z[:, :, None] * h1[:, None, :]).flatten(1)
    return z


@register("fusion", "tensor")
class TensorFusion(JointFusion):
    """Tensor Fusion (Zadeh, Chen, Poria, Cambria & Morency, "Tensor Fusion
    Network for Multimodal Sentiment Analysis", EMNLP 2017), for any number
    of modalities:

    .. math:: z = \\mathrm{vec}\\Big(\\begin{bmatrix} h_1 \\\\ 1 \\end{bmatrix} \\otimes
              \\cdots \\otimes \\begin{bmatrix} h_M \\\\ 1 \\end{bmatrix}\\Big)
              \\in \\mathbb{R}^{\\prod_m (d_m + 1)}

    The appended 1 keeps every unimodal, bimodal, ..., M-modal interaction
    term: ``z.view(d_1+1, ..., d_M+1)[:, -1, ..., -1] == h_1`` etc., and the
    last entry is 1. The size grows as :math:`\\prod_m (d_m + 1)` (six
    32-dimensional modalities would give 1.3e9 features per sample), so the
    layer refuses more than ``max_out_features``; use :class:`LowRankFusion`
    or fewer/smaller modalities then.

    Missing modality: its :math:`h_m` is set to 0, so :math:`[h_m; 1] = e_{last}`
    and only the terms without modality m survive - exactly the tensor fusion
    of the remaining modalities, embedded at their slice.

    Parameters
    ----------
    in_features : dict[str, int]
        Size of each modality's features, in the order of the product.
    max_out_features : int
    modality_dropout : float
        Training-time probability of marking a modality of a sample absent.

    >>> f = TensorFusion({"a": 2, "b": 1})
    >>> f({"a": torch.tensor([[2.0, 3.0]]), "b": torch.tensor([[5.0]])})
    tensor([[10.,  2., 15.,  3.,  5.,  1.]])
    """

    def __init__(
        self, in_features: Mapping[str, int], max_out_features: int = 2**17, modality_dropout: float = 0.0
    ) -> None:
        super().__init__(in_features, modality_dropout)
        self.out_features = math.prod(d + 1 for d in self.in_features.values())
        if self.out_features > max_out_features:
            sizes = " x ".join(f"({d}+1)" for d in self.in_features.values())
            raise ConfigError(
                f"TensorFusion of {self.in_features} has {sizes} = {self.out_features} features per sample, "
                f"more than max_out_features={max_out_features}; use fewer or smaller modalities "
                "(smaller encoder outputs) or LowRankFusion ('low_rank')"
            )

    def fuse(self, features, present):
        return outer_product_fusion([self._masked(features[m], present[m]) for m in self.modalities])


@register("fusion", "low_rank")
class LowRankFusion(JointFusion):
    """Low-rank Multimodal Fusion (Liu, Shen, Lakshminarasimhan, Liang, Zadeh
    & Morency, "Efficient Low-rank Multimodal Fusion with Modality-Specific
    Factors", ACL 2018):

    .. math:: z = \\sum_{i=1}^{r} \\lambda_i \\prod_{m=1}^{M}
              \\big(W_m^{(i)\\top} [h_m; 1]\\big) + b

    (product element-wise), which equals a linear layer on the tensor-fusion
    features with the rank-r weight :math:`\\sum_i \\lambda_i W_1^{(i)} \\otimes
    \\cdots \\otimes W_M^{(i)}`, at :math:`O(r \\sum_m d_m \\cdot d_{out})`
    parameters instead of :math:`O(d_{out} \\prod_m d_m)`. Every factor is an
    ``nn.Parameter`` in ``self.factors`` (a ``ParameterDict``), so it is saved,
    moved and trained with the model (MultiBench's implementation keeps them in
    a plain list, where they are never trained).

    The rows multiplying the constant 1 start at 1 (the others are
    Xavier-normal), so at initialisation each factor is near 1 and the product
    over many modalities does not vanish.

    Missing modality: :math:`h_m = 0`, so its factor is the constant row
    :math:`W_m^{(i)}[d_m]` - the same convention as :class:`TensorFusion`.

    Parameters
    ----------
    in_features : dict[str, int]
    out_features : int
    rank : int
    modality_dropout : float

    >>> f = LowRankFusion({"a": 3, "b": 4}, out_features=5, rank=2)
    >>> f({"a": torch.zeros(2, 3), "b": torch.zeros(2, 4)}).shape
    torch.Size([2, 5])
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        out_features: int = 64,
        rank: int = 8,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__(in_features, modality_dropout)
        if rank < 1:
            raise ConfigError(f"rank: expected a positive int, got {rank!r}")
        if out_features < 1:
            raise ConfigError(f"out_features: expected a positive int, got {out_features!r}")
        self.rank = int(rank)
        self.out_features = int(out_features)
        self.factors = nn.ParameterDict()
        for m, d in self.in_features.items():
            w = torch.empty(self.rank, d + 1, self.out_features)
            for i in range(self.rank):
                nn.init.xavier_normal_(w[i, :d])
            w[:, d] = 1.0
            self.factors[m] = nn.Parameter(w)
        self.fusion_weights = nn.Parameter(torch.full((self.rank,), 1.0 / self.rank))
        self.fusion_bias = nn.Parameter(torch.zeros(self.out_features))

    def fuse(self, features, present):
        prod = None
        for m in self.modalities:
            h1 = _with_one(self._masked(features[m], present[m]))
            zm = torch.einsum("nd,rdo->nro", h1, self.factors[m])
            prod = zm if prod is None else prod * zm
        return torch.einsum("r,nro->no", self.fusion_weights, prod) + self.fusion_bias

    def full_weight(self) -> torch.Tensor:
        """The equivalent tensor-fusion weight, ``(prod(d_m + 1), out_features)``
        (for tests and small models only)."""
        w = None
        for m in self.modalities:
            f = self.factors[m]  # (r, d+1, o)
            w = f if w is None else (w[:, :, None, :] * f[:, None, :, :]).flatten(1, 2)
        return torch.einsum("r,rdo->do", self.fusion_weights, w)
