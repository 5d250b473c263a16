import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from polymodal import metrics as M


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 6, 200))
    p[p == 5] = 4  # a class never predicted
    yt, pt = torch.as_tensor(y), torch.as_tensor(p)
    assert M.accuracy(pt, yt) == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert M.f1_macro(pt, yt, 6) == pytest.approx(skm.f1_score(y, p, average="macro"), abs=1e-12)
    np.testing.assert_array_equal(M.confusion_matrix(pt, yt, 6).numpy(), skm.confusion_matrix(y, p, labels=range(6)))


def test_regression_and_multilabel_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(100, 2))
    p = y + rng.normal(scale=0.5, size=(100, 2))
    yt, pt = torch.as_tensor(y), torch.as_tensor(p)
    assert M.mean_absolute_error(pt, yt) == pytest.approx(skm.mean_absolute_error(y, p))
    assert M.root_mean_squared_error(pt, yt) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert M.r2_score(pt, yt) == pytest.approx(skm.r2_score(y, p))
    assert M.pearson_r(pt[:, 0], yt[:, 0]) == pytest.approx(np.corrcoef(p[:, 0], y[:, 0])[0, 1])
    Y = rng.integers(0, 2, (50, 4))
    P = np.where(rng.random((50, 4)) < 0.7, Y, 1 - Y)
    for avg in ("macro", "micro"):
        assert M.multilabel_f1(torch.as_tensor(P), torch.as_tensor(Y), avg) == pytest.approx(skm.f1_score(Y, P, average=avg))
    assert M.subset_accuracy(torch.as_tensor(P), torch.as_tensor(Y)) == pytest.approx(skm.accuracy_score(Y, P))
