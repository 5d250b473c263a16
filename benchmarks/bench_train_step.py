"""Where a training step's time goes, and the engine's two paths on one run.

    python benchmarks/bench_train_step.py [--epochs 10] [--threads 1]

mfeat, concat of 6 views (MLP encoders 128 -> 64, head 128), batch 64, RMSprop 1e-3, clip 8.
Part 1: per-step milliseconds of batch fetch, forward + loss, backward, clipping and the
optimiser step, with ``torch.optim.RMSprop``'s default (per-tensor) and multi-tensor (``foreach``)
kernels, with the fast loop's ``polymodal.training.optimizers.RMSprop`` (``lean``: the
``foreach`` arithmetic without torch's wrappers) and with its flat-buffer step (``flat``:
``polymodal.training.flat_params``; its clip column includes copying the gradients); CPU time of
the thread (``time.thread_time``, less sensitive to a loaded machine than wall time; ``--clock wall`` for ``perf_counter``).
``--optimizer`` picks adam / adamw / sgd / rmsprop, ``--fusion`` concat / tensor / low_rank
(tensor and low-rank fusion: fou + pix, encoders 128 -> 32, low-rank rank 8 with 64 outputs, as
bench_vs_multibench.py's tensor2 / lowrank2).
Part 2: ``polymodal.fit`` through Lightning's Trainer (``POLYMODAL_ENGINE=lightning``) and
through the fast single-process loop, interleaved: training seconds and samples/s (validation,
checkpoints and metrics.csv included) and the validation metrics (equal at the same seed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def per_step(threads: int, epochs: int, optimizer: str = "rmsprop", fusion: str = "concat",
             clock=time.thread_time) -> None:
    import polymodal.encoders  # noqa: F401
    import polymodal.fusion  # noqa: F401
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_datamodule, build_model
    from polymodal.training.objective import build_optimizer, output_loss
    from polymodal.training.tasks import get_task

    config = parse_config(_config("x", 1, optimizer=optimizer, fusion=fusion))
    dm = build_datamodule(config)
    task = get_task("classification", 10)
    print(f"# {optimizer}, {fusion} fusion of {list(dm.specs)}, {threads} thread(s), "
          f"{'CPU' if clock is time.thread_time else 'wall'} time")
    from polymodal.training.flat_params import FlatParameters

    kinds = ("per-tensor", "foreach", "lean", "flat")
    runs = {}
    for kind in kinds:
        torch.manual_seed(0)
        model = build_model(config, dm.specs, 10, "classification")
        params = list(model.parameters())
        opt = build_optimizer(params, config.optim.model_dump(), foreach=kind != "per-tensor",
                              lean=kind in ("lean", "flat"))
        flat = FlatParameters(opt) if kind == "flat" else None
        phases = ("fetch", "forward+loss", "backward", "clip", "optimiser")
        runs[kind] = (model, params, opt, flat, dict.fromkeys(phases, 0.0))
    steps = 0
    for epoch in range(epochs):
        for kind in kinds if epoch % 2 == 0 else kinds[::-1]:  # interleaved: the machine's load drifts
            model, params, opt, flat, times = runs[kind]
            foreach = kind != "per-tensor"
            loader = dm.train_dataloader()
            loader.set_epoch(epoch)
            it = iter(loader)
            while True:
                t0 = clock()
                batch = next(it, None)
                if batch is None:
                    break
                t1 = clock()
                loss = output_loss(task, model(batch), batch.target)
                t2 = clock()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                t3 = clock()
                if flat is not None:  # the fast loop's flat step: copy the gradients, one norm, one-tensor ops
                    flat.gather()
                    flat.clip_(8.0)
                    t4 = clock()
                    flat.step()
                else:
                    torch.nn.utils.clip_grad_norm_(params, 8.0, foreach=foreach)
                    t4 = clock()
                    opt.step()
                t5 = clock()
                for k, a, b in (("fetch", t0, t1), ("forward+loss", t1, t2), ("backward", t2, t3), ("clip", t3, t4),
                                ("optimiser", t4, t5)):
                    times[k] += b - a
                steps += kind == kinds[0]
    for kind in kinds:
        times = runs[kind][4]
        print(f"{kind:10s}: " + ", ".join(f"{k} {1e3 * v / steps:.3f} ms" for k, v in times.items()) +
              f", total {1e3 * sum(times.values()) / steps:.3f} ms/step")


def _config(name: str, epochs: int, out: str = "runs", optimizer: str = "rmsprop", fusion: str = "concat") -> dict:
    data = {"name": "mfeat", "batch_size": 64}
    fusion_block: dict = {"name": fusion}
    encoder = {"name": "mlp", "hidden": [128], "out_features": 64}  # MultiBench's MLP: no activation on the output
    if fusion != "concat":  # bench_vs_multibench.py's tensor2 / lowrank2: fou + pix, encoders 128 -> 32
        data["modalities"] = ["fou", "pix"]
        encoder["out_features"] = 32
        if fusion == "low_rank":
            fusion_block.update(out_features=64, rank=8)
    return {"name": name, "seed": 0, "data": data,
            "model": {"encoder": encoder, "fusion": fusion_block,
                      "head": {"name": "mlp", "hidden": [128]}},
            "optim": {"name": optimizer, "lr": 1e-3},
            "trainer": {"max_epochs": epochs, "patience": None, "gradient_clip_val": 8.0, "progress": False},
            "output_dir": out}


def engines(epochs: int, reps: int) -> None:
    from polymodal.training.engine import fit

    with tempfile.TemporaryDirectory() as out:
        for rep in range(reps):
            for engine in ("lightning", "fast") if rep % 2 == 0 else ("fast", "lightning"):
                os.environ["POLYMODAL_ENGINE"] = engine
                res = fit(_config(engine, epochs, out), overwrite=True)
                n = len(res.datamodule.train_set) * res.epochs
                print(f"{engine:9s}: {res.train_seconds:.2f} s for {res.epochs} epochs, {n / res.train_seconds:.0f} "
                      f"samples/s, val {res.val_metrics}")
    os.environ.pop("POLYMODAL_ENGINE", None)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10, help="epochs per measurement")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--reps", type=int, default=2, help="interleaved repetitions of part 2 (0: skip it)")
    p.add_argument("--optimizer", default="rmsprop", choices=["adam", "adamw", "sgd", "rmsprop"])
    p.add_argument("--fusion", default="concat", choices=["concat", "tensor", "low_rank"])
    p.add_argument("--clock", default="cpu", choices=["cpu", "wall"], help="per-step times: thread CPU or wall")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    per_step(args.threads, args.epochs, args.optimizer, args.fusion,
             time.thread_time if args.clock == "cpu" else time.perf_counter)
    if args.reps:
        engines(args.epochs, args.reps)
