"""Compiled soft-DTW kernels (numba, dtype-generic: float32 stays float32).

Both passes run by anti-diagonals.  The forward pass stores, for every cell,
the soft-min weights it gives to its three predecessors, ``W[i, j] = softmax(-(R_diag, R_up, R_left) / gamma)``.
These are exactly the factors ``exp((R[i', j'] - R[i, j] - C[i', j']) / gamma)``
of Cuturi & Blondel's backward recursion (their Algorithm 2), so the backward
pass needs no exponentials: ``E[i, j] = sum over successors s of E[s] W[s]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from polymodal.alignment.dtw import _numba_threads  # noqa: F401  (parallel kernels avoid OpenMP)


@njit(cache=True, nogil=True)
def diagonal_layout(n, m):
    """For 1-based cells (i, j), diagonal k = i + j in [2, n + m] holds
    i in [ilo[k], ihi[k]]; its weights start at base[k] and keep one zero
    cell of padding on each side.  Returns ilo, ihi, base, total size."""
    K = n + m + 1
    ilo = np.zeros(K, dtype=np.int64)
    ihi = np.zeros(K, dtype=np.int64)
    base = np.zeros(K + 1, dtype=np.int64)
    for k in range(2, K):
        ilo[k] = max(1, k - m)
        ihi[k] = min(n, k - 1)
        base[k + 1] = base[k] + ihi[k] - ilo[k] + 3
    return ilo, ihi, base, base[K]


LN2 = 0.6931471805599453
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
_U1 = np.uint64(1)


@njit(inline="always", error_model="numpy")
def exp_nonpos(x):
    """exp(x) for x <= 0 (within 1 ulp; exp(x < -708) gives ~3e-308, not 0).
    Written with selects and products only so that loops calling it vectorise
    (numba has no vector exp without SVML)."""
    x = x if x > -708.0 else -708.0
    k = np.uint64(0.5 - x * _INV_LN2)  # round(-x / ln 2)
    kf = -np.float64(k)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO  # |r| <= ln(2) / 2
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    sc = 1.0  # 2 ** -k from the bits of k (k <= 1022)
    sc *= 0.5 if k & np.uint64(1) else 1.0
    sc *= 0.25 if k & np.uint64(2) else 1.0
    sc *= 0.0625 if k & np.uint64(4) else 1.0
    sc *= 0.00390625 if k & np.uint64(8) else 1.0
    sc *= 1.52587890625e-05 if k & np.uint64(16) else 1.0
    sc *= 2.3283064365386963e-10 if k & np.uint64(32) else 1.0
    sc *= 5.421010862427522e-20 if k & np.uint64(64) else 1.0
    sc *= 2.938735877055719e-39 if k & np.uint64(128) else 1.0
    sc *= 8.636168555094445e-78 if k & np.uint64(256) else 1.0
    sc *= 7.458340731200207e-155 if k & np.uint64(512) else 1.0
    return p * sc


@njit(inline="always", error_model="numpy")
def log_1_3(s):
    """log(s) for 1 <= s <= 3 (within 1 ulp), vectorisable: 2 atanh((s-1)/(s+1))."""
    big = s > 1.4142135623730951
    s2 = s * 0.5 if big else s
    t = (s2 - 1.0) / (s2 + 1.0)
    t2 = t * t
    p = 1.0 / 21.0
    p = p * t2 + 1.0 / 19.0
    p = p * t2 + 1.0 / 17.0
    p = p * t2 + 1.0 / 15.0
    p = p * t2 + 1.0 / 13.0
    p = p * t2 + 1.0 / 11.0
    p = p * t2 + 1.0 / 9.0
    p = p * t2 + 1.0 / 7.0
    p = p * t2 + 1.0 / 5.0
    p = p * t2 + 1.0 / 3.0
    p = p * t2 + 1.0
    return (LN2 if big else 0.0) + 2.0 * t * p


@njit(cache=True, nogil=True)
def skew(C):
    """Local costs (n, m) -> diagonal layout of :func:`diagonal_layout`."""
    n, m = C.shape
    ilo, ihi, base, size = diagonal_layout(n, m)
    out = np.zeros(size, dtype=C.dtype)
    for k in range(2, n + m + 1):
        off = base[k] + 1 - ilo[k]
        for i in range(ilo[k], ihi[k] + 1):
            out[off + i] = C[i - 1, k - i - 1]
    return out


@njit(cache=True, nogil=True)
def unskew(Ed, n, m):
    ilo, ihi, base, _ = diagonal_layout(n, m)
    E = np.empty((n, m), dtype=Ed.dtype)
    for k in range(2, n + m + 1):
        off = base[k] + 1 - ilo[k]
        for i in range(ilo[k], ihi[k] + 1):
            E[i - 1, k - i - 1] = Ed[off + i]
    return E


@njit(cache=True, nogil=True, error_model="numpy")
def sqeuclidean_skewed(xT, yrT):
    """Squared Euclidean local costs in diagonal layout, from x (d, n) and
    time-reversed y (d, m), both feature-major."""
    d, n = xT.shape
    m = yrT.shape[1]
    ilo, ihi, base, size = diagonal_layout(n, m)
    out = np.zeros(size, dtype=xT.dtype)
    for k in range(2, n + m + 1):
        u0 = np.uint64(ilo[k])
        u1 = np.uint64(ihi[k] + 1)
        off = np.uint64(base[k] + 1) - u0
        yo = np.uint64(m - k + ilo[k]) - u0  # y_rev index of cell i: m - k + i
        for f in range(d):
            xr = xT[f]
            yr = yrT[f]
            for i in range(u0, u1):
                t = xr[i - _U1] - yr[i + yo]
                out[off + i] += t * t
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def sdtw_forward(Cd, n, m, gamma, W):
    """Soft-DTW value from local costs in diagonal layout ``Cd``.

    Runs by anti-diagonals: the cells of one diagonal are independent, so the
    loop vectorises (with :func:`exp_nonpos` / :func:`log_1_3`).  ``W`` (3,
    size) receives the soft-min weights (diag, up, left) of every cell."""
    inf = np.inf
    ilo, ihi, base, _ = diagonal_layout(n, m)
    p2 = np.full(n + 2, inf, dtype=Cd.dtype)  # diagonal k - 2
    p1 = np.full(n + 2, inf, dtype=Cd.dtype)  # diagonal k - 1
    cur = np.full(n + 2, inf, dtype=Cd.dtype)
    p2[0] = 0.0  # R[0, 0]
    inv = 1.0 / gamma
    w0, w1, w2 = W[0], W[1], W[2]
    for k in range(2, n + m + 1):
        u0 = np.uint64(ilo[k])
        u1 = np.uint64(ihi[k] + 1)
        off = np.uint64(base[k] + 1) - u0
        for i in range(u0, u1):
            a = p2[i - _U1]
            b = p1[i - _U1]
            c = p1[i]
            mn = a if a < b else b
            mn = mn if mn < c else c
            ea = exp_nonpos((mn - a) * inv)
            eb = exp_nonpos((mn - b) * inv)
            ec = exp_nonpos((mn - c) * inv)
            s = ea + eb + ec
            cur[i] = Cd[off + i] + mn - gamma * log_1_3(s)
            s = 1.0 / s
            w0[off + i] = ea * s
            w1[off + i] = eb * s
            w2[off + i] = ec * s
        cur[ilo[k] - 1] = inf
        cur[ihi[k] + 1] = inf
        p2, p1, cur = p1, cur, p2
    return p1[n]


@njit(cache=True, nogil=True, error_model="numpy")
def sdtw_backward(W, n, m):
    """Gradient of the soft-DTW value with respect to the local costs, in
    diagonal layout: E[i, j] = E[i+1, j] W_up[i+1, j] + E[i, j+1] W_left[i, j+1]
    + E[i+1, j+1] W_diag[i+1, j+1], by anti-diagonals from the end."""
    ilo, ihi, base, size = diagonal_layout(n, m)
    Ed = np.zeros(size, dtype=W.dtype)
    q2 = np.zeros(n + 2, dtype=W.dtype)  # diagonal k + 2
    q1 = np.zeros(n + 2, dtype=W.dtype)  # diagonal k + 1
    cur = np.zeros(n + 2, dtype=W.dtype)
    q1[n] = 1.0
    Ed[base[n + m] + 1] = 1.0
    w0, w1, w2 = W[0], W[1], W[2]
    for k in range(n + m - 1, 1, -1):
        u0 = np.uint64(ilo[k])
        u1 = np.uint64(ihi[k] + 1)
        off = np.uint64(base[k] + 1) - u0
        o1 = np.uint64(base[k + 1] + 1 - ilo[k + 1])
        # the diagonal after the last does not exist: q2 is all zeros there
        o2 = np.uint64(base[k + 2] + 1 - ilo[k + 2]) if k + 2 <= n + m else o1
        for i in range(u0, u1):
            e = q1[i + _U1] * w1[o1 + i + _U1] + q1[i] * w2[o1 + i] + q2[i + _U1] * w0[o2 + i + _U1]
            cur[i] = e
            Ed[off + i] = e
        cur[ilo[k] - 1] = 0.0
        cur[ihi[k] + 1] = 0.0
        q2, q1, cur = q1, cur, q2
    return Ed


@njit(cache=True, parallel=True)
def sdtw_batch(C, gamma, need_grad):
    """Values (B,) and, if ``need_grad``, gradients E (B, n, m) for local
    costs C (B, n, m)."""
    B, n, m = C.shape
    vals = np.empty(B, dtype=C.dtype)
    E = np.zeros((B if need_grad else 0, n, m), dtype=C.dtype)
    size = diagonal_layout(n, m)[3]
    for b in prange(B):
        W = np.zeros((3, size), dtype=C.dtype)
        vals[b] = sdtw_forward(skew(C[b]), n, m, gamma, W)
        if need_grad:
            E[b] = unskew(sdtw_backward(W, n, m), n, m)
    return vals, E


@njit(cache=True, nogil=True)
def sdtw_batch_serial(C, gamma, need_grad):
    """:func:`sdtw_batch` on one thread (small batches: no thread start-up)."""
    B, n, m = C.shape
    vals = np.empty(B, dtype=C.dtype)
    E = np.zeros((B if need_grad else 0, n, m), dtype=C.dtype)
    size = diagonal_layout(n, m)[3]
    for b in range(B):
        W = np.zeros((3, size), dtype=C.dtype)
        vals[b] = sdtw_forward(skew(C[b]), n, m, gamma, W)
        if need_grad:
            E[b] = unskew(sdtw_backward(W, n, m), n, m)
    return vals, E
