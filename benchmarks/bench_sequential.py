"""Sequential multimodal models on a real two-sensor task and a synthetic
cross-modal interaction task.

    python benchmarks/bench_sequential.py [--seeds 5] [--quick] [--basicmotions PATH]

Datasets
- BasicMotions (UEA archive; 4 activities, 40 train + 40 test recordings of a
  smart watch, 100 steps at 10 Hz): accelerometer (channels 0-2) and
  gyroscope (3-5) as two aligned modalities, the official train/test split,
  channels z-scored with training statistics. Read from aeon's bundled
  ``.ts`` files, offline: ``aeon.datasets`` if aeon is importable, otherwise
  ``--basicmotions`` (or ``$POLYMODAL_BASICMOTIONS``) naming the folder with
  ``BasicMotions_{TRAIN,TEST}.ts`` or an aeon wheel (``pip download --no-deps
  aeon==1.6.0``; aeon 1.6 itself pins numba < 0.64 and does not install next
  to our numba). Our own ``.ts`` reader below parses them.
- interaction_sequences (``polymodal.data.make_interaction_sequences``):
  label = XOR of the signs of one event per modality at unknown, different
  steps (event height 3, noise sd 0.5); 500 train / 400 test, 16 steps,
  4 features.

Every model is built by registry name (``steps`` encoders + the fusion + an
MLP head) and trained with Adam for a fixed number of epochs (no early
stopping: BasicMotions has no room for a validation split); 5 seeds. Columns:
test accuracy (mean +- std), accuracy with one modality missing at test time
(zeros, present=False), trainable parameters, training time per run (CPU, one
thread) and its ratio to the early-fusion LSTM. No peer library implements
these models in an installable form (MultiBench has no package), so the
ratios are against our own baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

import polymodal.encoders  # noqa: F401  (registers the "steps" encoder)
import polymodal.fusion  # noqa: F401  (registers the sequential fusion models)
from polymodal.data import MultimodalDataset, make_interaction_sequences, make_loader
from polymodal.data.spec import ModalitySpec
from polymodal.training.config import parse_config
from polymodal.training.engine import build_model, evaluate
from polymodal.training.tasks import get_task

MODELS = {
    "early_lstm": {"name": "early_lstm", "hidden": 32},
    "late_lstm": {"name": "late_lstm", "hidden": 24},
    "mv_lstm view_specific": {"name": "mv_lstm", "hidden": 24, "topology": "view_specific"},
    "mv_lstm coupled": {"name": "mv_lstm", "hidden": 24, "topology": "coupled"},
    "mv_lstm fully_connected": {"name": "mv_lstm", "hidden": 24, "topology": "fully_connected"},
    "mv_lstm hybrid": {"name": "mv_lstm", "hidden": 24, "topology": "hybrid", "alpha": 1 / 3, "beta": 1 / 3},
    "mfn": {"name": "mfn", "hidden": 16, "memory": 32, "attention_hidden": 32, "gate_hidden": 32},
    "mult": {"name": "mult", "dim": 16, "heads": 2, "layers": 2, "memory_layers": 1, "dropout": 0.1,
             "attn_dropout": 0.0, "embed_dropout": 0.1},
}


# -- BasicMotions from .ts files ---------------------------------------------------
def load_basic_motions(source: str | None) -> tuple[dict, str]:
    """The official train/test split, from aeon when it is installed, else from
    the ``.ts`` files (``--basicmotions`` or ``$POLYMODAL_BASICMOTIONS``: a folder
    or the aeon wheel) read by :func:`polymodal.benchmarks.alignment.load_basic_motions`."""
    try:
        from aeon.datasets import load_basic_motions as aeon_load  # noqa: PLC0415

        parts = {s: aeon_load(split=s) for s in ("train", "test")}
        return {s: (np.asarray(x, dtype=np.float64), np.asarray(y)) for s, (x, y) in parts.items()}, "aeon"
    except ImportError:
        pass
    from polymodal.benchmarks.alignment import load_basic_motions as load_ts
    from polymodal.errors import DatasetError

    try:
        parts = {"train": load_ts(source, splits=("TRAIN",)), "test": load_ts(source, splits=("TEST",))}
    except DatasetError as error:
        raise SystemExit(f"BasicMotions not found ({error}): pass --basicmotions DIR_OR_WHEEL") from None
    return parts, str(source or os.environ.get("POLYMODAL_BASICMOTIONS"))


def basic_motions_datasets(source: str | None) -> tuple[MultimodalDataset, MultimodalDataset, str]:
    parts, where = load_basic_motions(source)
    (x_tr, y_tr), (x_te, y_te) = parts["train"], parts["test"]
    classes = sorted(set(y_tr))
    x_tr, x_te = x_tr.transpose(0, 2, 1), x_te.transpose(0, 2, 1)  # (n, T, 6)
    mean, std = x_tr.reshape(-1, 6).mean(0), x_tr.reshape(-1, 6).std(0)

    def make(x, y):
        z = ((x - mean) / std).astype(np.float32)
        mods = {"accelerometer": z[..., :3], "gyroscope": z[..., 3:]}
        specs = {m: ModalitySpec(m, "sequence", (None, v.shape[2]), rate=10.0) for m, v in mods.items()}
        target = np.array([classes.index(c) for c in y])
        return MultimodalDataset(mods, target, specs=specs, classes=classes, name="BasicMotions")

    return make(x_tr, y_tr), make(x_te, y_te), where


# -- training ----------------------------------------------------------------------------
def run(spec: dict, train: MultimodalDataset, test: MultimodalDataset, seed: int, epochs: int, batch_size: int,
        lr: float) -> dict:
    torch.manual_seed(seed)
    np.random.seed(seed)
    config = parse_config({"model": {"encoder": {"name": "steps"}, "fusion": dict(spec),
                                     "head": {"name": "mlp", "hidden": [32]}}})
    n_classes = train.n_classes
    model = build_model(config, train.specs, n_classes, "classification")
    task = get_task("classification", n_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(train, batch_size, shuffle=True, seed=seed)
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for batch in loader:
            optimiser.zero_grad()
            loss = task.loss(model(batch).logits, batch.target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
    seconds = time.perf_counter() - start
    test_loader = make_loader(test, 512)
    out = {"accuracy": evaluate(model, task, test_loader)["accuracy"], "seconds": seconds,
           "params": model.n_parameters()}
    for m in test.modalities:
        out[f"without {m}"] = evaluate(model, task, test_loader, drop=(m,))["accuracy"]
    return out


def table(name: str, results: dict[str, list[dict]], modalities: list[str]) -> str:
    base = np.mean([r["seconds"] for r in results["early_lstm"]])
    head = (f"\n### {name}\n\n| model | accuracy | " + " | ".join(f"without {m}" for m in modalities)
            + " | params | train s/run | time ratio vs early_lstm |\n|---|---|" + "---|" * len(modalities) + "---|---|---|")
    lines = [head]
    for model, runs in results.items():
        acc = np.array([r["accuracy"] for r in runs])
        missing = " | ".join(f"{np.mean([r[f'without {m}'] for r in runs]):.3f}" for m in modalities)
        sec = np.mean([r["seconds"] for r in runs])
        lines.append(f"| {model} | {acc.mean():.3f} +- {acc.std():.3f} | {missing} | {runs[0]['params']:,} | "
                     f"{sec:.2f} | {sec / base:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 seed, few epochs: a smoke run")
    parser.add_argument("--basicmotions", default=None, help="folder with BasicMotions_*.ts or an aeon wheel")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--tasks", nargs="*", default=["basicmotions", "interaction"])
    parser.add_argument("--epochs", type=int, nargs=2, default=(20, 25), metavar=("BASICMOTIONS", "INTERACTION"))
    parser.add_argument("--interaction-length", type=int, default=16, help="steps of the synthetic sequences")
    parser.add_argument("--lr", type=float, nargs=2, default=(5e-3, 1e-2), metavar=("BASICMOTIONS", "INTERACTION"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = range(1 if args.quick else args.seeds)
    if "early_lstm" not in args.models:  # the time-ratio baseline
        args.models = ["early_lstm", *args.models]
    bm_train, bm_test, where = basic_motions_datasets(args.basicmotions)
    syn = make_interaction_sequences(900, length=args.interaction_length, dim=4, amplitude=3.0, noise=0.5, seed=123)
    syn_train, syn_test = syn.subset(np.arange(500)), syn.subset(np.arange(500, 900))
    tasks = {
        f"BasicMotions (accelerometer + gyroscope; {len(bm_train)} train / {len(bm_test)} test; from {where})":
            ("basicmotions", bm_train, bm_test, 3 if args.quick else args.epochs[0], 10, args.lr[0]),
        f"interaction_sequences (XOR of event signs at different steps; amplitude 3, noise 0.5; 500 train / 400 test, "
        f"T={args.interaction_length})":
            ("interaction", syn_train, syn_test, 3 if args.quick else args.epochs[1], 50, args.lr[1]),
    }
    print(f"torch {torch.__version__}, 1 CPU thread, seeds {list(seeds)}", flush=True)
    total = time.perf_counter()
    for name, (key, train, test, epochs, batch_size, lr) in tasks.items():
        if key not in args.tasks:
            continue
        results = {}
        for model in args.models:
            results[model] = [run(MODELS[model], train, test, s, epochs, batch_size, lr) for s in seeds]
            accs = [r["accuracy"] for r in results[model]]
            print(f"  {name.split(' ')[0]} {model}: {np.mean(accs):.3f} ({time.perf_counter() - total:.0f} s)",
                  file=sys.stderr, flush=True)
        print(f"{table(name, results, list(train.modalities))}\n(epochs {epochs}, batch {batch_size}, Adam lr {lr})",
              flush=True)
    print(f"\ntotal {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
