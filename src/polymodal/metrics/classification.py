"""Classification, multilabel and regression metrics on tensors.

Vectorised torch implementations (they run inside the training loop on any
device); each equals scikit-learn's function of the same name (tested).
"""

from __future__ import annotations

import torch

from polymodal.errors import ShapeError

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


def _pair(pred, target, what: str, *, same_shape: bool = True, finite: bool = False):
    """Both as tensors; refuse different sample counts or shapes (broadcasting
    would give a silently wrong score), no samples, and with ``finite`` NaN/inf."""
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.ndim == 0 or target.ndim == 0 or len(pred) != len(target):
        raise ShapeError(f"{what}: pred and target must have the same number of samples, "
                         f"got shapes {tuple(pred.shape)} and {tuple(target.shape)}")
    if same_shape and pred.shape != target.shape or pred.numel() != target.numel():
        raise ShapeError(f"{what}: pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if len(pred) == 0:
        raise ShapeError(f"{what}: no samples (empty pred and target)")
    if finite:
        for name, t in (("pred", pred), ("target", target)):
            if t.is_floating_point() and not torch.isfinite(t).all():
                hint = " (a diverged model?)" if name == "pred" else ""
                raise ShapeError(f"{what}: {name} contains NaN or inf{hint}")
    return pred, target


def _binary(pred, target, what: str):
    """Both 0/1 (or bool) label matrices; a 2, a 0.5 or a NaN is refused (``bool()`` would read it as 1)."""
    pred, target = _pair(pred, target, what)
    for name, t in (("pred", pred), ("target", target)):
        if t.dtype != torch.bool and not ((t == 0) | (t == 1)).all():
            found = sorted({float(v) for v in torch.unique(t[(t != 0) & (t != 1)])[:5].tolist()}, key=str)
            raise ShapeError(f"{what}: {name} must hold 0/1 labels, got {found}")
    return pred.bool(), target.bool()


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of ``pred == target`` (``sklearn.metrics.accuracy_score``)."""
    pred, target = _pair(pred, target, "accuracy", finite=True)
    return (pred == target).double().mean().item()


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``C[i, j]`` = samples of true class ``i`` predicted as ``j``."""
    pred, target = _pair(pred, target, "confusion_matrix")
    for name, t in (("pred", pred), ("target", target)):
        if t.is_floating_point() and not torch.equal(t, t.round()) or ((t < 0) | (t >= n_classes)).any():
            found = sorted({float(v) if t.is_floating_point() else int(v) for v in torch.unique(t)[:10].tolist()})
            raise ShapeError(f"confusion_matrix: {name} must hold class indices in [0, {n_classes}), got {found}")
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
    if average not in ("macro", "micro"):
        raise ShapeError(f"multilabel_f1: average must be 'macro' or 'micro', got {average!r}")
    pred, target = _binary(pred, target, "multilabel_f1")
    tp = (pred & target).sum(0).double()
    fp = (pred & ~target).sum(0).double()
    fn = (~pred & target).sum(0).double()
    if average == "micro":
        return _f1_from_counts(tp.sum(), fp.sum(), fn.sum()).item()
    return _f1_from_counts(tp, fp, fn).mean().item()


def subset_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of samples whose whole label set is right."""
    pred, target = _binary(pred, target, "subset_accuracy")
    return (pred == target).all(dim=1).double().mean().item()


def mean_absolute_error(pred: torch.Tensor, target: torch.Tensor) -> float:
    pred, target = _pair(pred, target, "mean_absolute_error", same_shape=False, finite=True)
    return (pred.double() - target.double()).abs().mean().item()


def root_mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> float:
    pred, target = _pair(pred, target, "root_mean_squared_error", same_shape=False, finite=True)
    return (pred.double() - target.double()).pow(2).mean().sqrt().item()


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination, averaged uniformly over outputs."""
    pred, target = _pair(pred, target, "r2_score", same_shape=False, finite=True)
    pred, target = pred.double().reshape(len(pred), -1), target.double().reshape(len(target), -1)
    ss_res = (target - pred).pow(2).sum(0)
    ss_tot = (target - target.mean(0)).pow(2).sum(0)
    return torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300), torch.zeros_like(ss_tot)).mean().item()


def pearson_r(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Pearson correlation of flattened predictions and targets."""
    pred, target = _pair(pred, target, "pearson_r", same_shape=False, finite=True)
    a, b = pred.double().flatten(), target.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    denom = (a.norm() * b.norm()).item()
    return (a @ b).item() / denom if denom > 0 else 0.0
