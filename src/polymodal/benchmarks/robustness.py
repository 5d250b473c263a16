"""Robustness of a trained multimodal model to noisy and missing modalities.

For any trained :class:`~polymodal.training.MultimodalModel` and a loader:
the metric as a function of the standard deviation of Gaussian noise added to
one modality or to all of them, and the metric with each modality missing
(zeros + ``present`` False, every sample scored - unlike MultiBench, which
deletes samples). Summarised by the normalised area under each noise curve
(MultiBench's "effective/relative robustness" curves, Liang et al., NeurIPS
Datasets & Benchmarks 2021, plot the same quantity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from polymodal.data.batch import Batch
from polymodal.errors import ConfigError, ModalityError, ShapeError

__all__ = ["RobustnessResult", "robustness_curves", "plot_robustness", "curve_auc", "add_gaussian_noise"]

ALL = "all"


@dataclass
class RobustnessResult:
    """Metric of one model under perturbations.

    Attributes
    ----------
    metric : str
    noise_levels : list of float
        Noise standard deviations, in units of each feature's standard
        deviation on the evaluated data when ``relative`` (else absolute).
    clean : float
        Metric without perturbation.
    noise : dict[str, list[float]]
        ``"all"`` and each modality -> metric at each noise level.
    missing : dict[str, float]
        Modality -> metric with that modality missing for every sample.
    auc : dict[str, float]
        Key of ``noise`` -> :func:`curve_auc` of its curve.
    """

    metric: str
    noise_levels: list[float]
    clean: float
    noise: dict[str, list[float]] = field(default_factory=dict)
    missing: dict[str, float] = field(default_factory=dict)
    auc: dict[str, float] = field(default_factory=dict)
    relative: bool = True

    def table(self) -> str:
        """A Markdown table: one row per curve (AUC) and per missing modality."""
        head = "| perturbation | " + " | ".join(f"σ={s:g}" for s in self.noise_levels) + " | AUC |"
        rows = [head, "|---" * (len(self.noise_levels) + 2) + "|"]
        for key, values in self.noise.items():
            name = "noise on all" if key == ALL else f"noise on {key}"
            rows.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {self.auc[key]:.4f} |")
        lines = "\n".join(rows)
        if self.missing:
            lines += "\n\n| missing modality | " + self.metric + " |\n|---|---|\n"
            lines += f"| none | {self.clean:.4f} |\n" + "\n".join(f"| {m} | {v:.4f} |" for m, v in self.missing.items())
        return lines


def curve_auc(levels: Sequence[float], values: Sequence[float]) -> float:
    """Normalised area under a metric-vs-noise curve: the trapezoid integral
    divided by the range of levels, i.e. the mean metric over the range (same
    scale as the metric; 1.0 = perfect at every level).

    >>> curve_auc([0, 1, 2], [1.0, 0.5, 0.5])
    0.625
    """
    x, y = np.asarray(levels, dtype=float), np.asarray(values, dtype=float)
    if len(x) != len(y) or len(x) == 0:
        raise ConfigError(f"levels and values must have the same positive length, got {len(x)} and {len(y)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ShapeError(f"levels and values must be finite, got levels {x.tolist()} and values {y.tolist()}")
    if np.any(np.diff(x) <= 0):
        raise ConfigError(f"levels must increase strictly (noise levels in order), got {x.tolist()}")
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0 / (x[-1] - x[0]))


def add_gaussian_noise(
    batch: Batch, sigma: float, modalities: Sequence[str], scale: Mapping[str, torch.Tensor] | None = None,
    generator: torch.Generator | Mapping[str, torch.Generator] | None = None,
) -> Batch:
    """A copy of ``batch`` with :math:`x_m + \\sigma s_m \\epsilon`, :math:`\\epsilon \\sim N(0, I)`,
    on each of ``modalities`` (``s_m`` the per-feature ``scale``, 1 if None).
    Padding steps (``batch.mask`` False) and missing samples (``present``
    False) are left at zero. ``generator``: one for all modalities, or one
    per modality (so a modality's draws do not depend on which others are
    perturbed)."""
    inputs = dict(batch.inputs)
    if isinstance(modalities, str):
        raise ConfigError(f"modalities must be a list of modality names, got one str {modalities!r}: pass [{modalities!r}]")
    if not sigma >= 0 or not np.isfinite(sigma):
        raise ConfigError(f"sigma must be a finite noise level >= 0, got {sigma!r}")
    for m in modalities:
        x = batch[m]
        if not torch.is_floating_point(x):
            raise ModalityError(f"modality {m!r} has dtype {x.dtype}; Gaussian noise needs floating-point inputs")
        gen = generator.get(m) if isinstance(generator, Mapping) else generator
        eps = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
        if scale is not None:
            eps = eps * scale[m].to(x.device, x.dtype)
        keep = batch.present_mask(m).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        if m in batch.mask:
            steps = batch.mask[m].to(x.dtype)
            keep = keep * steps.view(*steps.shape, *([1] * (x.dim() - steps.dim())))
        inputs[m] = x + sigma * eps * keep
    return Batch(inputs, batch.target, dict(batch.lengths), dict(batch.mask), dict(batch.present), batch.ids)


def _feature_std(loader, modalities) -> dict[str, torch.Tensor]:
    s1, s2, n = {}, {}, {}
    for batch in loader:
        for m in modalities:
            x = batch[m].double()
            w = batch.present_mask(m).double().view(-1, *([1] * (x.dim() - 1)))
            if m in batch.mask:
                steps = batch.mask[m].double()
                w = w * steps.view(*steps.shape, *([1] * (x.dim() - steps.dim())))
                red = tuple(range(steps.dim()))
            else:
                red = (0,)
            w = w.expand_as(x)
            s1[m] = s1.get(m, 0) + (x * w).sum(red)
            s2[m] = s2.get(m, 0) + (x * x * w).sum(red)
            n[m] = n.get(m, 0) + w.sum(red)
    out = {}
    for m in modalities:
        count = n[m].clamp_min(1)
        var = (s2[m] / count - (s1[m] / count) ** 2).clamp_min(0)
        out[m] = var.sqrt().float()
    return out


@torch.no_grad()
def _score(model, task, loader, metric, perturb) -> float:
    outputs, targets = [], []
    for batch in loader:
        batch = perturb(batch)
        outputs.append(model(batch).logits.float().cpu())
        targets.append(batch.target)
    values = task.metrics(torch.cat(outputs), torch.cat(targets))
    if metric not in values:
        raise ConfigError(f"metric {metric!r} is not computed by task {task.name!r}; it has {sorted(values)}")
    return float(values[metric])


def robustness_curves(
    model,
    task,
    loader,
    noise_levels: Sequence[float] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
    modalities: Sequence[str] | None = None,
    per_modality: bool = True,
    missing: bool = True,
    metric: str = "accuracy",
    relative: bool = True,
    seed: int = 0,
) -> RobustnessResult:
    """Metric of ``model`` on ``loader`` under Gaussian noise and missing modalities.

    Parameters
    ----------
    model : MultimodalModel
        Trained; put in eval mode here (on its current device).
    task : Task
        Gives the metric (e.g. ``fit(...).task``).
    loader : iterable of Batch
        E.g. ``datamodule.test_dataloader()``; iterated once per curve point.
    noise_levels : sequence of float
        Standard deviations :math:`\\sigma`; with ``relative`` the noise on a
        feature is :math:`\\sigma` times its standard deviation on ``loader``
        (after the data module's standardisation that is 1).
    modalities : sequence of str, optional
        Modalities to perturb (all of the model's by default).
    per_modality : bool
        Also one curve per modality (noise on that one only).
    missing : bool
        Also score each modality missing.
    metric : str
        A key of ``task.metrics`` (``accuracy`` for classification, e.g. ``mae`` for regression).
    seed : int
        Seeds the noise: the same draws for every model given the same
        loader, and a modality gets the same draws alone as in ``"all"``.

    Returns :class:`RobustnessResult`.

    Examples
    --------
    >>> r = robustness_curves(fit_result.model, fit_result.task, dm.test_dataloader())  # doctest: +SKIP
    >>> plot_robustness(r, "robustness.png")  # doctest: +SKIP
    """
    model.eval()
    names = list(modalities) if modalities is not None else list(getattr(model, "modalities", []))
    known = list(getattr(model, "modalities", names))
    for m in names:
        if m not in known:
            raise ModalityError(f"modalities: unknown modality {m!r}; the model has {known}")
    levels = [float(s) for s in noise_levels]
    if not levels or any(s < 0 for s in levels):
        raise ConfigError(f"noise_levels: expected non-negative values, got {list(noise_levels)}")
    scale = _feature_std(loader, names) if relative else None
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def run(perturb) -> float:
        return _score(model, task, loader, metric, lambda b: perturb(b).to(device))

    clean = run(lambda b: b)
    groups = {ALL: names} if len(names) > 1 or not per_modality else {}
    if per_modality:
        groups.update({m: [m] for m in names})
    noise = {}
    for key, mods in groups.items():
        values = []
        for s in levels:
            if s == 0:
                values.append(clean)
                continue
            gen = {m: torch.Generator().manual_seed(seed * 1009 + known.index(m)) for m in mods}
            values.append(run(lambda b, s=s, mods=mods, gen=gen: add_gaussian_noise(b, s, mods, scale, gen)))
        noise[key] = values
    dropped = {m: run(lambda b, m=m: b.drop(m)) for m in names} if missing else {}
    return RobustnessResult(metric, levels, clean, noise, dropped, {k: curve_auc(levels, v) for k, v in noise.items()}, relative)


def plot_robustness(result: RobustnessResult | Mapping[str, RobustnessResult], path: str | Path, title: str | None = None) -> Path:
    """Write a PNG: metric vs noise level (left) and with each modality
    missing (right). ``result`` may be a dict ``model name -> result``: one
    "noise on all" curve per model and grouped bars; a single result draws
    every curve it holds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    many = not isinstance(result, RobustnessResult)
    results = dict(result) if many else {"model": result}
    if not results:
        raise ConfigError("plot_robustness: no results to plot")
    first = next(iter(results.values()))
    mods = sorted({m for r in results.values() for m in r.missing})
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 5.5) if many else (12, 4.5),
                                      gridspec_kw={"width_ratios": [1.1, 1]})
    colours = plt.get_cmap("tab20").colors
    if many:
        for i, (name, r) in enumerate(results.items()):
            key = ALL if ALL in r.noise else next(iter(r.noise))
            left.plot(r.noise_levels, r.noise[key], marker="o", color=colours[i % 20],
                      label=f"{name} (AUC {r.auc[key]:.3f})")
    else:
        for i, (key, values) in enumerate(first.noise.items()):
            left.plot(first.noise_levels, values, marker="o", color=colours[i % 20],
                      label=f"{'all' if key == ALL else key} (AUC {first.auc[key]:.3f})")
    left.set_xlabel("Gaussian noise σ" + (" (× feature std)" if first.relative else ""))
    left.set_ylabel(first.metric)
    left.set_title("noise on all modalities" if many else "noise")
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    if many:  # a table-like heat map: models x (none + each missing modality)
        grid = np.array([[r.clean] + [r.missing.get(m, np.nan) for m in mods] for r in results.values()])
        image = right.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                right.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if v < 0.6 else "k")
        right.set_yticks(range(len(results)))
        right.set_yticklabels(list(results), fontsize=7)
        fig.colorbar(image, ax=right, label=first.metric)
    else:
        vals = [first.clean] + [first.missing.get(m, np.nan) for m in mods]
        right.bar(range(len(vals)), vals, color=colours[0])
        right.set_ylabel(first.metric)
    right.set_xticks(range(len(mods) + 1))
    right.set_xticklabels(["none"] + mods)
    right.set_xlabel("missing modality")
    right.set_title("one modality missing")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
