"""The engine's lean single-process training loop (no Lightning in the hot path).

:func:`lightning_needed` names the rule: a run goes through this loop when it is
one process on one device and asks for nothing the loop lacks; otherwise (DDP,
several devices or nodes, another precision, trackers other than the CSV log,
extra callbacks, an LR scheduler, any passthrough ``Trainer`` argument, or
``POLYMODAL_ENGINE=lightning`` in the environment) it goes through Lightning's
``Trainer``. Both write the same run folder: sealed ``best.ckpt`` (the best epoch by
the monitored metric, written once ``trainer.checkpoint_min_interval_s`` seconds have passed
since the previous one, before every ``last.ckpt`` and at the end, and held in memory until
then), ``last.ckpt`` every
``trainer.checkpoint_every_n_epochs`` epochs once ``trainer.checkpoint_min_interval_s``
seconds have passed since the previous one, and at the end, ``logs/metrics.csv``
from the history stored in the checkpoints, the same early-stopping rule
(Lightning's: stop after ``patience`` epochs without a strict improvement, or at
a non-finite monitored value), and exact resume (the loader order is
``f(seed, epoch)``; model, optimiser and RNG states are restored).

The hot loop does per step only: fetch, forward + loss, backward, clipping
(``clip_grad_norm_(foreach=True)``), the optimiser step (``foreach`` kernels:
:mod:`polymodal.training.optimizers`, torch's arithmetic without importing ``torch._dynamo``) and
one on-device add for the epoch's training loss; nothing is synchronised with
the host until the epoch ends (on CPU, clipping reads its factor). Where
:func:`~polymodal.training.flat_params.flat_reason` allows (one dtype and device, dense
parameters, ...), the
parameters, gradients and optimiser state are one flat tensor each
(:class:`~polymodal.training.flat_params.FlatParameters`): the gradients are copied there after
``backward``, clipped with one norm and stepped with the same ops on one tensor (bit for bit
``torch.optim``'s result; the clipping factor to rounding); the parameters own their memory
again when the loop returns. Validation runs in large batches under
``torch.inference_mode``. Each epoch's checkpoint is serialised on the training thread and
sealed, written, fsynced and renamed before the next epoch starts (a SIGKILL never loses a checkpointed
epoch); with ``trainer.async_checkpoint`` the sealing and writing run on one background thread
(:class:`~polymodal.training.checkpoint.BackgroundWriter`) while the next epoch trains, joined
before the next write, on any exception and before returning. A failed write is a
``CheckpointError``. Numbers and the reasoning: ``docs/engine.md``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from polymodal.errors import CheckpointError, ConfigError
from polymodal.training.checkpoint import (DEFERRED_BEST_MAX_BYTES, RUN_STATE_KEY, BackgroundWriter,
                                          CheckpointSchedule, atomic_write_text, detached_copy, format_history,
                                          link_atomically, rng_state, seal, serialize, set_rng_state, tensor_bytes,
                                          write_sealed)
from polymodal.training.flat_params import FlatParameters, flat_reason
from polymodal.training.objective import build_optimizer, output_loss

__all__ = ["lightning_needed", "run_fast_loop", "FAST_STATE_KEY"]

FAST_STATE_KEY = "polymodal.FastLoop"
RNG_KEY = "RNGStateCallback"


def lightning_needed(config) -> str | None:
    """Why the run needs Lightning's ``Trainer`` (a reason), or ``None`` when the fast loop runs it.

    Examples
    --------
    >>> from polymodal.training.config import parse_config
    >>> lightning_needed(parse_config({"data": {"name": "mfeat"}})) is None
    True
    >>> lightning_needed(parse_config({"data": {"name": "mfeat"}, "trainer": {"devices": 2}}))
    'trainer.devices=2 (more than one process)'
    """
    t = config.trainer
    if os.environ.get("POLYMODAL_ENGINE", "").lower() == "lightning":
        return "POLYMODAL_ENGINE=lightning"
    if t.devices not in (1, "1", "auto", [0]) or (t.devices == "auto" and t.accelerator != "cpu"):
        return f"trainer.devices={t.devices!r} (more than one process)"
    if t.num_nodes != 1:
        return f"trainer.num_nodes={t.num_nodes}"
    if t.strategy != "auto":
        return f"trainer.strategy={t.strategy!r}"
    if t.accelerator not in ("cpu", "gpu", "cuda", "auto"):
        return f"trainer.accelerator={t.accelerator!r}"
    if str(t.precision) not in ("32-true", "32"):
        return f"trainer.precision={t.precision!r}"
    loggers = t.logger if isinstance(t.logger, list) else [t.logger]
    if any(spec not in ("csv", False, None) and not (isinstance(spec, dict) and spec.get("name") == "csv")
           for spec in loggers):
        return f"trainer.logger={t.logger!r}"
    if t.callbacks:
        return "trainer.callbacks"
    if t.passthrough:
        return f"trainer.{next(iter(t.passthrough))} (a Lightning Trainer argument)"
    if config.lr_scheduler:
        return "lr_scheduler"
    return None


def device_of(config) -> torch.device:
    """The one device a fast-loop run trains on; :class:`ConfigError` when ``trainer.accelerator``
    asks for a GPU that is not there (what Lightning's ``Trainer`` would refuse)."""
    t = config.trainer
    if t.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config keys 'trainer' (accelerator={t.accelerator!r}, devices={t.devices!r}) cannot run "
                          "here: no CUDA GPU is available (torch.cuda.is_available() is False); "
                          "use trainer.accelerator=cpu or auto")
    if t.accelerator in ("gpu", "cuda") or (t.accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", 0)
    return torch.device("cpu")


class _EarlyStopping:
    """Lightning's ``EarlyStopping`` rule (min_delta 0, strict improvement, stop at a non-finite value)."""

    def __init__(self, mode: str, patience: int | None):
        self.mode, self.patience = mode, patience
        self.best: float | None = None
        self.wait = 0

    def update(self, value: float | None) -> bool:
        """Record an epoch's value; ``True`` when training should stop."""
        if self.patience is None or value is None:
            return False
        if not math.isfinite(value):
            return True
        if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


@torch.inference_mode()
def validate(model, task, loader, device: torch.device) -> dict[str, float]:
    """``val_<metric>`` of the task and ``val_objective`` (the training loss on validation data)."""
    model.eval()
    logits, targets, objective, count = [], [], 0.0, 0
    for batch in loader:
        batch = batch.to(device)
        output = model(batch)
        n = len(batch)
        objective += float(output_loss(task, output, batch.target)) * n
        count += n
        logits.append(output.logits)
        targets.append(batch.target)
    values = task.metrics(torch.cat(logits).float(), torch.cat(targets))
    out = {f"val_{k}": float(v) for k, v in values.items()}
    out["val_objective"] = objective / max(count, 1)
    return out


def _write_jobs(best, last, ckpt_dir: Path) -> list:
    """The writer's jobs for one epoch end: ``best`` / ``last`` are checkpoint dicts (or None), serialised here,
    on the training thread (``last`` views this epoch's live state); the jobs seal them and write ``best.ckpt``
    and ``last.ckpt`` (a hard link to ``best.ckpt`` when both are the same state, else a second write)."""
    jobs: list = []
    sealed: dict[str, memoryview] = {}
    for name, checkpoint in (("best", best), ("last", last)):
        if checkpoint is None:
            continue
        target = ckpt_dir / f"{name}.ckpt"
        if name == "last" and checkpoint is best:
            jobs.append(partial(_link_or_write, ckpt_dir / "best.ckpt", target, sealed))
            continue
        jobs.append(partial(_seal_into, sealed, name, serialize(checkpoint)))
        jobs.append(partial(_write_named, sealed, name, target))
    return jobs


def _seal_into(sealed: dict, name: str, data) -> None:
    sealed[name] = seal(data)


def _write_named(sealed: dict, name: str, path: Path) -> None:
    write_sealed(sealed[name], path)


def _link_or_write(best_path: Path, path: Path, sealed: dict) -> None:
    if not link_atomically(best_path, path):
        write_sealed(sealed["best"], path)


def _forward_loss(model, task, batch, output_loss):
    """One step's forward pass and training loss (a function, so crash tests can hook the step)."""
    return output_loss(task, model(batch), batch.target)


def run_fast_loop(model, task, *, optim: dict[str, Any], train_loader, val_loader, run_dir: Path, monitor: str,
                  mode: str, max_epochs: int, patience: int | None, clip: float | None, every_n_epochs: int = 1,
                  progress: bool = True, device: torch.device | None = None, resume: dict[str, Any] | None = None,
                  extra: dict[str, Any] | None = None, async_checkpoint: bool = False,
                  min_interval_s: float = 0.0) -> dict[str, Any]:
    """Train ``model`` (a :class:`~polymodal.training.model.MultimodalModel`) on ``task``; returns the run state
    (``RunCheckpoints``' layout: history, best score/epoch, epochs completed, stopped early).

    ``resume`` is a checkpoint written by this loop or by the Lightning engine; ``extra`` entries
    (``hyper_parameters``, ``polymodal_preprocessing``) go into every checkpoint. ``async_checkpoint``:
    write each epoch's files on a background thread while the next epoch trains (a SIGKILL during
    that write loses that epoch); off, they are on disk before the next epoch starts. ``last.ckpt`` is
    written every ``every_n_epochs`` epochs once ``min_interval_s`` seconds have passed since the previous
    one (training's start counts as one), and at the final epoch."""
    device = device or torch.device("cpu")
    model.to(device)
    ckpt_dir = Path(run_dir) / "checkpoints"
    metrics_path = Path(run_dir) / "logs" / "metrics.csv"
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, optim, lean=True)  # torch.optim's foreach arithmetic, no torch._dynamo
    # one flat parameter / gradient / state tensor each when the rule allows (flat_params.py)
    flat = FlatParameters(optimizer) if flat_reason(optimizer, model) is None else None
    stopper = _EarlyStopping(mode, patience)
    state = {"monitor": monitor, "mode": mode, "best_score": None, "best_epoch": None, "history": [],
             "epochs_completed": 0, "stopped_early": False}
    step = 0
    if resume is not None:
        model.load_state_dict({k.removeprefix("model."): v for k, v in resume["state_dict"].items()})
        optimizer.load_state_dict(resume["optimizer_states"][0])
        callbacks = resume.get("callbacks") or {}
        stored = callbacks.get(RUN_STATE_KEY) or {}
        state.update({k: stored[k] for k in ("history", "epochs_completed", "stopped_early") if k in stored})
        if stored.get("monitor") == monitor:
            state["best_score"], state["best_epoch"] = stored.get("best_score"), stored.get("best_epoch")
        early = callbacks.get(FAST_STATE_KEY) or next(
            ({"wait": v["wait_count"], "best": float(v["best_score"])} for k, v in callbacks.items()
             if k.startswith("ResumableEarlyStopping")), {})
        stopper.wait, stopper.best = int(early.get("wait", 0)), early.get("best")
        if stopper.best is not None and not math.isfinite(stopper.best):
            stopper.best = None
        step = int(resume.get("global_step", 0))
        if RNG_KEY in callbacks:
            set_rng_state(callbacks[RNG_KEY])

    def checkpoint(epoch: int) -> dict[str, Any]:
        """This epoch's checkpoint; its tensors view the live state: serialise or copy it before the next step."""
        model_state = {f"model.{k}": v.detach() for k, v in model.state_dict().items()}
        if flat is not None:  # views of the flat buffers: torch.save writes each buffer once
            model_state, optimizer_state = flat.snapshot(model_state)
        else:
            model_state, optimizer_state = {k: v.to("cpu") for k, v in model_state.items()}, optimizer.state_dict()
        checkpoint = {"epoch": epoch, "global_step": step, "polymodal_engine": "fast",
                      "state_dict": model_state, "optimizer_states": [optimizer_state], "lr_schedulers": [],
                      "callbacks": {RUN_STATE_KEY: {**state, "history": [dict(r) for r in state["history"]]},
                                    FAST_STATE_KEY: {"wait": stopper.wait, "best": stopper.best},
                                    RNG_KEY: rng_state()},
                      **(extra or {})}
        return checkpoint

    writer = BackgroundWriter(background=async_checkpoint)
    schedule = CheckpointSchedule(every_n_epochs, min_interval_s)
    pending_best = None  # the best epoch's checkpoint (a copy) until best.ckpt is due (CheckpointSchedule)
    try:
        loss_sum = torch.zeros((), device=device)
        for epoch in range(state["epochs_completed"], max_epochs):
            start = time.perf_counter()
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            model.train()
            loss_sum.zero_()
            count = 0
            for batch in train_loader:  # the hot loop: no host synchronisation
                batch = batch.to(device, non_blocking=True)
                loss = _forward_loss(model, task, batch, output_loss)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if flat is not None and flat.gather():  # gradients copied into one flat tensor
                    if clip:
                        flat.clip_(clip)
                    flat.step()
                else:
                    if clip:
                        torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
                    optimizer.hot_step()
                n = len(batch)
                loss_sum.add_(loss.detach(), alpha=n)
                count += n
                step += 1
            metrics = {"train_loss": float(loss_sum) / max(count, 1)}
            if val_loader is not None:
                metrics.update(validate(model, task, val_loader, device))
            value = metrics.get(monitor)
            should_stop = stopper.update(value)
            state["history"] = [r for r in state["history"] if r["epoch"] < epoch]
            state["history"].append({"epoch": epoch, "step": step, **metrics})
            state["epochs_completed"] = epoch + 1
            state["stopped_early"] = should_stop
            improved = value is not None and math.isfinite(value) and (
                state["best_score"] is None or (value < state["best_score"] if mode == "min" else value > state["best_score"]))
            if improved:
                state["best_score"], state["best_epoch"] = value, epoch
            final = state["epochs_completed"] >= max_epochs or should_stop
            last_due = schedule.last_due(state["epochs_completed"], final)
            current = checkpoint(epoch) if improved or last_due else None
            too_big = improved and tensor_bytes(current) > DEFERRED_BEST_MAX_BYTES
            best_due = schedule.best_due(improved or pending_best is not None, last_due or too_big, final)
            if improved and not best_due:
                pending_best = detached_copy(current)  # held until best.ckpt is due
            best = None
            if best_due:
                best, pending_best = (current if improved else pending_best), None
            # serialised here; sealed and written here, or on the writer's thread while the next epoch trains
            jobs = _write_jobs(best, current if last_due else None, ckpt_dir)
            if schedule.metrics_due(best is not None or last_due, final):
                jobs.append(partial(atomic_write_text, format_history(state["history"]), metrics_path, durable=False))
            writer.submit(f"the checkpoints of epoch {epoch} in {ckpt_dir}", *jobs)
            if progress:
                shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                print(f"epoch {epoch + 1}/{max_epochs} {shown} ({time.perf_counter() - start:.2f} s)", file=sys.stderr,
                      flush=True)
            if should_stop:
                break
    except BaseException as error:
        try:  # let the write in flight finish (the files on disk stay whole); keep the original error
            writer.wait()
        except CheckpointError as failed:
            error.add_note(str(failed))
        raise
    finally:
        if flat is not None:
            flat.release()  # every parameter owns its memory again
    writer.wait()  # every file written, fsynced and renamed before returning (a failure: CheckpointError)
    return state


def fit_fast(config, run_dir: Path, datamodule, task, model, monitor: str, mode: str, checkpoint: dict | None,
             overwrite: bool):
    """:func:`~polymodal.training.engine.fit`'s training and completion through :func:`run_fast_loop`
    (called by ``fit`` when :func:`lightning_needed` gives no reason); same run folder, same result."""
    import shutil

    from polymodal.training import engine
    from polymodal.training.provenance import write_provenance

    t = config.trainer
    device = device_of(config)
    replacing, work_dir = engine._work_dir(config, run_dir, overwrite)
    engine._remove_temporaries(work_dir / "checkpoints")
    atomic_write_text(engine._config_yaml(config), work_dir / "config.yaml")
    name = str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    write_provenance(work_dir, name)
    hparams = {"config": config.model_dump(mode="json"), "task": task.name, "n_outputs": int(task.n_outputs),
               "optim": config.optim.model_dump(), "lr_scheduler": None, "monitor": monitor,
               "model_inputs": engine.model_inputs_of(datamodule.specs)}
    extra: dict[str, Any] = {"hyper_parameters": hparams}
    extra["polymodal_preprocessing"] = datamodule.preprocessing  # {"standardize": None}: none
    has_val = len(datamodule.val_set) > 0
    try:
        start = time.perf_counter()
        state = run_fast_loop(model, task, optim=config.optim.model_dump(), train_loader=datamodule.train_dataloader(),
                              val_loader=datamodule.val_dataloader() if has_val else None, run_dir=work_dir,
                              monitor=monitor, mode=mode, max_epochs=t.max_epochs, patience=t.patience,
                              clip=t.gradient_clip_val, every_n_epochs=t.checkpoint_every_n_epochs,
                              progress=t.progress, device=device, resume=checkpoint, extra=extra,
                              async_checkpoint=t.async_checkpoint, min_interval_s=t.checkpoint_min_interval_s)
        train_seconds = time.perf_counter() - start
        result = engine._complete(config, work_dir, datamodule, task, model, train_seconds, state,
                                  write=not replacing)
    except BaseException:
        if replacing:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return engine._finish_replacement(result, work_dir, run_dir) if replacing else result
