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
