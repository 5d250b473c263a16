"""cdist_dtw, lb_keogh and dtw_knn against tslearn, dtaidistance and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from dtaidistance import dtw as dtai
from tslearn.metrics import cdist_dtw as ts_cdist
from tslearn.metrics import lb_keogh as ts_lb

from polymodal.alignment import cdist_dtw, dtw, dtw_knn, lb_keogh
from polymodal.errors import ConfigError, ShapeError


def _walks(rng, *shape):
    return np.cumsum(rng.normal(size=shape), axis=1)


@pytest.mark.parametrize("radius", [None, 0, 5])
def test_cdist_matches_tslearn_and_dtaidistance(radius):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(9, 40)), rng.normal(size=(6, 33))
    window = None if radius is None else ("sakoe_chiba", radius)
    kw = {} if radius is None else {"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": radius}
    np.testing.assert_allclose(cdist_dtw(X, window=window), ts_cdist(X, **kw), atol=1e-9)
    np.testing.assert_allclose(cdist_dtw(X, Y, window=window), ts_cdist(X, Y, **kw), atol=1e-9)
    ref = dtai.distance_matrix_fast(X, window=None if radius is None else radius + 1)
    iu = np.triu_indices(len(X), 1)
    np.testing.assert_allclose(cdist_dtw(X, window=window)[iu], ref[iu], atol=1e-9)


def test_cdist_multivariate_variable_length_and_threads():
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(t, 3)) for t in (7, 12, 20, 31)]
    ref = np.array([[dtw(a, b).distance for b in seqs] for a in seqs])
    np.testing.assert_allclose(cdist_dtw(seqs), ref, atol=1e-12)
    np.testing.assert_allclose(cdist_dtw(seqs, n_jobs=1), ref, atol=1e-12)
    sym2 = np.array([[dtw(a, b, step_pattern="symmetric2", metric="euclidean").cost
                      for b in seqs] for a in seqs])
    np.testing.assert_allclose(
        cdist_dtw(seqs, seqs, step_pattern="symmetric2", metric="euclidean"), sym2, atol=1e-12
    )


def test_lb_keogh_matches_tslearn_and_bounds_dtw():
    rng = np.random.default_rng(2)
    for _ in range(10):
        x, y = _walks(rng, 2, 50)
        for r in (0, 3, 10):
            lb = lb_keogh(x, y, radius=r)
            assert lb == pytest.approx(ts_lb(x, y, radius=r), abs=1e-12)
            assert lb <= dtw(x, y, window=("sakoe_chiba", r)).distance + 1e-12
    x, y = rng.normal(size=(2, 30, 3))
    assert lb_keogh(x, y, radius=2) <= dtw(x, y, window=("sakoe_chiba", 2)).distance


@pytest.mark.parametrize("k,radius", [(1, None), (1, 6), (3, None), (3, 6)])
def test_knn_finds_the_brute_force_neighbours(k, radius):
    rng = np.random.default_rng(3)
    train = _walks(rng, 120, 48)
    query = _walks(rng, 15, 48)
    window = None if radius is None else ("sakoe_chiba", radius)
    res = dtw_knn(query, train, k=k, window=window)
    full = cdist_dtw(query, train, window=window)
    np.testing.assert_array_equal(res.indices, np.argsort(full, axis=1)[:, :k])
    np.testing.assert_allclose(res.distances, np.sort(full, axis=1)[:, :k], atol=1e-12)
    assert res.n_dtw.sum() < full.size  # the lower bound pruned some candidates
    plain = dtw_knn(query, train, k=k, window=window, use_lower_bound=False)
    np.testing.assert_array_equal(plain.indices, res.indices)


def test_knn_multivariate():
    rng = np.random.default_rng(4)
    train, query = _walks(rng, 40, 20, 2), _walks(rng, 6, 20, 2)
    res = dtw_knn(query, train, window=("sakoe_chiba", 3))
    full = cdist_dtw(query, train, window=("sakoe_chiba", 3))
    np.testing.assert_array_equal(res.indices[:, 0], full.argmin(axis=1))


def test_bad_input_messages():
    X = np.zeros((3, 5))
    with pytest.raises(ShapeError, match=r"^X and Y must have the same number of features: X has d=1, Y has d=2$"):
        cdist_dtw(X, np.zeros((2, 5, 2)))
    with pytest.raises(ShapeError, match=r"^X\[1\] must contain only finite values"):
        cdist_dtw([np.zeros(3), np.array([0.0, np.nan])])
    with pytest.raises(ConfigError, match=r"^window must be None or \('sakoe_chiba', radius\) for many-pair DTW"):
        cdist_dtw(X, window=("itakura", 2.0))
    with pytest.raises(ConfigError, match=r"^n_jobs must be -1 or a positive integer, got 0$"):
        cdist_dtw(X, n_jobs=0)
    with pytest.raises(ShapeError, match=r"^lb_keogh needs equal lengths: x has 3 steps, y has 4$"):
        lb_keogh(np.zeros(3), np.zeros(4), radius=1)
    with pytest.raises(ConfigError, match=r"^k must be between 1 and 3 \(training size\), got 4$"):
        dtw_knn(X, X, k=4)
    with pytest.raises(ShapeError, match=r"^X_query and X_train must share \(T, d\): got \(4, 1\) and \(5, 1\)$"):
        dtw_knn(np.zeros((2, 4)), X)
