"""A quiet console: Lightning's banners and known-harmless warnings off unless
asked for, progress bars on stderr, polymodal's own messages through
``logging.getLogger("polymodal")``.

Results go to stdout (the CLI prints them); everything else goes to stderr,
so ``polymodal train cfg.yaml 2>/dev/null`` prints only the results.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator

import lightning.pytorch as pl
from lightning.pytorch.callbacks import TQDMProgressBar

__all__ = ["StderrProgressBar", "EpochProgress", "quiet_lightning", "HARMLESS_WARNINGS"]

# warnings Lightning or torch raise on every run that say nothing about the user's run
HARMLESS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # torch._pytree, raised inside Lightning
    r".*torch.distributed.nn.functional.all_gather is deprecated.*",
    r".*does not have many workers.*",  # the data are in memory: workers would only add start-up time
    r".*is smaller than the logging interval.*",
    r".*when logging on epoch level in distributed setting.*",  # polymodal all-gathers the logits itself
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*`training_step` returned `None`.*",
    r".*You called `self.log\(.*` but have no logger configured.*",
    r".*You defined a `validation_step` but have no `val_dataloader`.*",  # a run without a validation split
)
_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning")


@contextlib.contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Within the block, Lightning logs only warnings and errors (no "GPU
    available", "TPU available", "💡 Tip", ``limit_val_batches`` notices) and
    :data:`HARMLESS_WARNINGS` are ignored; ``verbose=True`` changes nothing."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class StderrProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, written to stderr (Lightning's writes to stdout,
    where it would mix with results)."""

    def init_sanity_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_sanity_tqdm()

    def init_train_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_predict_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_predict_tqdm()

    def init_validation_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()

    def init_test_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_test_tqdm()

    def print(self, *args, sep: str = " ", **kwargs) -> None:
        kwargs.setdefault("file", sys.stderr)
        super().print(*args, sep=sep, **kwargs)


class EpochProgress(pl.Callback):
    """One tqdm bar on stderr over a fit's epochs (``desc``, with the latest
    ``monitor`` value), for commands that train several models in a row."""

    def __init__(self, desc: str, monitor: str = "val_loss") -> None:
        self.desc = desc
        self.monitor = monitor
        self._bar = None

    def on_train_start(self, trainer, pl_module) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=trainer.max_epochs, desc=self.desc, unit="epoch", file=sys.stderr, leave=False,
                         disable=not trainer.is_global_zero, dynamic_ncols=True)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._bar is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is not None:
                self._bar.set_postfix({self.monitor: f"{float(value):.4f}"}, refresh=False)
            self._bar.update(1)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

