"""Sentiment metrics against hand-computed values, scipy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score

from polymodal.errors import ShapeError
from polymodal.metrics.sentiment import (
    acc5,
    acc7,
    binary_accuracy,
    binary_f1,
    sentiment_mae,
    sentiment_pearson,
    sentiment_scores,
)

PRED = np.array([2.6, -0.4, 5.0, 0.0, -1.5, 0.49, -2.2, 1.1])
TRUE = np.array([3.0, 0.0, 2.5, -0.2, -1.4, 0.0, -3.0, 0.6])


def test_hand_computed_values():
    assert sentiment_mae(PRED, TRUE) == pytest.approx(np.mean([0.4, 0.4, 2.5, 0.2, 0.1, 0.49, 0.8, 0.5]))
    # rounded+clipped: pred 3,-0,3,0,-2,0,-2,1 ; true 3,0,2(half-even),-0,-1,0,-3,1
    assert acc7(PRED, TRUE) == pytest.approx(5 / 8)
    # [-2, 2]: pred 2,-0,2,0,-2,0,-2,1 ; true 2,0,2,-0,-1,0,-2,1
    assert acc5(PRED, TRUE) == pytest.approx(7 / 8)
    # has0: pred>=0 T,F,T,T,F,T,F,T ; true>=0 T,T,T,F,F,T,F,T -> 6/8
    assert binary_accuracy(PRED, TRUE, "has0") == pytest.approx(6 / 8)
    # non0: drop indices 1 and 5 (true == 0); pred>0 T,T,F,F,F,T ; true>0 T,T,F,F,F,T -> 6/6
    assert binary_accuracy(PRED, TRUE, "non0") == 1.0
    # mult: pred>0 T,F,T,F,F,T,F,T ; true>0 T,F,T,F,F,F,F,T -> 7/8
    assert binary_accuracy(PRED, TRUE, "mult") == pytest.approx(7 / 8)


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn_and_scipy(seed):
    rng = np.random.default_rng(seed)
    true = np.round(rng.uniform(-3, 3, 200) * 3) / 3  # MOSI labels are averages of 3 annotators
    true[:15] = 0.0
    pred = true + rng.normal(0, 1.0, 200)
    pred[:5] = 0.0
    assert sentiment_pearson(pred, true) == pytest.approx(pearsonr(pred, true)[0], abs=1e-12)
    assert acc7(pred, true) == accuracy_score(np.round(np.clip(true, -3, 3)), np.round(np.clip(pred, -3, 3)))
    has0_t, has0_p = true >= 0, pred >= 0
    assert binary_accuracy(pred, true, "has0") == pytest.approx(accuracy_score(has0_t, has0_p))
    assert binary_f1(pred, true, "has0") == pytest.approx(f1_score(has0_t, has0_p, average="weighted"), abs=1e-12)
    nz = true != 0
    non0_t, non0_p = true[nz] > 0, pred[nz] > 0
    assert binary_accuracy(pred, true, "non0") == pytest.approx(accuracy_score(non0_t, non0_p))
    assert binary_f1(pred, true, "non0") == pytest.approx(f1_score(non0_t, non0_p, average="weighted"), abs=1e-12)
    assert binary_f1(pred, true, "mult") == pytest.approx(f1_score(true > 0, pred > 0, average="weighted"), abs=1e-12)
    scores = sentiment_scores(torch.tensor(pred), torch.tensor(true))
    assert scores.f1_non0 == binary_f1(pred, true, "non0") and scores.mae == pytest.approx(np.abs(pred - true).mean())


def test_bad_input():
    with pytest.raises(ShapeError, match="pred has 2 values, target has 3"):
        acc7([1, 2], [1, 2, 3])
    with pytest.raises(ShapeError, match="NaN"):
        sentiment_mae([np.nan], [1.0])
    with pytest.raises(ValueError, match="convention"):
        binary_accuracy([1.0], [1.0], "zero")
    with pytest.raises(ShapeError, match="every label is 0"):
        binary_f1([1.0, -1.0], [0.0, 0.0], "non0")
    assert np.isnan(sentiment_pearson([1.0, 1.0], [0.0, 2.0]))


# --- Issue 14: MulT and Self-MM weight their "weighted F1" differently -------------------------------
# Both functions below re-express the repositories' own metric code (same filtering, binarisation and
# argument order to scikit-learn's f1_score, whose first argument is y_true and sets the weights).


def _mult_eval_f1(preds, truth, exclude_zero):
    """yaohungt/Multimodal-Transformer, src/eval_metrics.py, eval_mosei_senti."""
    non_zeros = np.array([i for i, e in enumerate(truth) if e != 0 or (not exclude_zero)])
    return f1_score((preds[non_zeros] > 0), (truth[non_zeros] > 0), average="weighted")


def _self_mm_eval_f1(preds, truth):
    """thuiar/Self-MM (HEAD, after c4525c1 "fix f1 score"), utils/metricsTop.py, __eval_mosei_regression."""
    non_zeros = np.array([i for i, e in enumerate(truth) if e != 0])
    non0 = f1_score((truth[non_zeros] > 0), (preds[non_zeros] > 0), average="weighted")
    has0 = f1_score((truth >= 0), (preds >= 0), average="weighted")
    return has0, non0


def _adversarial_cases():
    rng = np.random.default_rng(14)
    for _ in range(40):
        n = int(rng.integers(2, 60))
        truth = np.round(rng.uniform(-3, 3, n) * 3) / 3
        truth[rng.random(n) < 0.25] = 0.0                       # ties at 0 in the labels
        preds = np.round(rng.normal(0.3, 1.5, n), 1)
        preds[rng.random(n) < 0.25] = 0.0                       # ties at 0 in the predictions
        yield preds, truth
    t = np.array([1.0, -2.0, 0.0, 2.5, -0.4, 0.0, 1.2])
    yield np.full(7, 1.5), t                                    # every prediction positive
    yield np.full(7, -1.5), t                                   # every prediction negative
    yield np.zeros(7), t                                        # every prediction exactly 0
    yield np.array([0.5, -1.0, 2.0, 1.0, -3.0, 0.1, 0.2]), np.array([1.0, 2.0, 0.0, 3.0, 1.0, 0.0, 2.0])  # one class
    yield np.array([1.0, -1.0, 0.0]), np.array([0.0, 0.0, 0.0])  # all labels 0 (has0 / mult only)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_f1_matches_mult_and_self_mm_code():
    diffs = []
    for preds, truth in _adversarial_cases():
        has0, non0 = (None, None)
        if (truth != 0).any():
            has0, non0 = _self_mm_eval_f1(preds, truth)
            assert binary_f1(preds, truth, "non0", "self_mm") == pytest.approx(non0, abs=1e-12)
            assert binary_f1(preds, truth, "non0", "mult") == pytest.approx(_mult_eval_f1(preds, truth, True), abs=1e-12)
            scores = sentiment_scores(preds, truth)
            assert scores.f1_non0 == pytest.approx(non0, abs=1e-12)
            assert scores.f1_non0_mult == pytest.approx(_mult_eval_f1(preds, truth, True), abs=1e-12)
            assert scores.f1_mult == pytest.approx(_mult_eval_f1(preds, truth, False), abs=1e-12)
        else:
            has0 = f1_score(truth >= 0, preds >= 0, average="weighted")
        assert binary_f1(preds, truth, "has0", "self_mm") == pytest.approx(has0, abs=1e-12)
        mult = _mult_eval_f1(preds, truth, False)
        assert binary_f1(preds, truth, "mult", "mult") == pytest.approx(mult, abs=1e-12)
        diffs.append(abs(binary_f1(preds, truth, "mult", "mult") - binary_f1(preds, truth, "mult", "self_mm")))
    assert max(diffs) > 0.02  # the two weightings really differ on these inputs
    with pytest.raises(ValueError, match="weighting"):
        binary_f1([1.0], [1.0], "has0", "mosi")
