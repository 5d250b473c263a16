"""The deep-CCA correlation objective with a stable, differentiable inverse square root."""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.errors import ConfigError, ShapeError

__all__ = ["sym_inv_sqrt", "cca_correlation", "cca_loss"]


def _divided_differences(w: Tensor, f: Tensor, df: Tensor) -> Tensor:
    """G_ij = (f_i - f_j) / (w_i - w_j), or f'((w_i + w_j)/2)-ish where w_i ~ w_j."""
    dw = w[:, None] - w[None, :]
    close = dw.abs() <= 1e-8 * w.abs().max().clamp(min=1e-30) + 1e-30
    safe = torch.where(close, torch.ones_like(dw), dw)
    G = (f[:, None] - f[None, :]) / safe
    return torch.where(close, (df[:, None] + df[None, :]) / 2, G)


class _SymInvSqrt(torch.autograd.Function):
    """``A^{-1/2}`` of a symmetric matrix by eigh, eigenvalues clamped at ``eps``.

    The backward pass is the Daleckii-Krein formula
    ``dF = U (G o (U^T dA U)) U^T`` with the divided differences ``G`` of
    ``f(w) = max(w, eps)^{-1/2}``, which stays finite for repeated eigenvalues
    (where differentiating ``eigh`` itself divides by zero).
    """

    @staticmethod
    def forward(ctx, A: Tensor, eps: float) -> Tensor:
        w, U = torch.linalg.eigh(A)
        wc = w.clamp(min=eps)
        f = wc.rsqrt()
        df = torch.where(w > eps, -0.5 * wc.pow(-1.5), torch.zeros_like(w))
        ctx.save_for_backward(U, _divided_differences(w, f, df))
        return (U * f) @ U.T

    @staticmethod
    def backward(ctx, grad: Tensor):
        U, G = ctx.saved_tensors
        g = U.T @ ((grad + grad.T) / 2) @ U
        return U @ (G * g) @ U.T, None


def sym_inv_sqrt(A: Tensor, eps: float = 1e-12) -> Tensor:
    """Inverse square root of a symmetric (d, d) matrix, stable forward and backward.

    Examples
    --------
    >>> A = torch.tensor([[4.0, 0.0], [0.0, 9.0]], dtype=torch.float64)
    >>> sym_inv_sqrt(A).diagonal().tolist()
    [0.5, 0.3333333333333333]
    """
    if A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ShapeError(f"sym_inv_sqrt needs a square (d, d) matrix; got shape {tuple(A.shape)}")
    return _SymInvSqrt.apply(A, eps)


def cca_correlation(
    h1: Tensor,
    h2: Tensor,
    n_components: int | None = None,
    reg: float = 1e-3,
    eps: float = 1e-12,
) -> Tensor:
    """Sum of the top canonical correlations of two batches of features.

    Andrew, Arora, Bilmes & Livescu, "Deep canonical correlation analysis",
    ICML 2013:

    .. math::

        \\operatorname{corr}(H_1, H_2) = \\sum_{i \\le k} \\sigma_i(T),\\quad
        T = \\hat\\Sigma_{11}^{-1/2} \\hat\\Sigma_{12} \\hat\\Sigma_{22}^{-1/2},\\quad
        \\hat\\Sigma_{jj} = \\tfrac{1}{m-1} \\bar H_j^\\top \\bar H_j + r I,

    ``n_components=None`` sums all singular values (the trace norm, the paper's
    total correlation). The inverse square roots come from :func:`sym_inv_sqrt`
    (eigenvalues clamped at ``eps``), whose gradient stays finite when
    eigenvalues repeat, as they do when the batch is not larger than the output
    dimension (then ``reg`` keeps the covariances positive definite).

    Parameters
    ----------
    h1 : Tensor (batch, o1);  h2 : Tensor (batch, o2)
    n_components : int or None
    reg : float > 0 — ridge ``r`` added to both covariances (keeps the loss
        finite when the batch is not larger than the output dimension)
    eps : float — eigenvalue clamp

    Examples
    --------
    >>> h = torch.randn(50, 3, dtype=torch.float64)
    >>> round(float(cca_correlation(h, 2 * h + 1, reg=0.0, eps=1e-30)), 6)
    3.0
    """
    if h1.dim() != 2 or h2.dim() != 2 or h1.shape[0] != h2.shape[0]:
        raise ShapeError(
            "h1 and h2 must be 2-D (batch, dim) with the same batch size; got shapes "
            f"{tuple(h1.shape)} and {tuple(h2.shape)}"
        )
    m = h1.shape[0]
    if m < 2:
        raise ShapeError(f"the correlation needs a batch of at least 2 samples; got {m}")
    if reg < 0:
        raise ConfigError(f"reg must be >= 0; got {reg!r}")
    kmax = min(h1.shape[1], h2.shape[1])
    k = kmax if n_components is None else n_components
    if not 1 <= k <= kmax:
        raise ConfigError(f"n_components must be in [1, {kmax}]; got {n_components!r}")
    h1 = h1 - h1.mean(dim=0)
    h2 = h2 - h2.mean(dim=0)
    s11 = h1.T @ h1 / (m - 1) + reg * torch.eye(h1.shape[1], dtype=h1.dtype, device=h1.device)
    s22 = h2.T @ h2 / (m - 1) + reg * torch.eye(h2.shape[1], dtype=h2.dtype, device=h2.device)
    s12 = h1.T @ h2 / (m - 1)
    try:
        T = sym_inv_sqrt(s11, eps) @ s12 @ sym_inv_sqrt(s22, eps)
    except torch.linalg.LinAlgError:  # checked only on failure: a check on every call would sync the device
        for name, h in (("h1", h1), ("h2", h2)):
            if not torch.isfinite(h).all():
                raise ShapeError(f"{name} contains NaN or inf (a diverged encoder?)") from None
        raise
    # svdvals' backward is U diag(g) V^T: no division by singular-value gaps
    return torch.linalg.svdvals(T)[:k].sum()


def cca_loss(h1: Tensor, h2: Tensor, n_components: int | None = None, reg: float = 1e-3,
             eps: float = 1e-12) -> Tensor:
    """Negative :func:`cca_correlation` (minimise it to train deep CCA).

    Examples
    --------
    >>> h = torch.randn(20, 2, dtype=torch.float64)
    >>> round(float(cca_loss(h, h, reg=0.0, eps=1e-30)), 6)
    -2.0
    """
    return -cca_correlation(h1, h2, n_components, reg, eps)
