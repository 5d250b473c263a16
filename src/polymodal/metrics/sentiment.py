"""Sentiment-intensity metrics of CMU-MOSI / CMU-MOSEI (labels in [-3, 3]).

The literature reports the same names under different conventions; each
function here takes the convention explicitly:

- Acc-7 (Zadeh et al., AAAI 2018; MulT, Tsai et al., ACL 2019): predictions and
  labels clipped to [-3, 3] and rounded to the nearest integer (numpy's
  round-half-to-even, as MulT's ``multiclass_acc``), accuracy over 7 classes.
  Acc-5 likewise with [-2, 2].
- Acc-2 and F1, ``convention="has0"`` ("negative / non-negative", MISA,
  Hazarika et al., ACM MM 2020; Self-MM, Yu et al., AAAI 2021): class
  ``y >= 0`` vs ``y < 0`` for both predictions and labels, all samples.
- ``convention="non0"`` ("negative / positive", MulT's ``exclude_zero=True``,
  Self-MM's "non0"): samples whose label is exactly 0 are excluded, then
  ``y > 0`` vs ``y <= 0`` (predictions of exactly 0 count as negative).
- ``convention="mult"``: MulT's default (``exclude_zero=False``): ``y > 0``
  vs ``y <= 0`` on all samples (zero labels count as negative).
- F1 is the weighted F1 over the two classes (per-class F1 averaged with
  class counts as weights), and the two code bases weight differently, so
  :func:`binary_f1` takes ``weighting``: ``"self_mm"`` (Self-MM / MMSA,
  ``utils/metricsTop.py`` since commit c4525c1 "fix f1 score":
  ``f1_score(truth, preds, average="weighted")``, weights = label counts, the
  usual definition) or ``"mult"`` (MulT, ``src/eval_metrics.py``
  ``eval_mosei_senti``: ``f1_score(preds, truth, average="weighted")``,
  arguments swapped, so weights = prediction counts). Per-class F1 is the same
  in both; only the weights differ (by several points when predictions lean to one sign).
  Self-MM pairs its weighting with ``has0``/``non0``; MulT with ``mult``
  (``exclude_zero=False``) / ``non0`` (``exclude_zero=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from polymodal.errors import ConfigError, ShapeError

__all__ = [
    "BINARY_CONVENTIONS",
    "SentimentScores",
    "sentiment_mae",
    "sentiment_pearson",
    "acc7",
    "acc5",
    "binary_accuracy",
    "binary_f1",
    "F1_WEIGHTINGS",
    "sentiment_scores",
]

BINARY_CONVENTIONS = ("has0", "non0", "mult")
#: Whose weighted-F1 weights :func:`binary_f1` uses: Self-MM's (label counts) or MulT's (prediction counts).
F1_WEIGHTINGS = ("self_mm", "mult")


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    def arr(x, name):
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if np.iscomplexobj(x):
            raise ShapeError(f"{name} must be real; got complex values")
        try:
            x = x.astype(np.float64).reshape(-1)
        except (TypeError, ValueError) as error:
            raise ShapeError(f"{name} must be a real numeric array of sentiment scores ({error})") from None
        if not np.isfinite(x).all():
            raise ShapeError(f"{name} contains NaN or inf")
        return x

    p, t = arr(pred, "pred"), arr(target, "target")
    if p.shape != t.shape:
        raise ShapeError(f"pred has {p.size} values, target has {t.size}; they must match")
    if p.size == 0:
        raise ShapeError("pred and target are empty")
    return p, t


def sentiment_mae(pred, target) -> float:
    """Mean absolute error :math:`\\frac1n\\sum_i |\\hat y_i - y_i|` (no clipping)."""
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def sentiment_pearson(pred, target) -> float:
    """Pearson correlation :math:`\\mathrm{cov}(\\hat y, y) / (\\sigma_{\\hat y} \\sigma_y)` (nan if constant)."""
    p, t = _pair(pred, target)
    dp, dt = p - p.mean(), t - t.mean()
    denom = np.sqrt((dp**2).sum() * (dt**2).sum())
    return float((dp * dt).sum() / denom) if denom > 0 else float("nan")


def _rounded_accuracy(pred, target, bound: float) -> float:
    p, t = _pair(pred, target)
    return float(np.mean(np.round(np.clip(p, -bound, bound)) == np.round(np.clip(t, -bound, bound))))


def acc7(pred, target) -> float:
    """7-class accuracy: ``round(clip(y, -3, 3))`` of predictions vs labels.

    >>> acc7([2.6, -0.4, 5.0], [3.0, 0.0, 2.5])
    0.6666666666666666
    """
    return _rounded_accuracy(pred, target, 3.0)


def acc5(pred, target) -> float:
    """5-class accuracy: ``round(clip(y, -2, 2))`` of predictions vs labels."""
    return _rounded_accuracy(pred, target, 2.0)


def _binary(pred, target, convention: str) -> tuple[np.ndarray, np.ndarray]:
    if convention not in BINARY_CONVENTIONS:
        raise ConfigError(f"convention must be one of {BINARY_CONVENTIONS}, got {convention!r}")
    p, t = _pair(pred, target)
    if convention == "has0":
        return p >= 0, t >= 0
    if convention == "non0":
        keep = t != 0
        if not keep.any():
            raise ShapeError("convention 'non0' excludes zero labels, and every label is 0")
        p, t = p[keep], t[keep]
    return p > 0, t > 0


def binary_accuracy(pred, target, convention: str = "has0") -> float:
    """Acc-2 under ``convention`` (``"has0"``, ``"non0"`` or ``"mult"``; see the module docstring).

    >>> binary_accuracy([0.5, -1.0, 0.2], [0.0, -2.0, 1.0], "has0"), binary_accuracy([0.5, -1.0, 0.2], [0.0, -2.0, 1.0], "non0")
    (1.0, 1.0)
    """
    p, t = _binary(pred, target, convention)
    return float(np.mean(p == t))


def binary_f1(pred, target, convention: str = "has0", weighting: str = "self_mm") -> float:
    r"""Weighted binary F1 under ``convention`` with Self-MM's or MulT's class weights.

    :math:`F_1 = \sum_{c \in \{0, 1\}} \frac{w_c}{n} \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}`,
    where :math:`w_c` is the number of labels of class ``c`` for ``weighting="self_mm"``
    (Self-MM, Yu et al., AAAI 2021: ``f1_score(truth, preds, average="weighted")``) or
    the number of predictions of class ``c`` for ``weighting="mult"`` (MulT, Tsai et al.,
    ACL 2019: ``f1_score(preds, truth, average="weighted")``). A class with weight 0 adds
    nothing (as in scikit-learn).

    Parameters
    ----------
    pred, target : array-like (N,)
        Predicted and true sentiment intensities.
    convention : {"has0", "non0", "mult"}
        How intensities become binary labels (see the module docstring).
    weighting : {"self_mm", "mult"}
        Whose weighted average to take.

    >>> p, t = [1.0, 1.0, 1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0, -1.0]
    >>> round(binary_f1(p, t, "non0", "self_mm"), 4), round(binary_f1(p, t, "non0", "mult"), 4)
    (0.5667, 0.6333)
    """
    if weighting not in F1_WEIGHTINGS:
        raise ConfigError(f"weighting must be one of {F1_WEIGHTINGS}, got {weighting!r}")
    p, t = _binary(pred, target, convention)
    weights_of = t if weighting == "self_mm" else p
    score = 0.0
    for cls in (False, True):
        weight = int((weights_of == cls).sum())
        if weight == 0:
            continue
        tp = int(((p == cls) & (t == cls)).sum())
        fp, fn = int(((p == cls) & (t != cls)).sum()), int(((p != cls) & (t == cls)).sum())
        score += weight * (2 * tp / (2 * tp + fp + fn))
    return score / len(t)


@dataclass
class SentimentScores:
    """All the MOSI/MOSEI metrics of one prediction set.

    ``acc2_*``/``f1_has0``/``f1_non0`` are Self-MM's (``weighting="self_mm"``);
    ``f1_mult``/``f1_non0_mult`` are MulT's ``eval_mosei_senti`` F1 with
    ``exclude_zero=False``/``True`` (``weighting="mult"``).
    """

    mae: float
    corr: float
    acc7: float
    acc5: float
    acc2_has0: float
    f1_has0: float
    acc2_non0: float
    f1_non0: float
    f1_mult: float
    f1_non0_mult: float


def sentiment_scores(pred, target) -> SentimentScores:
    """MAE, Pearson r, Acc-7, Acc-5, Acc-2/F1 in the ``has0`` and ``non0`` conventions, MulT's F1s.

    >>> sentiment_scores([1.2, -0.3, 2.9], [1.0, -1.0, 3.0]).acc7
    0.6666666666666666
    """
    return SentimentScores(
        sentiment_mae(pred, target), sentiment_pearson(pred, target), acc7(pred, target), acc5(pred, target),
        binary_accuracy(pred, target, "has0"), binary_f1(pred, target, "has0"),
        binary_accuracy(pred, target, "non0"), binary_f1(pred, target, "non0"),
        binary_f1(pred, target, "mult", "mult"), binary_f1(pred, target, "non0", "mult"),
    )
