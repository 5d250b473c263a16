"""Where a fast-loop epoch's wall time goes: forward passes, validation, checkpoint writes, metrics.csv.

    python benchmarks/bench_epoch_breakdown.py [--configs tensor2 ...] [--threads 1] [--reps 3]
                                               [--min-interval 10 0]

Trains ``bench_vs_multibench.py``'s mfeat configs (the same architectures, splits, optimiser and
MultiBench's early-stopping rule) through ``polymodal.training.fit`` and times, by wrapping the
fast loop's own functions, each part of the epoch: ``_forward_loss`` (forward + loss of every
step), ``validate``, ``detached_copy`` (holding an improving epoch's state until ``best.ckpt`` is
due), ``serialize`` / ``seal`` / ``write_sealed`` / ``link_atomically`` (the checkpoints) and
``atomic_write_text`` (``metrics.csv``); the rest of an epoch is backward,
clipping, the optimiser step and the loader. ``--min-interval`` gives the
``trainer.checkpoint_min_interval_s`` values to compare (0: ``last.ckpt`` every epoch, the
default before session 9; 10: the default). ``torch._dynamo`` is imported first (steady state,
as ``bench_vs_multibench.py --warm-imports``). Milliseconds per epoch, mean over repetitions
(seed = repetition).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

PARTS = {"_forward_loss": "forward+loss", "validate": "validation", "detached_copy": "hold best",
         "serialize": "serialise",
         "seal": "seal", "write_sealed": "write+fsync", "link_atomically": "link",
         "atomic_write_text": "metrics.csv"}


def breakdown(config: str, seed: int, min_interval: float) -> dict[str, float]:
    """Milliseconds per epoch of each part, and of the whole epoch, for one run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_vs_multibench as mb
    from polymodal.training import fast_loop
    from polymodal.training.engine import fit

    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(fast_loop, name) for name in PARTS}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    import tempfile
    try:
        for name, function in originals.items():
            setattr(fast_loop, name, timed(name, function))
        with tempfile.TemporaryDirectory() as out:
            cfg = mb._polymodal_config(config, seed, out, 50)
            cfg["trainer"]["checkpoint_min_interval_s"] = min_interval
            result = fit(cfg, dataset=mb._dataset(config, seed, {}))
    finally:
        for name, function in originals.items():
            setattr(fast_loop, name, function)
    epochs = result.epochs
    row = {PARTS[name]: spent[name] * 1e3 / epochs for name in PARTS}
    row["epoch"] = result.train_seconds * 1e3 / epochs
    row["epochs"] = epochs
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["concat6", "concat2", "tensor2", "lowrank2"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--min-interval", type=float, nargs="+", default=[0.0, 10.0])
    args = parser.parse_args(argv)
    import torch
    import torch._dynamo  # noqa: F401  (steady state: what building a torch.optim optimiser imports)

    torch.set_num_threads(args.threads)
    columns = ["epochs", "epoch", *PARTS.values()]
    print(f"threads={args.threads}, ms per epoch, mean of {args.reps} repetitions")
    print("| config | min interval s | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for config in args.configs:
        for interval in args.min_interval:
            rows = [breakdown(config, seed, interval) for seed in range(args.reps)]
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in columns}
            print(f"| {config} | {interval:g} | " + " | ".join(f"{mean[k]:.2f}" for k in columns) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
