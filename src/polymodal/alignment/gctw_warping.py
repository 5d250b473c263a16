"""Monotone warp bases and the Gauss-Newton warp update of generalized time
warping (Zhou & De la Torre, "Generalized time warping for multi-modal
alignment of human motion", CVPR 2012; "Generalized Canonical Time Warping",
IEEE TPAMI 2016).

A warp of sequence ``i`` (length ``n_i``) onto a common timeline of ``l``
steps is a combination of monotone bases,

.. math:: p_i = (n_i - 1)\\, Q a_i, \\qquad a_i \\ge 0, \\quad 1^\\top a_i = 1,

where every column of ``Q`` (l, k) increases from ``Q[0] = 0`` to
``Q[-1] = 1``: non-negative weights keep ``p_i`` non-decreasing and the
sum-to-one constraint gives the boundary conditions ``p_i(0) = 0``,
``p_i(l-1) = n_i - 1`` exactly. The warped sequence samples ``X_i`` at the
fractional frames ``p_i`` by linear interpolation.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline
from scipy.optimize import nnls

from polymodal.errors import ConfigError, ShapeError

__all__ = ["warp_basis", "interpolate", "warp_jacobian", "gauss_newton_step", "objective", "fit_coefficients"]

#: names of the analytic bases, in column order (I-splines follow)
ANALYTIC_BASES = ("linear", "quadratic", "inverse quadratic", "exp", "log", "tanh early", "tanh mid", "tanh late")


def _ispline(t: np.ndarray, n_knots: int, degree: int = 2) -> np.ndarray:
    """I-spline basis (Ramsay 1988) on ``t`` in [0, 1] with ``n_knots`` uniform
    interior knots: ``I_j(t) = sum_{m >= j} B_m(t)`` over the B-splines of
    ``degree``; every column rises monotonically from 0 to 1."""
    inner = np.linspace(0.0, 1.0, n_knots + 2)
    knots = np.r_[[0.0] * degree, inner, [1.0] * degree]
    B = BSpline.design_matrix(np.clip(t, 0.0, 1.0), knots, degree).toarray()
    I = np.cumsum(B[:, ::-1], axis=1)[:, ::-1][:, 1:]  # drop the constant-1 column
    I[0], I[-1] = 0.0, 1.0
    return I


def warp_basis(length: int, n_knots: int = 0, analytic: bool = True) -> np.ndarray:
    """Monotone bases (length, k) on the common timeline ``t = 0..1``, each
    from exactly 0 to exactly 1: linear ``t``, quadratic ``t^2``, inverse
    quadratic ``1 - (1 - t)^2``, exponential ``(e^{3t} - 1)/(e^3 - 1)``,
    logarithmic ``log(1 + 20t)/log 21``, three hyperbolic tangents (centres
    0.25, 0.5, 0.75, slope 8, rescaled to [0, 1]) and ``n_knots``-knot
    quadratic I-splines (``n_knots + 2`` columns; 0 for none)."""
    if length < 2:
        raise ShapeError(f"the common timeline needs length >= 2, got {length}")
    if n_knots < 0 or (not analytic and n_knots == 0):
        raise ConfigError(f"n_knots must be >= 0 (and > 0 without the analytic bases), got {n_knots}")
    t = np.linspace(0.0, 1.0, length)
    cols = []
    if analytic:
        cols = [t, t**2, 1 - (1 - t) ** 2, np.expm1(3 * t) / np.expm1(3), np.log1p(20 * t) / np.log(21)]
        for c in (0.25, 0.5, 0.75):
            h = np.tanh(8 * (t - c))
            cols.append((h - h[0]) / (h[-1] - h[0]))
    Q = np.column_stack(cols + ([_ispline(t, n_knots)] if n_knots else []))
    Q = np.clip(np.maximum.accumulate(Q, axis=0), 0.0, 1.0)  # exact monotonicity despite rounding
    Q[0], Q[-1] = 0.0, 1.0
    return Q


def interpolate(X: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n, d) at fractional frames ``p`` (l,) in [0, n-1] by linear
    interpolation, and its exact derivative d/dp (the slope of the segment
    holding ``p``; the right segment at interior knots, the last at the end)."""
    n = len(X)
    j = np.clip(np.floor(p).astype(np.int64), 0, n - 2)
    f = (p - j)[:, None]
    slope = X[j + 1] - X[j]
    return X[j] + f * slope, slope


def warp_jacobian(X: np.ndarray, Q: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warped sequence ``Y = X(p)``, ``p = (n - 1) Q a``, (l, d), and the
    Jacobian ``dY / da`` (l, d, k): ``dY[t] / da = X'(p_t) (n - 1) Q[t]``."""
    p = (len(X) - 1) * (Q @ a)
    Y, slope = interpolate(X, p)
    return Y, slope[:, :, None] * ((len(X) - 1) * Q)[:, None, :]


def objective(P: list[np.ndarray], Q: np.ndarray, A: np.ndarray) -> float:
    """``J = sum_i || P_i(p_i) - Z ||^2``, ``Z`` the mean of the warped
    sequences (= (1/m) sum_{i<j} || P_i(p_i) - P_j(p_j) ||^2, the GCTW energy)."""
    Y = np.stack([interpolate(x, (len(x) - 1) * (Q @ a))[0] for x, a in zip(P, A)])
    return float(((Y - Y.mean(0)) ** 2).sum())


def _simplex_lsq(J: np.ndarray, b: np.ndarray, groups: int, k: int) -> np.ndarray:
    """min ||J a - b||^2 subject to a >= 0 and each of the ``groups`` blocks of
    ``k`` weights summing to one: NNLS with the equalities as heavily weighted
    rows, then each block renormalised (exact constraints)."""
    if J.shape[0] > J.shape[1]:  # same minimiser on the thin-QR reduction: ||J a - b|| = ||R a - Q^T b|| + c
        Qm, J = np.linalg.qr(J)
        b = Qm.T @ b
    w = 1e3 * max(np.sqrt((J**2).sum(0)).max(), 1.0)
    E = np.kron(np.eye(groups), np.ones((1, k))) * w
    a, _ = nnls(np.vstack([J, E]), np.r_[b, np.full(groups, w)], maxiter=50 * J.shape[1])
    a = a.reshape(groups, k)
    s = a.sum(1, keepdims=True)
    a = np.where(s > 0, a / np.where(s > 0, s, 1.0), 1.0 / k)
    return a


def gauss_newton_step(P: list[np.ndarray], Q: np.ndarray, A: np.ndarray, damping: float = 1e-6,
                      max_halvings: int = 12) -> tuple[np.ndarray, float, float]:
    """One constrained Gauss-Newton update of all warp weights ``A`` (m, k)
    for fixed projected sequences ``P`` (each (n_i, d)).

    Linearises the centred residuals ``r_i = Y_i - Z`` (``Z`` the mean) in
    ``A``, solves the linear least squares under ``a_i >= 0, 1^T a_i = 1``
    (plus ``damping ||a - a_old||^2``) and backtracks along the segment to the
    solution (feasible: the simplex is convex) until ``J`` decreases.
    Returns (new A, J before, J after); J after <= J before always."""
    m, k = A.shape
    Ys, Js = zip(*[warp_jacobian(x, Q, a) for x, a in zip(P, A)])
    Y, Jac = np.stack(Ys), np.stack(Js)  # (m, l, d), (m, l, d, k)
    R = Y - Y.mean(0)
    J0 = float((R**2).sum())
    # d r_i / d a_j = (delta_ij - 1/m) Jac_j
    full = np.zeros((m, Y.shape[1] * Y.shape[2], m, k))
    for j in range(m):
        flat = Jac[j].reshape(-1, k)
        for i in range(m):
            full[i, :, j] = ((i == j) - 1.0 / m) * flat
    full = full.reshape(m * Y.shape[1] * Y.shape[2], m * k)
    a0 = A.ravel()
    rhs = full @ a0 - R.ravel()
    lam = np.sqrt(damping * max(np.trace(full.T @ full) / (m * k), 1e-12))
    target = _simplex_lsq(np.vstack([full, lam * np.eye(m * k)]), np.r_[rhs, lam * a0], m, k)
    step, best = 1.0, (A, J0)
    for _ in range(max_halvings):
        cand = A + step * (target - A)
        cand = cand / cand.sum(1, keepdims=True)
        Jc = objective(P, Q, cand)
        if Jc < J0:
            best = (cand, Jc)
            break
        step /= 2
    return best[0], J0, best[1]


def fit_coefficients(Q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Weights ``a`` (k,) on the simplex whose warp ``Q a`` is closest (least
    squares) to the normalised warp ``p`` (l,) in [0, 1]: used to carry a warp
    from one basis to a richer one (coarse to fine)."""
    return _simplex_lsq(Q, p, 1, Q.shape[1])[0]
