"""Output types shared across layers: what a composed model returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from polymodal.core.pytree import pytree_output

__all__ = ["ModelOutput"]


@pytree_output
@dataclass
class ModelOutput:
    """What a :class:`~polymodal.training.MultimodalModel` (and a
    decision-level fusion) returns.

    Attributes
    ----------
    logits : Tensor
        ``(N, n_outputs)`` fused prediction (log-probabilities for decision-level fusion).
    branch_logits : dict[str, Tensor]
        Per-branch predictions of decision-level fusion (late, hybrid), each
        ``(N, n_outputs)``; the task trains every branch on its own loss.
    branch_present : dict[str, Tensor]
        ``(N,)`` bool: which samples each branch saw (missing modalities excluded).

    Examples
    --------
    >>> out = ModelOutput(torch.zeros(4, 3))
    >>> out.logits.shape, out.branch_logits
    (torch.Size([4, 3]), {})
    """

    logits: torch.Tensor
    branch_logits: dict[str, torch.Tensor] = field(default_factory=dict)
    branch_present: dict[str, torch.Tensor] = field(default_factory=dict)
