"""Averaging sequences under time warping: DBA and the soft-DTW barycentre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from polymodal.alignment._validation import as_sequence, check_pair
from polymodal.alignment.dtw.pairwise import dtw
from polymodal.alignment.dtw.soft import _check_gamma, soft_dtw
from polymodal.errors import ConfigError, ShapeError

__all__ = ["BarycenterResult", "dba", "soft_dtw_barycenter"]


@dataclass
class BarycenterResult:
    """``barycenter`` (T, d), ``objective`` at it, ``history`` of the
    objective per iteration and ``n_iter``."""

    barycenter: np.ndarray
    objective: float
    history: list[float]
    n_iter: int


def _prepare(X, weights, init):
    seqs = [as_sequence(s, f"X[{i}]") for i, s in enumerate(X)]
    if not seqs:
        raise ShapeError("X must hold at least one sequence, got 0")
    for i, s in enumerate(seqs[1:], 1):
        check_pair(seqs[0], s, ("X[0]", f"X[{i}]"))
    w = np.ones(len(seqs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(seqs),) or (w < 0).any() or w.sum() == 0:
        raise ConfigError(f"weights must be {len(seqs)} non-negative numbers, not all zero, got {weights!r}")
    if init is None:
        if len({s.shape[0] for s in seqs}) > 1:
            raise ShapeError("sequences of different lengths need an explicit init barycenter")
        Z = np.average(np.stack(seqs), axis=0, weights=w)
    else:
        Z = as_sequence(init, "init").copy()
        check_pair(Z, seqs[0], ("init", "X[0]"))
    return seqs, w, Z


def dba(X, *, weights=None, init=None, max_iter: int = 30, tol: float = 1e-5,
        window=None) -> BarycenterResult:
    """DTW Barycenter Averaging (Petitjean, Ketterlin & Gancarski, Pattern
    Recognition 2011).

    Minimises :math:`\\sum_i w_i \\mathrm{DTW}(Z, X_i)` (squared Euclidean
    cost) by alternating: align every :math:`X_i` to :math:`Z` with DTW, then
    set each :math:`Z_t` to the weighted mean of the points aligned with it.
    Each step cannot increase the objective; stops when it decreases by less
    than ``tol``.

    Parameters
    ----------
    X : list of (T_i,) / (T_i, d) sequences, or array (N, T[, d])
    weights : (N,) or None;  init : (T, d) start (default: the mean sequence)

    >>> dba([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]).barycenter.ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    seqs, w, Z = _prepare(X, weights, init)
    history: list[float] = []
    it = 0
    for it in range(1, max_iter + 1):
        acc = np.zeros_like(Z)
        cnt = np.zeros(Z.shape[0])
        cost = 0.0
        for wi, s in zip(w, seqs):
            r = dtw(Z, s, window=window, return_path=True)
            cost += wi * r.cost
            np.add.at(acc, r.path[:, 0], wi * s[r.path[:, 1]])
            np.add.at(cnt, r.path[:, 0], wi)
        history.append(float(cost))
        Z = acc / cnt[:, None]
        if len(history) > 1 and abs(history[-2] - history[-1]) < tol:
            break
    final = float(sum(wi * dtw(Z, s, window=window).cost for wi, s in zip(w, seqs)))
    return BarycenterResult(Z, final, history, it)


def soft_dtw_barycenter(X, *, gamma: float = 1.0, weights=None, init=None,
                        max_iter: int = 50, tol: float = 1e-3) -> BarycenterResult:
    """Soft-DTW barycentre (Cuturi & Blondel, ICML 2017, Sec. 4.1).

    .. math:: \\min_Z \\sum_i w_i\\, \\mathrm{sdtw}_\\gamma(Z, X_i),

    solved with scipy's L-BFGS-B using the exact gradient of the backward
    recursion (``tol`` and ``max_iter`` as in ``scipy.optimize.minimize``).

    Parameters
    ----------
    X : list of (T_i,) / (T_i, d) sequences, or array (N, T[, d])
    gamma : smoothing > 0;  weights : (N,) or None;  init : (T, d) start

    >>> Z = soft_dtw_barycenter([[0.0, 2.0], [2.0, 0.0]], gamma=0.1).barycenter
    >>> Z.shape
    (2, 1)
    """
    gamma = _check_gamma(gamma)
    seqs, w, Z0 = _prepare(X, weights, init)
    shape = Z0.shape
    history: list[float] = []

    def objective(z):
        Z = z.reshape(shape)
        val, grad = 0.0, np.zeros(shape)
        for wi, s in zip(w, seqs):
            r = soft_dtw(Z, s, gamma=gamma, return_grad=True)
            val += wi * r.value
            grad += wi * r.grad
        history.append(float(val))
        return val, grad.ravel()

    res = minimize(objective, Z0.ravel(), method="L-BFGS-B", jac=True, tol=tol,
                   options={"maxiter": max_iter})
    return BarycenterResult(res.x.reshape(shape), float(res.fun), history, int(res.nit))
