"""DBA and soft-DTW barycentres against tslearn on the same start."""

from __future__ import annotations

import numpy as np
import pytest
from tslearn.barycenters import dtw_barycenter_averaging as ts_dba
from tslearn.barycenters import softdtw_barycenter as ts_sdtw_bary

from polymodal.alignment import dba, dtw, soft_dtw, soft_dtw_barycenter
from polymodal.errors import ConfigError, ShapeError


def _walks(seed, shape):
    return np.cumsum(np.random.default_rng(seed).normal(size=shape), axis=1)


def test_dba_matches_tslearn_and_never_increases_the_objective():
    X = _walks(0, (6, 30, 2))
    ours = dba(X, init=X.mean(0), max_iter=50, tol=1e-12)
    ref = ts_dba(X, init_barycenter=X.mean(0), max_iter=50, tol=1e-12)
    np.testing.assert_allclose(ours.barycenter, ref, atol=1e-10)
    h = ours.history + [ours.objective]
    assert all(b <= a + 1e-9 for a, b in zip(h, h[1:]))
    assert ours.objective == pytest.approx(sum(dtw(ours.barycenter, x).cost for x in X))


def test_dba_of_copies_is_the_copy_and_handles_unequal_lengths():
    x = _walks(1, (1, 20, 3))[0]
    np.testing.assert_allclose(dba([x, x, x]).barycenter, x, atol=1e-12)
    seqs = [_walks(2, (1, 25, 1))[0], _walks(3, (1, 31, 1))[0]]
    res = dba(seqs, init=seqs[0])
    assert res.history[-1] <= res.history[0]


@pytest.mark.parametrize("gamma", [0.1, 1.0])
def test_soft_dtw_barycenter_matches_tslearn(gamma):
    X = _walks(4, (5, 24, 2))
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.0])
    ours = soft_dtw_barycenter(X, gamma=gamma, weights=w, init=X.mean(0), max_iter=40)
    ref = ts_sdtw_bary(X, gamma=gamma, weights=w, init=X.mean(0), max_iter=40, tol=1e-3)
    np.testing.assert_allclose(ours.barycenter, ref, atol=1e-6)
    objective = sum(wi * soft_dtw(ours.barycenter, x, gamma=gamma).value for wi, x in zip(w, X))
    assert ours.objective == pytest.approx(objective, rel=1e-12)
    assert ours.objective < ours.history[0]


def test_bad_input():
    with pytest.raises(ShapeError, match=r"^sequences of different lengths need an explicit init barycenter$"):
        dba([np.zeros(3), np.zeros(4)])
    with pytest.raises(ConfigError, match=r"^weights must be 2 non-negative numbers, not all zero"):
        soft_dtw_barycenter([np.zeros(3), np.zeros(3)], weights=[0.0, 0.0])
    with pytest.raises(ShapeError, match=r"^init and X\[0\] must have the same number of features: init has d=2, X\[0\] has d=1$"):
        dba([np.zeros(3)], init=np.zeros((3, 2)))
