"""DTW family speed: polymodal vs dtaidistance (C) and tslearn (numba), one process.

Cases (issue 4): (a) one univariate pair, length 5000; (b) the same with a
10% Sakoe-Chiba window; (c) multivariate pair, d=20, length 1000; (d) all
pairs of 200 series of length 256 (parallel); (e) soft-DTW value + gradient,
d=10, length 512.  Times are the best of a few runs after a warm-up call;
"ratio" is peer time / our time (> 1: we are faster).  The machine may be
shared: read ratios, not absolute times, and rerun when the load is high.

Run: python benchmarks/bench_dtw.py
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np
import torch
from dtaidistance import dtw as dtai
from dtaidistance import dtw_ndim as dtai_nd
from tslearn.metrics import SoftDTW as TsSoftDTW
from tslearn.metrics import SquaredEuclidean
from tslearn.metrics import cdist_dtw as ts_cdist
from tslearn.metrics import dtw as ts_dtw

from polymodal.alignment import cdist_dtw, dtw, soft_dtw, soft_dtw_loss


def best_time(fn, repeats=3):
    fn()  # warm-up (JIT compilation, caches)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def band_cells(n, m, r):
    i = np.arange(n)
    lo = np.clip(i + min(0, m - n) - r, 0, m - 1)
    hi = np.clip(i + max(0, m - n) + r, 0, m - 1)
    return int((hi - lo + 1).sum())


def main():
    rng = np.random.default_rng(0)
    rows = []

    def case(name, cells, ours, peers, repeats=3, peer_repeats=None):
        t_ours = best_time(ours, repeats)
        rows.append((name, "polymodal", t_ours, cells, None))
        for label, fn in peers:
            t = best_time(fn, peer_repeats or repeats)
            rows.append((name, label, t, cells, t / t_ours))

    # (a) univariate pair, length 5000
    x, y = rng.normal(size=5000), rng.normal(size=5000)
    assert abs(dtw(x, y).distance - dai_dist(x, y)) < 1e-9
    case("(a) 1 pair T=5000 d=1", 5000 * 5000, lambda: dtw(x, y),
         [("dtaidistance distance_fast", lambda: dtai.distance_fast(x, y)),
          ("tslearn dtw", lambda: ts_dtw(x, y))])

    # (b) 10% Sakoe-Chiba window (radius 500 == dtaidistance window 501)
    r = 500
    assert abs(dtw(x, y, window=("sakoe_chiba", r)).distance - dtai.distance_fast(x, y, window=r + 1)) < 1e-9
    case("(b) T=5000, Sakoe-Chiba r=500", band_cells(5000, 5000, r),
         lambda: dtw(x, y, window=("sakoe_chiba", r)),
         [("dtaidistance distance_fast", lambda: dtai.distance_fast(x, y, window=r + 1)),
          ("tslearn dtw", lambda: ts_dtw(x, y, global_constraint="sakoe_chiba", sakoe_chiba_radius=r))])

    # (c) multivariate pair d=20, length 1000
    X, Y = rng.normal(size=(1000, 20)), rng.normal(size=(1000, 20))
    assert abs(dtw(X, Y).distance - ts_dtw(X, Y)) < 1e-9
    case("(c) 1 pair T=1000 d=20", 1000 * 1000, lambda: dtw(X, Y),
         [("dtaidistance ndim distance_fast", lambda: dtai_nd.distance_fast(X, Y)),
          ("tslearn dtw", lambda: ts_dtw(X, Y))])

    # (d) all pairs of 200 series, length 256, all threads
    S = rng.normal(size=(200, 256))
    ref = dtai.distance_matrix_fast(S, parallel=True)
    iu = np.triu_indices(200, 1)
    assert np.abs(cdist_dtw(S)[iu] - ref[iu]).max() < 1e-9
    case("(d) 200 x 256 all pairs", len(iu[0]) * 256 * 256, lambda: cdist_dtw(S, n_jobs=-1),
         [("dtaidistance distance_matrix_fast parallel", lambda: dtai.distance_matrix_fast(S, parallel=True)),
          ("tslearn cdist_dtw n_jobs=-1", lambda: ts_cdist(S, n_jobs=-1)),
          ("polymodal cdist_dtw n_jobs=1 (not a peer)", lambda: cdist_dtw(S, n_jobs=1))],
         repeats=2, peer_repeats=1)

    # (e) soft-DTW value + gradient, d=10, length 512
    A, B = rng.normal(size=(512, 10)), rng.normal(size=(512, 10))

    def ts_soft():
        D = SquaredEuclidean(A, B)
        sd = TsSoftDTW(D, gamma=1.0)
        sd.compute()
        return D.jacobian_product(sd.grad())

    assert np.abs(soft_dtw(A, B, gamma=1.0, return_grad=True).grad - ts_soft()).max() < 1e-8
    At = torch.tensor(A[None], requires_grad=True)
    Bt = torch.tensor(B[None])

    def torch_soft():
        At.grad = None
        soft_dtw_loss(At, Bt, 1.0).sum().backward()

    case("(e) soft-DTW value+grad T=512 d=10", 512 * 512,
         lambda: soft_dtw(A, B, gamma=1.0, return_grad=True),
         [("tslearn SoftDTW compute+grad", ts_soft),
          ("polymodal torch soft_dtw_loss fwd+bwd (not a peer)", torch_soft)])

    print(f"threads: numba {numba.get_num_threads()}; load average {os.getloadavg()[0]:.1f}; "
          "times are best-of-N wall clock\n")
    print(f"{'case':36s} {'implementation':50s} {'ms':>10s} {'ns/cell':>9s} {'peer/ours':>9s}")
    for name, impl, t, cells, ratio in rows:
        rr = "" if ratio is None else f"{ratio:9.2f}"
        print(f"{name:36s} {impl:50s} {t * 1e3:10.2f} {t / cells * 1e9:9.3f} {rr}")


def dai_dist(x, y):
    return dtai.distance_fast(x, y)


if __name__ == "__main__":
    main()
