"""Bridging two views that never co-occur (mfeat): Bridge CorrNet (Rajendran et
al., NAACL 2016) vs the linear ridge bridge and a CorrNet trained on the
parallel pairs the bridge never sees (the upper bound).

X = ``fou`` (76 Fourier coefficients), pivot Z = ``pix`` (240 pixel
averages), Y = ``kar`` (64 Karhunen-Loeve coefficients). Per seed a random
1500 / 500 train / test split; the training rows are cut into two disjoint
halves of 750: the first gives (X, Z) pairs, the second (Z, Y) pairs, so no
(X, Y) pair is ever used by the bridges. The parallel CorrNet trains on the
1500 (X, Y) pairs. X -> Y retrieval on the 500 test rows (cosine in the
common space): class-match mAP and precision@10 (chance about 0.1), and the
exact item's recall@1 / @10 (chance 0.002 / 0.02). Bridge CorrNet / CorrNet:
50 hidden sigmoid units, lambda 2, Adam, batch 64.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_bridging.py [--seeds 3] [--epochs 50] [--lr 2e-3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from polymodal.colearning import BridgeCorrNet, CorrNet, PivotBridge, pivot_views
from polymodal.data import load_dataset
from polymodal.metrics import mean_average_precision


def scores(sim: np.ndarray, y: np.ndarray) -> dict[str, float]:
    rel = y[:, None] == y[None, :]
    order = np.argsort(-sim, 1)
    idx = np.arange(len(y))
    rank = (order == idx[:, None]).argmax(1)
    return {"mAP": mean_average_precision(sim, rel), "P@10": float(rel[idx[:, None], order[:, :10]].mean()),
            "R@1": float(np.mean(rank < 1)), "R@10": float(np.mean(rank < 10))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("mfeat")
    y = ds.target
    X, Z, Y = (np.asarray(ds.modalities[v]) for v in ("fou", "pix", "kar"))
    res: dict[str, list[dict]] = {}
    times: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        perm = np.random.default_rng(seed).permutation(len(y))
        tr, te = perm[:1500], perm[1500:]
        ha, hb = tr[:750], tr[750:]
        bridged = pivot_views(X[ha], Z[ha], Y[hb], Z[hb])  # [fou, pix, kar]; NaN rows: view absent
        models = {
            "linear bridge (PivotBridge, ridge into pix)": lambda: PivotBridge(alpha=1e-3).fit(bridged),
            "Bridge CorrNet, untrained": lambda: BridgeCorrNet(max_epochs=0, random_state=seed).fit(bridged),
            "Bridge CorrNet": lambda: BridgeCorrNet(max_epochs=args.epochs, lr=args.lr, random_state=seed).fit(bridged),
            "CorrNet on parallel (fou, kar) pairs (upper bound)": lambda: CorrNet(
                max_epochs=args.epochs, lr=args.lr, random_state=seed).fit([X[tr], Y[tr]]),
        }
        for name, make in models.items():
            t0 = time.perf_counter()
            model = make()
            times.setdefault(name, []).append(time.perf_counter() - t0)
            res.setdefault(name, []).append(scores(model.similarity(X[te], Y[te]), y[te]))
            print(f"seed {seed} {name}: {res[name][-1]}", flush=True)
    print(f"\n### fou -> kar retrieval through the pivot pix (mfeat, {args.seeds} seeds, mean +- std)\n")
    print("| method | (fou, kar) pairs seen | class mAP | class P@10 | item R@1 | item R@10 | fit s |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in res.items():
        cells = [f"{np.mean([r[k] for r in rows]):.3f} +- {np.std([r[k] for r in rows]):.3f}"
                 for k in ("mAP", "P@10", "R@1", "R@10")]
        seen = "1500" if "parallel" in name else "0"
        print(f"| {name} | {seen} | " + " | ".join(cells) + f" | {np.mean(times[name]):.1f} |")


if __name__ == "__main__":
    main()
