"""Compiled kernels for many-pair DTW: all-pairs matrix, LB_Keogh, 1-NN search."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from polymodal.alignment.dtw import _numba_threads  # noqa: F401  (parallel kernels avoid OpenMP)
from polymodal.alignment.dtw._kernels import INF, sakoe_chiba_band, wavefront_cost


@njit(cache=True, parallel=True)
def cdist_flat(xbuf, xoff, ybuf, yoff, d, radius, symmetric, diag_weight, use_sqrt):
    """All-pairs DTW cost.  Series ``a`` of X is ``xbuf[xoff[a]:xoff[a+1]]``
    reshaped to (d, n) (feature-major); Y likewise but also time-reversed."""
    N = xoff.shape[0] - 1
    M = yoff.shape[0] - 1
    out = np.zeros((N, M))
    for t in prange(N * M):
        a = t // M
        b = t % M
        if symmetric and b <= a:
            continue
        n = (xoff[a + 1] - xoff[a]) // d
        m = (yoff[b + 1] - yoff[b]) // d
        xT = xbuf[xoff[a] : xoff[a + 1]].reshape((d, n))
        yrT = ybuf[yoff[b] : yoff[b + 1]].reshape((d, m))
        lo, hi = sakoe_chiba_band(n, m, radius)
        out[a, b] = wavefront_cost(xT, yrT, lo, hi, diag_weight, use_sqrt, INF)
    if symmetric:
        for a in range(N):
            for b in range(a):
                out[a, b] = out[b, a]
    return out


@njit(cache=True, nogil=True)
def envelope(x, radius):
    """Upper and lower envelopes (T, d): max / min of x over |t - s| <= radius."""
    T, d = x.shape
    up = np.empty((T, d))
    lo = np.empty((T, d))
    for t in range(T):
        s0 = max(0, t - radius)
        s1 = min(T, t + radius + 1)
        for f in range(d):
            u = x[s0, f]
            v = x[s0, f]
            for s in range(s0 + 1, s1):
                w = x[s, f]
                u = w if w > u else u
                v = w if w < v else v
            up[t, f] = u
            lo[t, f] = v
    return up, lo


@njit(cache=True, nogil=True)
def lb_keogh_cost(q, up, lo, abandon):
    """Squared distance of q (T, d) to the envelope; stops above ``abandon``."""
    T, d = q.shape
    s = 0.0
    for t in range(T):
        for f in range(d):
            v = q[t, f]
            if v > up[t, f]:
                s += (v - up[t, f]) ** 2
            elif v < lo[t, f]:
                s += (v - lo[t, f]) ** 2
        if s > abandon:
            return s
    return s


@njit(cache=True, parallel=True)
def knn_search(Q, QT, X, XrT, ups, los, k, radius, use_lb):
    """k nearest training series (DTW cost) of every query, with LB_Keogh
    pruning and early-abandoning DTW.  Q: (Nq, T, d); X: (N, T, d);
    QT / XrT: feature-major (and reversed for X); ups / los: envelopes of X."""
    Nq = Q.shape[0]
    N = X.shape[0]
    n = Q.shape[1]
    m = X.shape[1]
    lo_b, hi_b = sakoe_chiba_band(n, m, radius)
    idx = np.full((Nq, k), -1, dtype=np.int64)
    dist = np.full((Nq, k), INF)
    n_dtw = np.zeros(Nq, dtype=np.int64)
    for a in prange(Nq):
        lbs = np.zeros(N)
        if use_lb:
            for b in range(N):
                lbs[b] = lb_keogh_cost(Q[a], ups[b], los[b], INF)
        order = np.argsort(lbs)
        bi = idx[a]
        bd = dist[a]
        for r in range(N):
            b = order[r]
            worst = bd[k - 1]
            if lbs[b] >= worst:
                break  # sorted: no later candidate can enter the k best
            c = wavefront_cost(QT[a], XrT[b], lo_b, hi_b, 1.0, False, worst)
            n_dtw[a] += 1
            if c < worst:
                p = k - 1
                while p > 0 and bd[p - 1] > c:
                    bd[p] = bd[p - 1]
                    bi[p] = bi[p - 1]
                    p -= 1
                bd[p] = c
                bi[p] = b
    return idx, dist, n_dtw
