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
    for t in range(1, T):
        new = torch.logsumexp(alpha.unsqueeze(-1) + trans, dim=-2) + node[..., t, :]
        if lengths is not None:
            keep = (t < lengths).view(shape)
            new = torch.where(keep, new, alpha)
        alpha = new
    return torch.logsumexp(alpha, dim=-1)


def fit_lbfgs(module: torch.nn.Module, neg_log_likelihood, l2: float, max_iter: int) -> None:
    """Full-batch L-BFGS (strong Wolfe line search) on ``neg_log_likelihood() +
    l2/2 ||theta||^2`` over all of ``module``'s parameters."""
    params = list(module.parameters())
    opt = torch.optim.LBFGS(params, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = neg_log_likelihood() + 0.5 * l2 * sum((p**2).sum() for p in params)
        loss.backward()
        return loss

    opt.step(closure)


def pad_views(X: list, names: list[str], dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """List of samples (dict view -> (T, d) array, or list of arrays; or a
    ``MultimodalDataset`` / ``Batch``, see ``as_samples``) -> padded
    (B, T_max, d) tensors per view and lengths (B,); views must have equal lengths."""
    import numpy as np

    from polymodal.fusion.graphical._core import as_samples

    X = as_samples(X, names)
    if len(X) == 0:
        raise ShapeError("X must hold at least one sample, got 0 samples")
    seqs = {v: [] for v in names}
    lens = []
    for i, s in enumerate(X):
        arrs = [np.asarray(s[v] if isinstance(s, dict) else s[k], dtype=float) for k, v in enumerate(names)]
        ls = {v: a.shape[0] for v, a in zip(names, arrs)}
        if len(set(ls.values())) > 1:
            raise ShapeError(f"sample {i}: views must have the same length, got {ls}")
        if arrs[0].shape[0] == 0:
            raise ShapeError(f"sample {i}: empty sequence (0 frames), expected T >= 1")
        lens.append(arrs[0].shape[0])
        for v, a in zip(names, arrs):
            seqs[v].append(torch.as_tensor(a, dtype=dtype))
    out = {v: torch.nn.utils.rnn.pad_sequence(seqs[v], batch_first=True) for v in names}
    return out, torch.tensor(lens)
