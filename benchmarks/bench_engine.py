"""Engine overhead: `MultimodalModel` trained through polymodal's Lightning
engine vs a plain hand-written torch loop, same model, data, batch size and
epochs, in one process.

    python benchmarks/bench_engine.py [--batch-size 256] [--epochs 30] [--repeats 3] [--tile 1]

Two comparisons:
  train loop only   - the engine's LightningModule in a Lightning Trainer with
                      no validation, checkpoints or logger vs the plain loop:
                      the per-step cost of Lightning + the engine's step;
  whole fit         - the engine's `trainer.fit` as users get it (validation,
                      best/last checkpoint files written atomically, CSV log,
                      early-stopping bookkeeping every epoch) vs a plain loop
                      that validates every epoch and keeps the best weights in
                      memory.
Throughput is training samples per second; ratio = plain / engine time.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.training.config import parse_config
from polymodal.training.engine import build_callbacks, build_datamodule, build_model, build_trainer, run_monitor
from polymodal.training.module import MultimodalLightningModule
from polymodal.training.objective import output_loss
from polymodal.training.tasks import get_task


class EpochTimer(pl.Callback):
    def __init__(self):
        self.seconds = 0.0

    def on_train_epoch_start(self, trainer, module):
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        self.seconds += time.perf_counter() - self._t


def plain_loop(model, task, dm, epochs, lr, validate):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = dm.train_dataloader()
    val_loader = dm.val_dataloader()
    best, best_state = -1.0, None
    train_s = 0.0
    start = time.perf_counter()
    for epoch in range(epochs):
        t = time.perf_counter()
        loader.set_epoch(epoch)
        model.train()
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            loss = output_loss(task, model(batch), batch.target)
            loss.backward()
            opt.step()
        train_s += time.perf_counter() - t
        if validate:
            model.eval()
            with torch.no_grad():
                logits = torch.cat([model(b).logits for b in val_loader])
                target = torch.cat([b.target for b in val_loader])
                accuracy = task.metrics(logits, target)["accuracy"]
            if accuracy > best:
                best, best_state = accuracy, copy.deepcopy(model.state_dict())
    return train_s, time.perf_counter() - start


def engine_fit(model, task, dm, cfg, tmp, full: bool):
    module = MultimodalLightningModule(model, task, cfg.optim.model_dump(), cfg.model_dump(mode="json"))
    timer = EpochTimer()
    if full:
        monitor, mode = run_monitor(cfg, task, has_val=True)
        trainer = build_trainer(cfg, Path(tmp), build_callbacks(cfg, Path(tmp), monitor, mode) + [timer], has_val=True)
    else:
        trainer = pl.Trainer(max_epochs=cfg.trainer.max_epochs, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             limit_val_batches=0, num_sanity_val_steps=0, callbacks=[timer], deterministic=True)
    start = time.perf_counter()
    trainer.fit(module, dm.train_dataloader(), dm.val_dataloader() if full else None)
    return timer.seconds, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=1,
                        help="repeat the training set N times per epoch (separates per-epoch from per-step cost)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    cfg = parse_config({
        "data": {"batch_size": args.batch_size},
        "model": {"encoder": {"name": "mlp", "hidden": [128, 32]}, "fusion": {"name": "concat"},
                  "head": {"name": "mlp", "hidden": [128]}},
        "trainer": {"max_epochs": args.epochs, "patience": None, "progress": False},
    })
    dm = build_datamodule(cfg)
    if args.tile > 1:
        dm.train_set = dm.train_set.subset(np.tile(np.arange(len(dm.train_set)), args.tile))
    task = get_task("classification", 10)
    torch.manual_seed(0)
    base = build_model(cfg, dm.specs, 10, "classification")
    n_train = len(dm.train_set) * args.epochs
    rows = {"train loop only": [], "whole fit": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            e_train, _ = engine_fit(copy.deepcopy(base), task, dm, cfg, tmp, full=False)
            _, e_total = engine_fit(copy.deepcopy(base), task, dm, cfg, tmp + "/full", full=True)
        p_train, _ = plain_loop(copy.deepcopy(base), task, dm, args.epochs, cfg.optim.lr, validate=False)
        _, p_total = plain_loop(copy.deepcopy(base), task, dm, args.epochs, cfg.optim.lr, validate=True)
        rows["train loop only"].append((e_train, p_train))
        rows["whole fit"].append((e_total, p_total))
    print(f"mfeat, 6 views, intermediate concat ({base.n_parameters():,} parameters), batch {args.batch_size}, "
          f"{args.epochs} epochs x {len(dm.train_set)} samples, {torch.get_num_threads()} thread(s), best of {args.repeats}")
    print(f"{'comparison':<18}{'engine samples/s':>18}{'plain samples/s':>18}{'engine/plain time':>20}{'overhead':>10}")
    for name, pairs in rows.items():
        e = min(p[0] for p in pairs)
        p = min(p[1] for p in pairs)
        print(f"{name:<18}{n_train / e:>18,.0f}{n_train / p:>18,.0f}{e / p:>20.3f}{(e / p - 1) * 100:>9.1f}%")


if __name__ == "__main__":
    main()
