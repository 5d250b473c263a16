"""Compiled DTW kernels (numba, ``cache=True``).

Two formulations:

* ``wavefront_cost``: symmetric1/symmetric2 distance only, O(n) memory.  The
  cells of one anti-diagonal ``i + j = k`` depend only on diagonals ``k - 1``
  and ``k - 2``, so the inner loop over ``i`` has no loop-carried dependency
  and compiles to SIMD code.  The second series is stored reversed so that
  ``y[k - i]`` is contiguous in ``i``.
* ``general_dp``: any step pattern on a precomputed local-cost matrix, row by
  row over a per-row window ``[jlo[i], jhi[i]]``, recording the chosen move
  for backtracking.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True, nogil=True)
def sakoe_chiba_band(n, m, radius):
    """Sakoe-Chiba band ``lo <= j - i <= hi`` for lengths n and m: ``|i - j| <=
    radius`` widened by the length difference (tslearn's ``sakoe_chiba_radius``;
    dtaidistance's ``window = radius + 1``); ``radius < 0``: no band (every cell)."""
    if radius < 0:
        return -(n - 1), m - 1
    return min(0, m - n) - radius, max(0, m - n) + radius


@njit(cache=True, nogil=True)
def wavefront_cost(xT, yrT, lo, hi, diag_weight, use_sqrt, abandon):
    """Accumulated DTW cost by anti-diagonals.

    xT: (d, n) first series, feature-major.  yrT: (d, m) second series,
    feature-major and reversed in time.  The window is ``lo <= j - i <= hi``.
    ``diag_weight``: 1 (symmetric1) or 2 (symmetric2).  ``use_sqrt``: local
    cost is the Euclidean instead of the squared Euclidean distance.
    ``abandon``: return inf as soon as every path must cost more (inf: never).
    """
    d, n = xT.shape
    m = yrT.shape[1]
    b0 = np.full(n + 2, INF)
    b1 = np.full(n + 2, INF)
    b2 = np.full(n + 2, INF)
    tmp = np.empty(n)
    c00 = 0.0
    for f in range(d):
        diff = xT[f, 0] - yrT[f, m - 1]
        c00 += diff * diff
    if use_sqrt:
        c00 = np.sqrt(c00)
    b0[1] = c00
    cur, p1, p2 = b2, b0, b1  # diagonal 0 sits in p1
    check = abandon < INF
    prev_min = c00
    one = np.uint64(1)
    fused = d == 1 and not use_sqrt and diag_weight == 1.0
    for k in range(1, n + m - 1):
        ilo = max(0, k - (m - 1), (k - hi + 1) // 2)
        ihi = min(n - 1, k, (k - lo) // 2)
        # unsigned indices: no negative-index wraparound code, so LLVM vectorises
        u0 = np.uint64(max(ilo, 0))
        u1 = np.uint64(max(ihi + 1, ilo))
        yoff = np.uint64(m - 1 - k + ilo) - u0  # y index = i + yoff (mod 2**64)
        if fused:
            # univariate symmetric1: local cost fused into the recursion
            xr = xT[0]
            yr = yrT[0]
            for i in range(u0, u1):
                diff = xr[i] - yr[i + yoff]
                a = p1[i]
                b = p1[i + one]
                a = a if a < b else b
                c = p2[i]
                a = a if a < c else c
                cur[i + one] = a + diff * diff
        else:
            for i in range(u0, u1):
                tmp[i] = 0.0
            f = 0
            while f + 4 <= d:  # four features per pass: fewer loads/stores of tmp
                x0, x1, x2, x3 = xT[f], xT[f + 1], xT[f + 2], xT[f + 3]
                y0, y1, y2, y3 = yrT[f], yrT[f + 1], yrT[f + 2], yrT[f + 3]
                for i in range(u0, u1):
                    j = i + yoff
                    e0 = x0[i] - y0[j]
                    e1 = x1[i] - y1[j]
                    e2 = x2[i] - y2[j]
                    e3 = x3[i] - y3[j]
                    tmp[i] += (e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3)
                f += 4
            while f < d:
                xr = xT[f]
                yr = yrT[f]
                for i in range(u0, u1):
                    diff = xr[i] - yr[i + yoff]
                    tmp[i] += diff * diff
                f += 1
            if use_sqrt:
                for i in range(u0, u1):
                    tmp[i] = np.sqrt(tmp[i])
            if diag_weight == 1.0:
                for i in range(u0, u1):
                    a = p1[i]
                    b = p1[i + one]
                    a = a if a < b else b
                    c = p2[i]
                    a = a if a < c else c
                    cur[i + one] = a + tmp[i]
            else:
                for i in range(u0, u1):
                    a = p1[i]
                    b = p1[i + one]
                    a = (a if a < b else b) + tmp[i]
                    c = p2[i] + diag_weight * tmp[i]
                    cur[i + one] = a if a < c else c
        cur[ilo] = INF
        cur[ihi + 2] = INF
        if check:
            mn = INF
            for i in range(u0, u1):
                v = cur[i + one]
                mn = v if v < mn else mn
            # every path crosses diagonal k - 1 or k
            if mn > abandon and prev_min > abandon:
                return INF
            prev_min = mn
        cur, p1, p2 = p2, cur, p1
    return p1[n]


@njit(cache=True, nogil=True, error_model="numpy")
def strip_cost(x, y, H, diag_weight, use_sqrt):
    """Accumulated DTW cost without a window for multivariate series, in
    strips of ``H`` rows: each strip's local costs come from one BLAS product,
    ``|x_i|^2 + |y_j|^2 - 2 x_i . y_j`` (values within the dot product's
    rounding error of zero are set to zero, so identical rows cost exactly
    0), then the strip is swept by anti-diagonals.  x (n, d), y (m, d)."""
    n, d = x.shape
    m = y.shape[0]
    yT = np.ascontiguousarray(y.T)
    xn = np.zeros(n)
    yn = np.zeros(m)
    for i in range(n):
        for f in range(d):
            xn[i] += x[i, f] * x[i, f]
    for j in range(m):
        for f in range(d):
            yn[j] += y[j, f] * y[j, f]
    tol = 4.0 * d * 2.220446049250313e-16
    top = np.full(m + 1, INF)  # D(i0 - 1, j - 1) at index j
    top[0] = 0.0  # a virtual D(-1, -1) = 0, so that D(0, 0) = c(0, 0)
    newtop = np.full(m + 1, INF)
    b0 = np.empty(H + 2)
    b1 = np.empty(H + 2)
    b2 = np.empty(H + 2)
    one = np.uint64(1)
    st = np.uint64(m - 1)
    for i0 in range(0, n, H):
        h = min(H, n - i0)
        G = np.dot(x[i0 : i0 + h], yT)
        for r in range(h):
            a = xn[i0 + r]
            for j in range(m):
                v = a + yn[j] - 2.0 * G[r, j]
                v = v if v > tol * (a + yn[j]) else 0.0
                G[r, j] = np.sqrt(v) if use_sqrt else v
        Gf = G.ravel()
        p2, p1, cur = b0, b1, b2
        p2[:] = INF
        p1[:] = INF
        cur[:] = INF
        newtop[0] = INF
        for t in range(h + m - 1):
            rlo = max(0, t - (m - 1))
            rhi = min(h - 1, t)
            # index p = r + 1; p = 0 is row i0 - 1, taken from the previous strip
            p1[0] = top[t + 1] if t + 1 <= m else INF
            p2[0] = top[t] if t <= m else INF  # (row i0 - 1 has only m + 1 entries)
            kk = np.uint64(t)
            if diag_weight == 1.0:
                for r in range(np.uint64(rlo), np.uint64(rhi + 1)):
                    c = Gf[r * st + kk]  # G[r, t - r]
                    a = p1[r]
                    b = p1[r + one]
                    a = a if a < b else b
                    e = p2[r]
                    a = a if a < e else e
                    cur[r + one] = a + c
            else:
                for r in range(np.uint64(rlo), np.uint64(rhi + 1)):
                    c = Gf[r * st + kk]
                    a = p1[r]
                    b = p1[r + one]
                    a = (a if a < b else b) + c
                    e = p2[r] + diag_weight * c
                    cur[r + one] = a if a < e else e
            if i0 == 0 and t == 0:
                cur[1] = Gf[0]  # D(0, 0) = c(0, 0) whatever the diagonal weight
            if rlo > 0:
                cur[rlo] = INF
            cur[rhi + 2] = INF
            if rhi == h - 1:
                newtop[t - h + 2] = cur[h]
            p2, p1, cur = p1, cur, p2
        top, newtop = newtop, top
        top[0] = INF
    return top[m]


@njit(cache=True, nogil=True)
def sqeuclidean_matrix(x, y, use_sqrt):
    """Local cost matrix (n, m) of squared (or plain) Euclidean distances."""
    n, d = x.shape
    m = y.shape[0]
    out = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            s = 0.0
            for f in range(d):
                diff = x[i, f] - y[j, f]
                s += diff * diff
            out[i, j] = np.sqrt(s) if use_sqrt else s
    return out


@njit(cache=True, nogil=True)
def general_dp(C, origins, ptr, offs, weights, jlo, jhi):
    """Accumulated cost D (n, m) and chosen move S (n, m) for a step pattern.

    Cells outside the window keep D = inf and S = -1.
    """
    n, m = C.shape
    K = origins.shape[0]
    D = np.full((n, m), INF)
    S = np.full((n, m), -1, dtype=np.int8)
    for i in range(n):
        for j in range(jlo[i], jhi[i] + 1):
            if i == 0 and j == 0:
                D[0, 0] = C[0, 0]
                continue
            best = INF
            bk = -1
            for k in range(K):
                oi = i - origins[k, 0]
                oj = j - origins[k, 1]
                if oi < 0 or oj < 0:
                    continue
                v = D[oi, oj]
                if v == INF:
                    continue
                for s in range(ptr[k], ptr[k + 1]):
                    v += weights[s] * C[i - offs[s, 0], j - offs[s, 1]]
                if v < best:
                    best = v
                    bk = k
            D[i, j] = best
            S[i, j] = bk
    return D, S


@njit(cache=True, nogil=True)
def backtrack(S, origins, ptr, offs):
    """Warping path (L, 2) from (0, 0) to (n - 1, m - 1), intermediate cells
    of multi-cell moves included."""
    n, m = S.shape
    buf = np.empty((n + m, 2), dtype=np.int64)
    i, j = n - 1, m - 1
    L = 0
    buf[L, 0] = i
    buf[L, 1] = j
    L += 1
    while i > 0 or j > 0:
        k = S[i, j]
        for s in range(ptr[k + 1] - 1, ptr[k] - 1, -1):
            p = offs[s, 0]
            q = offs[s, 1]
            if p == 0 and q == 0:
                continue
            buf[L, 0] = i - p
            buf[L, 1] = j - q
            L += 1
        i -= origins[k, 0]
        j -= origins[k, 1]
        buf[L, 0] = i
        buf[L, 1] = j
        L += 1
    return buf[:L][::-1].copy()
