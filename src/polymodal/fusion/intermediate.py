"""Intermediate (feature-level) fusion: concatenation of encoder outputs.

With identity encoders this is early fusion: the raw features concatenated
before one model (Baltrušaitis et al., TPAMI 2019, "model-agnostic fusion").
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from polymodal.representation.joint._base import JointFusion
from polymodal.core.registry import register

__all__ = ["ConcatFusion"]


@register("fusion", "concat")
class ConcatFusion(JointFusion):
    """``z = [h_1 * p_1; ...; h_M * p_M]`` with ``p_m`` the present mask.

    A missing modality contributes zeros. After per-feature standardisation of
    raw inputs (early fusion) zeros are the training mean, i.e. mean
    imputation; after learned encoders they are a fixed "absent" code, which
    the head only learns to read if it saw it in training: set
    ``modality_dropout`` > 0 to drop each modality of each training sample
    with that probability (at least one modality is always kept; the modality
    dropout of every joint fusion layer, :class:`polymodal.representation.joint._base.JointFusion`).

    Parameters
    ----------
    in_features : dict[str, int]
        Output size of each modality's encoder, in concatenation order.
    modality_dropout : float
        Training-time probability of dropping a modality of a sample.

    Examples
    --------
    >>> f = ConcatFusion({"a": 2, "b": 3})
    >>> f({"a": torch.ones(1, 2), "b": torch.ones(1, 3)}, {"b": torch.tensor([False])})
    tensor([[1., 1., 0., 0., 0.]])
    """

    def __init__(self, in_features: Mapping[str, int], modality_dropout: float = 0.0) -> None:
        super().__init__(in_features, modality_dropout)
        self.out_features = sum(self.in_features.values())

    def fuse(self, features: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([self._masked(features[m], present[m]) for m in self.modalities], dim=1)
