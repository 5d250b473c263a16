"""Cross-modal hashing (CCA-ITQ) on mfeat, pix <-> fou: quality and search speed.

Protocol: mfeat (2000 digits, 10 classes), a seeded random half for training
(the CCA and the ITQ rotation, fitted on paired pix/fou rows) and the other
half as queries; the gallery is the training half of the *other* modality;
relevance is class-level (same digit). Reported for 16/32/64 bits, both
directions:

* mAP and R@1/R@10 of Hamming ranking on the binary codes (ties grouped for
  mAP as scikit-learn does; counted pessimistically for R@K);
* the same for real-valued retrieval: cosine on the same (correlation-scaled,
  rotated) CCA projection, and cosine on plain (unscaled) CCA components;
* search time: all query-gallery distances plus the top-100 per query, for
  Hamming on packed codes (numpy XOR + popcount) vs cosine on float32
  embeddings (one BLAS matmul), on the real gallery (1000) and on a gallery
  tiled to 50,000 items; both return the sorted top-100 (Hamming: a stable
  radix argsort of the uint8 distances; cosine: argpartition then a sort of
  the 100). BLAS runs on one thread.

Run: ``python benchmarks/bench_hashing.py``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from polymodal.data import load_dataset  # noqa: E402
from polymodal.metrics.retrieval import mean_average_precision, retrieval_recall_at_k  # noqa: E402
from polymodal.representation.hashing import (  # noqa: E402
    CCAITQ,
    hamming_distance,
    hamming_search,
)

TOP = 100


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def scores(S: np.ndarray, rel: np.ndarray) -> tuple[float, float, float]:
    r = retrieval_recall_at_k(S, rel, ks=(1, 10)).recall
    return mean_average_precision(S, rel), r[1], r[10]


def best_time(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def search_hamming(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    return hamming_search(q, g, k=TOP)[0]  # sorted top-100 (radix argsort of uint8)


def search_cosine(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    S = q @ g.T
    top = np.argpartition(S, S.shape[1] - TOP, axis=1)[:, -TOP:]  # unsorted top-100
    order = np.argsort(-np.take_along_axis(S, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def main() -> None:
    d = load_dataset("mfeat")
    views = {"pix": d.modalities["pix"].astype(np.float64), "fou": d.modalities["fou"].astype(np.float64)}
    y = d.target
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1000], perm[1000:]
    rel = y[te][:, None] == y[tr][None, :]
    print("mfeat pix <-> fou, 1000 train (gallery) / 1000 queries, class-level relevance; chance mAP ~0.10")
    print(f"{'bits':>4} {'direction':<10} {'method':<26}{'mAP':>8}{'R@1':>8}{'R@10':>8}{'hash/real mAP':>15}")
    speed_rows = []
    for n_bits in (16, 32, 64):
        h = CCAITQ(n_bits=n_bits, reg=1e-2).fit(views["pix"][tr], views["fou"][tr])
        emb = {"pix": (h.embed_x, h.encode_x, lambda Z: h.cca_.transform(Z)),
               "fou": (h.embed_y, h.encode_y, lambda Z: h._project_y(Z) / h.scale_)}
        for qm, gm in (("pix", "fou"), ("fou", "pix")):
            qe, qc, qraw = emb[qm]
            ge, gc, graw = emb[gm]
            Q, G = views[qm][te], views[gm][tr]
            cq, cg = qc(Q), gc(G)
            hm = scores(-hamming_distance(cq, cg).astype(np.float64), rel)
            rs = scores(unit(qe(Q)) @ unit(ge(G)).T, rel)
            ru = scores(unit(qraw(Q)) @ unit(graw(G)).T, rel)
            for name, s in (("Hamming (CCA-ITQ codes)", hm), ("cosine, scaled+rotated", rs),
                            ("cosine, plain CCA", ru)):
                ratio = f"{hm[0] / s[0]:>15.3f}" if s is not hm else ""
                print(f"{n_bits:>4} {qm + '->' + gm:<10} {name:<26}{s[0]:>8.3f}{s[1]:>8.1f}{s[2]:>8.1f}{ratio}")
            if qm == "pix":
                fq, fg = unit(qe(Q)).astype(np.float32), unit(ge(G)).astype(np.float32)
                for reps in (1, 50):
                    gC, gF = np.tile(cg, (reps, 1)), np.tile(fg, (reps, 1))
                    th = best_time(lambda: search_hamming(cq, gC))
                    tc = best_time(lambda: search_cosine(fq, gF))
                    th_d = best_time(lambda: hamming_distance(cq, gC))
                    tc_d = best_time(lambda: fq @ gF.T)
                    speed_rows.append((n_bits, gC.shape[0], th, tc, th_d, tc_d,
                                       gC.nbytes, gF.nbytes))
    print(f"\nSearch, 1000 queries, top-{TOP} (best of 3, one BLAS thread); 'x' = cosine time / Hamming time")
    print(f"{'bits':>4}{'gallery':>9}{'Hamming s':>11}{'cosine s':>10}{'speed-up':>10}"
          f"{'dist-only H':>13}{'dist-only cos':>15}{'speed-up':>10}{'gallery bytes H/cos':>22}")
    for b, n, th, tc, thd, tcd, bh, bc in speed_rows:
        print(f"{b:>4}{n:>9}{th:>11.4f}{tc:>10.4f}{tc / th:>9.2f}x{thd:>13.4f}{tcd:>15.4f}"
              f"{tcd / thd:>9.2f}x{bh:>11}/{bc:<10}")


if __name__ == "__main__":
    main()
