"""``polymodal demo``: every model-agnostic fusion method on mfeat, 5 seeds.

Each of the six views alone, then early, late (mean of probabilities and a
learned stacking combiner), hybrid, and intermediate-concat fusion of all six
views, trained by the engine (:func:`polymodal.training.fit`) on MultiBench's
stratified 60/20/20 split for each seed. Reports test accuracy (mean ± std),
macro-F1, parameter count, training time, and the accuracy of every
multi-view model when each view is missing at test time.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data.mfeat import MFEAT_VIEWS

__all__ = ["DEMO_MODELS", "demo_configs", "run_demo", "DemoRun"]

VIEWS = list(MFEAT_VIEWS)
NOISE_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0)  # Gaussian noise on every view, x each feature's std
_HEAD = {"name": "mlp", "hidden": [128], "dropout": 0.3}

# name -> (views, model config); every part is a registered name.
DEMO_MODELS: dict[str, tuple[list[str], dict[str, Any]]] = {
    **{f"view {v}": ([v], {"encoder": {"name": "identity"}, "fusion": {"name": "concat"}, "head": _HEAD}) for v in VIEWS},
    "early": (VIEWS, {"encoder": {"name": "identity"}, "fusion": {"name": "concat"}, "head": _HEAD}),
    "late (mean)": (VIEWS, {"encoder": {"name": "identity"}, "fusion": {"name": "late", "combine": "mean", "head": _HEAD}, "head": None}),
    "late (learned)": (VIEWS, {"encoder": {"name": "identity"}, "fusion": {"name": "late", "combine": "learned", "head": _HEAD}, "head": None}),
    "hybrid": (VIEWS, {"encoder": {"name": "identity"}, "fusion": {"name": "hybrid", "combine": "mean", "head": _HEAD}, "head": None}),
    "intermediate (concat)": (VIEWS, {"encoder": {"name": "mlp", "hidden": [128, 32], "dropout": 0.3}, "fusion": {"name": "concat"}, "head": _HEAD}),
}


@dataclass
class DemoRun:
    """One trained model on one seed."""

    model: str
    seed: int
    accuracy: float
    f1_macro: float
    n_parameters: int
    train_seconds: float
    epochs: int
    confusion: np.ndarray
    missing: dict[str, float]  # view dropped at test time -> accuracy
    noise_levels: list[float] | None = None  # Gaussian noise sigma (x feature std) on all views
    noise_accuracy: list[float] | None = None
    noise_auc: float | None = None


def demo_configs(seed: int, out_dir: Path, max_epochs: int = 40, patience: int = 8, batch_size: int = 128) -> dict[str, dict]:
    """The experiment config of every demo model for one seed."""
    configs = {}
    for name, (views, model) in DEMO_MODELS.items():
        slug = name.replace(" ", "_").replace("(", "").replace(")", "")
        configs[name] = {
            "name": f"{slug}-seed{seed}",
            "seed": seed,
            "data": {"name": "mfeat", "modalities": views, "batch_size": batch_size},
            "model": model,
            "optim": {"name": "adam", "lr": 1e-3},
            "trainer": {"max_epochs": max_epochs, "patience": patience, "progress": False},
            "output_dir": str(out_dir / "runs"),
        }
    return configs


def _quiet() -> None:
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _train_one(model_name: str, config: dict) -> DemoRun:
    _quiet()
    from polymodal.benchmarks.robustness import robustness_curves
    from polymodal.metrics import confusion_matrix
    from polymodal.training.engine import fit, predict

    result = fit(config, overwrite=True)
    dm, model, task = result.datamodule, result.model, result.task
    output, target = predict(model, dm.test_dataloader())
    cm = confusion_matrix(task.predict(output.logits), target, task.n_outputs).numpy()
    run = DemoRun(model_name, config["seed"], result.test_metrics["accuracy"], result.test_metrics["f1_macro"],
                  result.n_parameters, result.train_seconds, result.epochs, cm, {})
    if len(model.modalities) > 1:
        robust = robustness_curves(model, task, dm.test_dataloader(), noise_levels=NOISE_LEVELS,
                                   per_modality=False, seed=config["seed"])
        run.missing = dict(robust.missing)
        run.noise_levels, run.noise_accuracy, run.noise_auc = robust.noise_levels, robust.noise["all"], robust.auc["all"]
    return run


def run_demo(
    seeds: int = 5,
    out_dir: str | Path = "reports/demo",
    workers: int | None = None,
    max_epochs: int = 40,
    models: list[str] | None = None,
    progress: bool = True,
) -> tuple[list[DemoRun], Path]:
    """Train every demo model on ``seeds`` seeds and write the report.

    Returns the runs and the path of ``report.md``.
    """
    from tqdm.auto import tqdm

    from polymodal.benchmarks.report import write_demo_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = models or list(DEMO_MODELS)
    unknown = [m for m in names if m not in DEMO_MODELS]
    if unknown:
        from polymodal.errors import ConfigError

        raise ConfigError(f"unknown demo model {unknown[0]!r}; choose from {list(DEMO_MODELS)}")
    jobs = [(name, demo_configs(seed, out_dir, max_epochs)[name]) for seed in range(seeds) for name in names]
    workers = workers or min(2, os.cpu_count() or 1)
    start = time.perf_counter()
    runs: list[DemoRun] = []
    bar = tqdm(total=len(jobs), desc="polymodal demo", unit="model", disable=not progress)
    if workers <= 1:
        for name, config in jobs:
            runs.append(_train_one(name, config))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_quiet) as pool:
            futures = [pool.submit(_train_one, name, config) for name, config in jobs]
            for future in futures:
                runs.append(future.result())
                bar.update()
    bar.close()
    report = write_demo_report(runs, out_dir, wall_seconds=time.perf_counter() - start)
    return runs, report
