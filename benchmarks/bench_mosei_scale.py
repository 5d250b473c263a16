"""Sequence fusion models at CMU-MOSEI scale: throughput, peak memory, accuracy
and how cost grows with sequence length.

    python benchmarks/bench_mosei_scale.py [--quick] [--device cpu|cuda] [--lengths 50 100 200 500]
        [--epochs 2] [--train-samples 2048] [--test-samples 512] [--batch-size 32] [--figure PATH]

Data: :class:`polymodal.data.MoseiSynthetic`, MOSEI's shapes (22,856 samples,
16,326 / 1,871 / 4,659; text 300-d, audio 74-d, vision 35-d), synthesised per
sample from ``(seed, split, i)``; label = the sign of the audio at the time
of an event marked in the text (text alone and audio alone are at chance). Rows: EF-LSTM, MV-LSTM (hybrid), MFN and MulT on aligned sequences of
``length`` steps for every modality, for each length; and MulT on the
unaligned variant (``length`` text / ``10 x length`` audio and vision steps;
50 / 500 / 500 at MOSEI's length). Each row trains for ``--epochs`` epochs of
``--train-samples`` samples drawn afresh from the 16,326 training samples each
epoch (Adam, gradient clipping at 1), then reports test accuracy on the first
``--test-samples`` test samples.

Each row runs in its own process, so its peak RSS (``ru_maxrss``) is its own;
on CUDA ``torch.cuda.max_memory_allocated`` is reported too. "train
samples/s" times forward + backward + optimiser step only; synthesising the
batches is timed apart ("gen ms/sample"); "RSS growth" is the peak minus the RSS
before training (the imported modules and the model). A failing row is reported, not fatal.
Writes the table to stdout and the cost-growth curves to ``--figure``
(default docs/img/mosei_scale.png).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

MODELS = {
    "EF-LSTM": {"name": "early_lstm", "hidden": 64},
    "MV-LSTM": {"name": "mv_lstm", "hidden": 32, "topology": "hybrid"},
    "MFN": {"name": "mfn", "hidden": 32, "memory": 64, "attention_hidden": 32, "gate_hidden": 32},
    # MulT's CMU-MOSEI setting (Tsai et al., ACL 2019): width 30, 5 heads, dropouts 0.1 / 0.1 / 0.25
    "MulT": {"name": "mult", "dim": 30, "heads": 5, "layers": 4, "memory_layers": 3, "dropout": 0.1,
             "attn_dropout": 0.1, "embed_dropout": 0.25},
}
UNALIGNED_OK = {"MulT"}  # the others need the same length in every modality
ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_row(model: str, length: int, aligned: bool, *, epochs: int, train_samples: int, test_samples: int,
            batch_size: int, lr: float = 3e-3, seed: int = 0, device: str = "cpu", threads: int = 1,
            dims: dict | None = None) -> dict:
    """Train one model on one shape in this process; return its measurements."""
    import numpy as np
    import torch

    import polymodal.encoders  # noqa: F401  (registers "steps")
    import polymodal.fusion  # noqa: F401  (registers the sequential fusions)
    from polymodal.data.mosei_synthetic import MoseiSynthetic
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_model
    from polymodal.training.tasks import get_task

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cuda = device.startswith("cuda")
    train = MoseiSynthetic("train", aligned=aligned, length=length, dims=dims, seed=seed)
    test = MoseiSynthetic("test", aligned=aligned, length=length, dims=dims, seed=seed,
                          n=min(test_samples, 4_659))
    config = parse_config({"model": {"encoder": {"name": "steps"}, "fusion": dict(MODELS[model]),
                                     "head": {"name": "mlp", "hidden": [64]}}})
    net = build_model(config, train.specs, 2, "classification").to(device)
    task = get_task("classification", 2)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    rss_before = peak_rss_mib()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    gen = train_time = 0.0
    seen = 0
    net.train()
    for _ in range(epochs):
        order = rng.choice(len(train), size=min(train_samples, len(train)), replace=False)
        for start in range(0, len(order), batch_size):
            t0 = time.perf_counter()
            batch = train.batch(order[start:start + batch_size]).to(device)
            t1 = time.perf_counter()
            optimiser.zero_grad(set_to_none=True)
            loss = task.loss(net(batch).logits, batch.target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            if cuda:
                torch.cuda.synchronize()
            gen += t1 - t0
            train_time += time.perf_counter() - t1
            seen += len(batch)
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test), 2 * batch_size):
            batch = test.batch(range(start, min(start + 2 * batch_size, len(test)))).to(device)
            correct += int((net(batch).logits.argmax(1) == batch.target).sum())
    out = {"model": model, "length": length, "aligned": aligned, "steps": [train.steps[m] for m in train.names],
           "samples": seen, "epochs": epochs, "train_s": train_time, "samples_per_s": seen / max(train_time, 1e-9),
           "gen_ms_per_sample": 1e3 * gen / max(seen, 1), "accuracy": correct / max(len(test), 1),
           "peak_rss_mib": peak_rss_mib(), "rss_before_mib": rss_before, "params": net.n_parameters(),
           "device": device}
    if cuda:
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _warm_imports() -> None:
    import polymodal.encoders  # noqa: F401
    import polymodal.fusion  # noqa: F401
    import polymodal.training.engine  # noqa: F401


def run_isolated(spec: dict, timeout: float | None = None) -> dict:
    """:func:`run_row` in a child process of its own (its own peak RSS); a failure becomes an
    ``error`` entry. On Linux the child is forked from this process after the imports (about
    8 s of start-up saved per row; its peak RSS still counts the imported modules, as a fresh
    process's would); elsewhere a fresh interpreter runs it."""
    label = {k: spec[k] for k in ("model", "length", "aligned")}
    kwargs = {k: v for k, v in spec.items() if k not in label}
    if sys.platform == "linux":
        import multiprocessing

        _warm_imports()
        with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
            job = pool.apply_async(run_row, (spec["model"], spec["length"], spec["aligned"]), kwargs)
            try:
                return job.get(timeout)
            except multiprocessing.TimeoutError:
                return {**label, "error": f"timed out after {timeout:.0f} s"}
            except Exception as error:  # noqa: BLE001  (reported in the table)
                return {**label, "error": f"{type(error).__name__}: {str(error)[:200]}"}
    command = [sys.executable, str(Path(__file__).resolve()), "--row", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {**label, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**label, "error": f"exit {done.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


def table(rows: list[dict], cuda: bool) -> str:
    head = ("| model | aligned | steps text/audio/vision | samples x epochs | train samples/s | ms/sample | "
            "gen ms/sample | peak RSS MiB | RSS growth MiB" + (" | CUDA peak MiB" if cuda else "") + " | test acc |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['aligned']} | {r['length']} | failed: {r['error']} |")
            continue
        per_epoch = r["samples"] // max(r["epochs"], 1)
        lines.append(
            f"| {r['model']} | {'yes' if r['aligned'] else 'no'} | {'/'.join(map(str, r['steps']))} | "
            f"{per_epoch} x {r['epochs']} | {r['samples_per_s']:.1f} | {1e3 / r['samples_per_s']:.2f} | "
            f"{r['gen_ms_per_sample']:.2f} | {r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] - r['rss_before_mib']:.0f}"
            + (f" | {r['cuda_peak_mib']:.0f}" if cuda else "") + f" | {r['accuracy']:.3f} |")
    return "\n".join(lines)


def growth(rows: list[dict]) -> str:
    """Cost at each length relative to the shortest, per model (aligned rows)."""
    out = []
    for model in MODELS:
        mine = sorted((r for r in rows if r["model"] == model and r["aligned"] and "error" not in r),
                      key=lambda r: r["length"])
        if len(mine) < 2:
            continue
        base = mine[0]
        steps = ", ".join(f"{r['length']}: x{base['samples_per_s'] / r['samples_per_s']:.1f} time, "
                          f"+{r['peak_rss_mib'] - base['peak_rss_mib']:.0f} MiB" for r in mine[1:])
        out.append(f"- {model} (vs {base['length']} steps): {steps}")
    return "\n".join(out)


def figure(rows: list[dict], path: Path, cuda: bool) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    memory_key = "cuda_peak_mib" if cuda else "peak_rss_mib"
    for model in MODELS:
        mine = sorted((r for r in rows if r["model"] == model and r["aligned"] and "error" not in r),
                      key=lambda r: r["length"])
        if mine:
            x = [r["length"] for r in mine]
            line = axes[0].plot(x, [1e3 / r["samples_per_s"] for r in mine], "o-", label=model)[0]
            axes[1].plot(x, [r[memory_key] for r in mine], "o-", color=line.get_color(), label=model)
        for r in rows:
            if r["model"] == model and not r["aligned"] and "error" not in r:
                label = f"{model} unaligned ({'/'.join(map(str, r['steps']))})"
                axes[0].plot(r["steps"][1], 1e3 / r["samples_per_s"], "k*", ms=11, label=label)
                axes[1].plot(r["steps"][1], r[memory_key], "k*", ms=11, label=label)
    for ax, title in zip(axes, ("training time per sample (ms)",
                                "peak CUDA memory (MiB)" if cuda else "peak RSS (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = sorted({r["length"] for r in rows if r.get("aligned")} | {r["steps"][1] for r in rows if "steps" in r})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("sequence length (steps; audio/vision for the unaligned point)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("MOSEI-shaped synthetic data (text 300-d, audio 74-d, vision 35-d)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plan(args) -> list[dict]:
    common = {"epochs": args.epochs, "train_samples": args.train_samples, "test_samples": args.test_samples,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "device": args.device,
              "threads": args.threads}
    specs = []
    for length in args.lengths:
        for model in args.models:
            specs.append({"model": model, "length": length, "aligned": True, **common})
    if args.unaligned:
        for model in args.models:
            if model in UNALIGNED_OK:
                specs.append({"model": model, "length": 50, "aligned": False, **common})
    return specs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="a smoke run (~3 minutes on 2 cores): 1 epoch of 16 samples, batch 16, 16 test samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--lengths", nargs="*", type=int, default=[50, 100, 200, 500])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-samples", type=int, default=2048, help="training samples per epoch (of 16,326)")
    p.add_argument("--test-samples", type=int, default=512, help="test samples (of 4,659)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-unaligned", dest="unaligned", action="store_false",
                   help="skip MulT on the unaligned 50/500/500-step variant")
    p.add_argument("--timeout", type=float, default=None, help="seconds per row")
    p.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "mosei_scale.png")
    p.add_argument("--row", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.row:  # a worker: one row, printed as JSON
        spec = json.loads(args.row)
        print(json.dumps(run_row(spec.pop("model"), spec.pop("length"), spec.pop("aligned"), **spec)), flush=True)
        return
    if args.quick:
        args.epochs, args.train_samples, args.test_samples, args.batch_size = 1, 16, 16, 16
    specs = plan(args)
    cuda = args.device.startswith("cuda")
    print(f"python {sys.version.split()[0]}, {args.threads} thread(s), device {args.device}; "
          f"{args.epochs} epoch(s) x {args.train_samples} training samples, batch {args.batch_size}, "
          f"{args.test_samples} test samples; {len(specs)} rows", flush=True)
    rows, total = [], time.perf_counter()
    for spec in specs:
        row = run_isolated(spec, args.timeout)
        rows.append(row)
        done = row.get("error") or f"{row['samples_per_s']:.1f} samples/s, {row['peak_rss_mib']:.0f} MiB"
        print(f"  {spec['model']} {'aligned' if spec['aligned'] else 'unaligned'} {spec['length']}: {done} "
              f"({time.perf_counter() - total:.0f} s)", file=sys.stderr, flush=True)
    print(table(rows, cuda))
    print("\nCost growth with sequence length:\n" + growth(rows))
    if args.figure and any("error" not in r for r in rows):
        figure(rows, args.figure, cuda)
        print(f"\nfigure: {args.figure}")
    print(f"total {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
