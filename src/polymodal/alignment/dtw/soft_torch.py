"""Soft-DTW as a batched, differentiable torch operation (CPU and GPU)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.alignment.dtw._lazy import kernels
from polymodal.alignment.dtw.soft import _check_gamma
from polymodal.errors import ConfigError, ShapeError

SK = kernels("_soft_kernels")  # numba loads on the first kernel call

__all__ = ["SoftDTW", "soft_dtw_loss", "SoftDTWLoss", "soft_dtw_torch_wavefront"]


def soft_dtw_torch_wavefront(C: Tensor, gamma: float, need_grad: bool = True):
    """Soft-DTW values (B,) and gradients E (B, n, m) of local costs C (B, n, m)
    with torch ops only, one anti-diagonal at a time (all cells of a diagonal
    and all batch items in one kernel launch): the GPU path.  Backward is
    Cuturi & Blondel's Algorithm 2."""
    B, n, m = C.shape
    inf = torch.tensor(float("inf"), dtype=C.dtype, device=C.device)
    R = torch.full((B, n + 2, m + 2), float("inf"), dtype=C.dtype, device=C.device)
    R[:, 0, 0] = 0.0
    diags = []
    for k in range(2, n + m + 1):
        ii = torch.arange(max(1, k - m), min(n, k - 1) + 1, device=C.device)
        jj = k - ii
        diags.append((ii, jj))
        prev = torch.stack((R[:, ii - 1, jj - 1], R[:, ii - 1, jj], R[:, ii, jj - 1]), dim=-1)
        R[:, ii, jj] = C[:, ii - 1, jj - 1] - gamma * torch.logsumexp(-prev / gamma, dim=-1)
    values = R[:, n, m].clone()
    if not need_grad:
        return values, None
    Cp = torch.zeros_like(R)
    Cp[:, 1 : n + 1, 1 : m + 1] = C
    R[:, :, m + 1] = -inf
    R[:, n + 1, :] = -inf
    R[:, n + 1, m + 1] = values
    E = torch.zeros_like(R)
    E[:, n + 1, m + 1] = 1.0
    for ii, jj in reversed(diags):
        r = R[:, ii, jj]
        a = torch.exp((R[:, ii + 1, jj] - r - Cp[:, ii + 1, jj]) / gamma)
        b = torch.exp((R[:, ii, jj + 1] - r - Cp[:, ii, jj + 1]) / gamma)
        c = torch.exp((R[:, ii + 1, jj + 1] - r - Cp[:, ii + 1, jj + 1]) / gamma)
        E[:, ii, jj] = E[:, ii + 1, jj] * a + E[:, ii, jj + 1] * b + E[:, ii + 1, jj + 1] * c
    return values, E[:, 1 : n + 1, 1 : m + 1]


class SoftDTW(torch.autograd.Function):
    """Batched soft-DTW of local cost matrices (Cuturi & Blondel, ICML 2017).

    ``SoftDTW.apply(C, gamma)`` maps C (B, n, m) to values (B,); the gradient
    is ``grad_output[b] * E[b]`` with E the expected alignment from the
    backward recursion.  Computes in C's dtype (float64 stays float64): on CPU
    with the compiled anti-diagonal kernel, on other devices with
    :func:`soft_dtw_torch_wavefront`.

    >>> C = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    >>> SoftDTW.apply(C, 1.0).round(decimals=4)
    tensor([-0.5514], dtype=torch.float64)
    """

    @staticmethod
    def forward(ctx, C: Tensor, gamma: float) -> Tensor:  # type: ignore[override]
        need_grad = C.requires_grad
        dtype = C.dtype
        work = C.detach()
        if work.dtype not in (torch.float32, torch.float64):
            work = work.float()
        if work.device.type == "cpu":
            B, n, m = work.shape
            kernel = SK.sdtw_batch if B > 1 and B * n * m >= 200_000 else SK.sdtw_batch_serial
            vals, E = kernel(np.ascontiguousarray(work.numpy()), gamma, need_grad)
            vals = torch.from_numpy(vals)
            E = torch.from_numpy(E) if need_grad else None
        else:
            vals, E = soft_dtw_torch_wavefront(work, gamma, need_grad)
        if need_grad:
            ctx.save_for_backward(E.to(dtype))
        return vals.to(dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        (E,) = ctx.saved_tensors
        return grad_output[:, None, None] * E, None


def _sq_dists(x: Tensor, y: Tensor) -> Tensor:
    xx = (x * x).sum(-1)[:, :, None]
    yy = (y * y).sum(-1)[:, None, :]
    return (xx + yy - 2.0 * torch.bmm(x, y.transpose(1, 2))).clamp_min(0.0)


def _as_batch(t: Tensor, name: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() == 1:
        t = t[None, :, None]
    elif t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[1] == 0 or t.shape[2] == 0 or t.shape[0] == 0:
        raise ShapeError(f"{name} must have shape (T,), (T, d) or (B, T, d) with B, T, d >= 1, got {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ShapeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    bad = ~torch.isfinite(t.detach())
    if bad.any():
        b, i = (int(v) for v in bad.any(-1).nonzero()[0])
        kind = "NaN" if torch.isnan(t.detach()[b, i]).any() else "inf"
        raise ShapeError(f"{name} contains {kind} (sequence {b}, time step {i}); soft-DTW needs finite values")
    return t


def soft_dtw_loss(x: Tensor, y: Tensor, gamma: float = 1.0, normalize: bool = False) -> Tensor:
    """Soft-DTW between batches of sequences, differentiable in x and y.

    ``sdtw_gamma(x_b, y_b)`` with squared Euclidean local costs (Cuturi &
    Blondel, ICML 2017); with ``normalize=True`` the debiased divergence
    ``sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2`` (Blondel, Mensch & Vert,
    AISTATS 2021).

    Parameters
    ----------
    x : (B, n, d), (n, d) or (n,);  y : (B, m, d), (m, d) or (m,)
    gamma : smoothing > 0

    Returns
    -------
    Tensor (B,)

    >>> x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    >>> soft_dtw_loss(x, x, normalize=True)
    tensor([0.], dtype=torch.float64)
    """
    gamma = _check_gamma(gamma)
    x, y = _as_batch(x, "x"), _as_batch(y, "y")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ShapeError(
            f"x and y must share batch size and feature dimension: x has (B={x.shape[0]}, "
            f"d={x.shape[2]}), y has (B={y.shape[0]}, d={y.shape[2]})"
        )
    if x.dtype != y.dtype:
        raise ShapeError(f"x and y must share a dtype, got {x.dtype} and {y.dtype}")
    value = SoftDTW.apply(_sq_dists(x, y), gamma)
    if normalize:
        value = value - 0.5 * (SoftDTW.apply(_sq_dists(x, x), gamma) + SoftDTW.apply(_sq_dists(y, y), gamma))
    return value


class SoftDTWLoss(nn.Module):
    """Module form of :func:`soft_dtw_loss` with a ``reduction`` ("mean", "sum", "none").

    >>> loss = SoftDTWLoss(gamma=0.1, normalize=True)
    >>> float(loss(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3)))
    0.0
    """

    def __init__(self, gamma: float = 1.0, normalize: bool = False, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.gamma = _check_gamma(gamma)
        self.normalize = normalize
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        v = soft_dtw_loss(x, y, self.gamma, self.normalize)
        return v.mean() if self.reduction == "mean" else v.sum() if self.reduction == "sum" else v
