"""The run's checkpoints and metrics history, written together at each epoch end.

:class:`RunCheckpoints` replaces Lightning's ``ModelCheckpoint`` +
``CSVLogger`` pair so that what is on disk is always one consistent state:

- ``best.ckpt``: the best epoch so far by the monitored metric (written at most
  ``min_interval_s`` seconds after that epoch, with every ``last.ckpt`` and at the
  end; held in memory until then: :class:`~polymodal.training.checkpoint.CheckpointSchedule`);
- ``last.ckpt``: the latest completed epoch (a real file, every
  ``every_n_epochs`` epochs once ``min_interval_s`` seconds have passed since
  the previous one, and at the final epoch), from which a killed run resumes
  (or from ``best.ckpt`` when that is newer);
- ``logs/metrics.csv``: one row per completed epoch, rewritten atomically
  from the history that is stored *inside* the checkpoints, so a resumed
  run keeps every row before its resume point and re-derives the rest
  (at every epoch that wrote a checkpoint, at the final one, and otherwise
  at most every :data:`~polymodal.training.checkpoint.METRICS_MIN_INTERVAL_S`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping

from polymodal.training.checkpoint import (DEFERRED_BEST_MAX_BYTES, RUN_STATE_KEY, CheckpointSchedule,
                                          atomic_write_text, detached_copy, format_history, link_atomically,
                                          tensor_bytes)

__all__ = ["RunCheckpoints", "ResumableEarlyStopping"]


class RunCheckpoints(Checkpoint):
    """Save ``best.ckpt`` / ``last.ckpt`` and ``metrics.csv`` after every
    training epoch (after validation, early stopping and the epoch's
    ``train_loss`` are all settled, so a checkpoint is a completed epoch).

    Parameters
    ----------
    dirpath : path
        The run's ``checkpoints`` folder.
    metrics_path : path
        Where the metrics history is written (``logs/metrics.csv``).
    monitor, mode : str
        Metric that picks ``best.ckpt``, ``"min"`` or ``"max"``; NaN never improves.
    every_n_epochs : int
        Write ``last.ckpt`` every this many epochs (and at the final one) ...
    min_interval_s : float
        ... but no sooner than this many seconds after the previous one (the start of training counts as one).
    """

    def __init__(self, dirpath: str | Path, metrics_path: str | Path, monitor: str, mode: str, every_n_epochs: int = 1,
                 min_interval_s: float = 0.0):
        self.dirpath = Path(dirpath)
        self.metrics_path = Path(metrics_path)
        self.monitor = monitor
        self.mode = mode
        self.every_n_epochs = int(every_n_epochs)
        self.min_interval_s = float(min_interval_s)
        self._schedule = CheckpointSchedule(self.every_n_epochs, self.min_interval_s)
        self._pending_best: dict[str, Any] | None = None  # the best epoch's checkpoint until best.ckpt is due
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict[str, float]] = []
        self.epochs_completed = 0
        self.stopped_early = False

    @property
    def state_key(self) -> str:
        return RUN_STATE_KEY  # the fast loop stores its state under the same key (checkpoint.run_state reads it)

    @property
    def best_path(self) -> Path:
        return self.dirpath / "best.ckpt"

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "history": [dict(row) for row in self.history],
            "epochs_completed": self.epochs_completed,
            "stopped_early": self.stopped_early,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("monitor") == self.monitor:  # a changed monitor starts its own best
            self.best_score = state.get("best_score")
            self.best_epoch = state.get("best_epoch")
        self.history = [dict(row) for row in state.get("history", [])]
        self.epochs_completed = int(state.get("epochs_completed", 0))
        self.stopped_early = bool(state.get("stopped_early", False))

    def _improved(self, score: float | None) -> bool:
        if score is None or not math.isfinite(score):
            return False
        if self.best_score is None:
            return True
        return score < self.best_score if self.mode == "min" else score > self.best_score

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._schedule = CheckpointSchedule(self.every_n_epochs, self.min_interval_s)  # its clock starts now
        self._pending_best = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
        self.history = [row for row in self.history if row["epoch"] < epoch]
        self.history.append({"epoch": epoch, "step": trainer.global_step, **metrics})
        self.epochs_completed = epoch + 1
        self.stopped_early = bool(trainer.should_stop)
        improved = bool(trainer.strategy.broadcast(self._improved(metrics.get(self.monitor))))
        final = self.epochs_completed >= trainer.max_epochs or trainer.should_stop
        last_due = self._schedule.last_due(self.epochs_completed, final, agree=trainer.strategy.broadcast)
        current, too_big = None, False
        if improved:
            self.best_score, self.best_epoch = metrics[self.monitor], epoch
            # what Trainer.save_checkpoint writes, taken now (every process, as it), written when due
            current = trainer._checkpoint_connector.dump_checkpoint(False)
            too_big = bool(trainer.strategy.broadcast(tensor_bytes(current) > DEFERRED_BEST_MAX_BYTES))
        best_due = self._schedule.best_due(improved or self._pending_best is not None, last_due or too_big, final,
                                           agree=trainer.strategy.broadcast)
        if improved and not best_due:
            self._pending_best = detached_copy(current)  # held until best.ckpt is due (CheckpointSchedule)
        if best_due:
            trainer.strategy.save_checkpoint(current if improved else self._pending_best, self.best_path)
            trainer.strategy.barrier("RunCheckpoints.best")
            self._pending_best = None
        if last_due:
            # the same state as best.ckpt when it was just written: link it instead of writing it again
            if not (improved and best_due and trainer.world_size == 1
                    and link_atomically(self.best_path, self.last_path)):
                trainer.save_checkpoint(self.last_path)
        if trainer.is_global_zero and self._schedule.metrics_due(best_due or last_due, final):
            # re-derivable from the checkpoints: no fsync
            atomic_write_text(format_history(self.history), self.metrics_path, durable=False)


class ResumableEarlyStopping(EarlyStopping):
    """Lightning's early stopping, but a resumed run keeps the *configured*
    patience (Lightning restores the checkpoint's), so an allowed change of
    ``trainer.patience`` on resume takes effect."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience
