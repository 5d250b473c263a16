"""Soft-DTW value, gradient and divergence on numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.alignment._validation import as_sequence, check_pair
from polymodal.alignment.dtw._lazy import kernels
from polymodal.errors import ConfigError

SK = kernels("_soft_kernels")  # numba loads on the first kernel call

__all__ = ["SoftDTWResult", "soft_dtw", "soft_dtw_divergence"]


@dataclass
class SoftDTWResult:
    """Result of :func:`soft_dtw`.

    ``value``: the soft-DTW value; ``grad`` (n, d): its gradient with respect
    to ``x``; ``alignment`` (n, m): the expected alignment matrix
    ``E = dvalue / dC`` (rows of the soft path); the last two on request.
    """

    value: float
    grad: np.ndarray | None = None
    alignment: np.ndarray | None = None


def _check_gamma(gamma) -> float:
    if not np.isfinite(gamma) or gamma <= 0:
        raise ConfigError(f"gamma must be a finite number > 0, got {gamma!r}")
    return float(gamma)


def soft_dtw(x, y, *, gamma: float = 1.0, return_grad: bool = False) -> SoftDTWResult:
    """Soft-DTW (Cuturi & Blondel, "Soft-DTW: a differentiable loss function
    for time-series", ICML 2017).

    .. math::

        R_{i,j} = c(x_i, y_j) + \\min{}^{\\gamma}(R_{i-1,j-1}, R_{i-1,j}, R_{i,j-1}),
        \\quad \\min{}^{\\gamma}(a) = -\\gamma \\log \\sum_k e^{-a_k / \\gamma},

    with ``c`` the squared Euclidean distance; the value is ``R_{n,m}`` (as
    ``tslearn.metrics.soft_dtw``) and tends to the DTW cost as gamma -> 0.
    The gradient comes from the backward recursion (their Algorithm 2).

    Parameters
    ----------
    x : array (n,) or (n, d);  y : array (m,) or (m, d);  gamma : float > 0
    return_grad : also return the gradient (n, d) and the alignment E (n, m)

    Examples
    --------
    >>> round(soft_dtw([0.0, 1.0], [0.0, 1.0], gamma=1.0).value, 4)
    -0.5514
    """
    gamma = _check_gamma(gamma)
    xs, ys = as_sequence(x, "x"), as_sequence(y, "y")
    check_pair(xs, ys)
    n, m = xs.shape[0], ys.shape[0]
    Cd = SK.sqeuclidean_skewed(np.ascontiguousarray(xs.T), np.ascontiguousarray(ys[::-1].T))
    W = np.zeros((3, Cd.shape[0]))
    value = float(SK.sdtw_forward(Cd, n, m, gamma, W))
    if not return_grad:
        return SoftDTWResult(value)
    E = SK.unskew(SK.sdtw_backward(W, n, m), n, m)
    grad = 2.0 * (E.sum(axis=1)[:, None] * xs - E @ ys)
    return SoftDTWResult(value, grad, E)


def soft_dtw_divergence(x, y, *, gamma: float = 1.0) -> float:
    """Debiased soft-DTW divergence (Blondel, Mensch & Vert, AISTATS 2021).

    .. math:: D(x, y) = \\mathrm{sdtw}(x, y) - \\tfrac12 (\\mathrm{sdtw}(x, x) + \\mathrm{sdtw}(y, y)),

    non-negative and zero for ``x = y``.

    >>> soft_dtw_divergence([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    0.0
    """
    return (
        soft_dtw(x, y, gamma=gamma).value
        - 0.5 * (soft_dtw(x, x, gamma=gamma).value + soft_dtw(y, y, gamma=gamma).value)
    )
