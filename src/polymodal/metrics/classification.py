"""Classification, multilabel and regression metrics on tensors.

Vectorised torch implementations (they run inside the training loop on any
device); each equals scikit-learn's function of the same name (tested).
"""

from __future__ import annotations

import torch

__all__ = [
    "accuracy",
    "confusion_matrix",
    "f1_macro",
    "multilabel_f1",
    "subset_accuracy",
    "mean_absolute_error",
    "root_mean_squared_error",
    "r2_score",
    "pearson_r",
]


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of ``pred == target`` (``sklearn.metrics.accuracy_score``)."""
    return (pred == target).double().mean().item()


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``C[i, j]`` = samples of true class ``i`` predicted as ``j``."""
    index = target.long() * n_classes + pred.long()
    return torch.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _f1_from_counts(tp, fp, fn) -> torch.Tensor:
    denom = 2 * tp + fp + fn
    return torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.zeros_like(denom))


def f1_macro(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in
    ``target`` or ``pred`` (``sklearn.metrics.f1_score(average="macro")``)."""
    cm = confusion_matrix(pred, target, n_classes).double()
    tp = cm.diag()
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    seen = (cm.sum(0) + cm.sum(1)) > 0
    return _f1_from_counts(tp, fp, fn)[seen].mean().item()


def multilabel_f1(pred: torch.Tensor, target: torch.Tensor, average: str = "macro") -> float:
    """F1 of 0/1 label matrices ``(N, k)``; ``average`` is ``"macro"`` or ``"micro"``."""
    pred, target = pred.bool(), target.bool()
    tp = (pred & target).sum(0).double()
    fp = (pred & ~target).sum(0).double()
    fn = (~pred & target).sum(0).double()
    if average == "micro":
        return _f1_from_counts(tp.sum(), fp.sum(), fn.sum()).item()
    return _f1_from_counts(tp, fp, fn).mean().item()


def subset_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of samples whose whole label set is right."""
    return (pred.bool() == target.bool()).all(dim=1).double().mean().item()


def mean_absolute_error(pred: torch.Tensor, target: torch.Tensor) -> float:
    return (pred.double() - target.double()).abs().mean().item()


def root_mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> float:
    return (pred.double() - target.double()).pow(2).mean().sqrt().item()


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination, averaged uniformly over outputs."""
    pred, target = pred.double().reshape(len(pred), -1), target.double().reshape(len(target), -1)
    ss_res = (target - pred).pow(2).sum(0)
    ss_tot = (target - target.mean(0)).pow(2).sum(0)
    return torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300), torch.zeros_like(ss_tot)).mean().item()


def pearson_r(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Pearson correlation of flattened predictions and targets."""
    a, b = pred.double().flatten(), target.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    denom = (a.norm() * b.norm()).item()
    return (a @ b).item() / denom if denom > 0 else 0.0
