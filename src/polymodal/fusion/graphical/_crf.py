"""Batched log-space forward algorithm for linear-chain (latent) CRFs in torch."""

from __future__ import annotations

import torch

from polymodal.errors import ShapeError


def crf_log_partition(node: torch.Tensor, trans: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``log sum_h exp(sum_t node[t, h_t] + sum_{t>0} trans[h_{t-1}, h_t])``.

    Parameters
    ----------
    node : (..., T, S) node potentials (any leading batch dims)
    trans : (..., S, S) or (S, S) edge potentials, broadcast against ``node``'s leading dims
    lengths : (B,) valid steps per sample (the first leading dim), or None

    Returns (...,) log-partition; differentiable (its gradient w.r.t. ``node``
    is the node marginals)."""
    T = node.shape[-2]
    if T == 0:
        raise ShapeError("empty sequence: expected T >= 1 steps, got 0")
    alpha = node[..., 0, :]
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=node.device)
        if lengths.min() < 1:
            raise ShapeError(f"lengths must be >= 1 (empty sequence), got min {int(lengths.min())}")
        shape = (-1,) + (1,) * (node.dim() - 2)
        if bool((lengths >= T).all()):
            lengths = None  # no padding: the same values without a mask per step
    for t in range(1, T):
        new = torch.logsumexp(alpha.unsqueeze(-1) + trans, dim=-2) + node[..., t, :]
        if lengths is not None:
            keep = (t < lengths).view(shape)
            new = torch.where(keep, new, alpha)
        alpha = new
    return torch.logsumexp(alpha, dim=-1)
