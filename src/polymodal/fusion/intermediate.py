"""Intermediate (feature-level) fusion: concatenation of encoder outputs.

With identity encoders this is early fusion: the raw features concatenated
before one model (Baltrušaitis et al., TPAMI 2019, "model-agnostic fusion").
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.errors import ModalityError
from polymodal.training.registry import register

__all__ = ["ConcatFusion"]


@register("fusion", "concat")
class ConcatFusion(nn.Module):
    """``z = [h_1 * p_1; ...; h_M * p_M]`` with ``p_m`` the present mask.

    A missing modality contributes zeros. After per-feature standardisation of
    raw inputs (early fusion) zeros are the training mean, i.e. mean
    imputation; after learned encoders they are a fixed "absent" code, which
    the head only learns to read if it saw it in training: set
    ``modality_dropout`` > 0 to drop each modality of each training sample
    with that probability (at least one modality is always kept).

    Parameters
    ----------
    in_features : dict[str, int]
        Output size of each modality's encoder, in concatenation order.
    modality_dropout : float
        Training-time probability of dropping a modality of a sample.

    >>> f = ConcatFusion({"a": 2, "b": 3})
    >>> f({"a": torch.ones(1, 2), "b": torch.ones(1, 3)}, {"b": torch.tensor([False])})
    tensor([[1., 1., 0., 0., 0.]])
    """

    def __init__(self, in_features: Mapping[str, int], modality_dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        self.in_features = dict(in_features)
        self.out_features = sum(self.in_features.values())
        self.modality_dropout = modality_dropout

    def forward(self, features: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        present = dict(present or {})
        unknown = [m for m in present if m not in self.in_features]
        if unknown:
            raise ModalityError(f"present mask for unknown modality {unknown[0]!r}; built for {list(self.in_features)}")
        parts = []
        keep = None
        if self.training and self.modality_dropout > 0 and len(self.in_features) > 1:
            n = next(iter(features.values())).shape[0]
            keep = torch.rand(n, len(self.in_features), device=next(iter(features.values())).device) >= self.modality_dropout
            none_kept = ~keep.any(dim=1)
            forced = torch.randint(len(self.in_features), (n,), device=keep.device)
            keep[none_kept, forced[none_kept]] = True
        for i, m in enumerate(self.in_features):
            h = features[m]
            mask = present.get(m)
            if keep is not None:
                mask = keep[:, i] if mask is None else mask & keep[:, i]
            parts.append(h if mask is None else h * mask[:, None].to(h.dtype))
        return torch.cat(parts, dim=1)
