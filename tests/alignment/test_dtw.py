"""dtw(): checked against dtaidistance, tslearn, dtw-python and a brute force.

Window mapping (verified here): our ``("itakura", s)`` == tslearn's
``itakura_mask(n, m, s)`` and ``("itakura_dtw_python", 2)`` == dtw-python's
``itakuraWindow`` (the two differ: tslearn's slopes are relative to the
n x m diagonal, dtw-python's are absolute).  Our ``("sakoe_chiba", r)`` == tslearn
``sakoe_chiba_radius=r`` == dtaidistance ``window=r + 1``; for unequal lengths
all three widen the band by the length difference.  dtw-python's
``sakoeChibaWindow`` is ``|i - j| <= r`` without widening, so it is compared
on equal lengths only.  dtw-python's ``distance`` is our ``.cost`` (with its
default Euclidean local cost: ``metric="euclidean"``) and its
``normalizedDistance`` our ``.normalized_cost``.
"""

from __future__ import annotations

import dtw as dtwpy
import numpy as np
import pytest
from dtaidistance import dtw as dtai
from dtaidistance import dtw_ndim as dtai_nd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from tslearn.metrics import dtw as ts_dtw
from tslearn.metrics import itakura_mask as ts_itakura_mask

from polymodal.alignment import STEP_PATTERNS, dtw, local_cost_matrix
from polymodal.errors import ConfigError, ShapeError

PATTERNS = ["symmetric1", "symmetric2", "asymmetric", "symmetricP0",
            "symmetricP05", "symmetricP1", "symmetricP2"]


def _pairs(d, seed=0, count=6):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, m = rng.integers(5, 60, size=2)
        shape = (lambda t: (t,)) if d == 1 else (lambda t: (t, d))
        yield rng.normal(size=shape(n)), rng.normal(size=shape(m))


@pytest.mark.parametrize("radius", [None, 0, 1, 3, 10])
def test_univariate_matches_dtaidistance_and_tslearn(radius):
    for x, y in _pairs(1, seed=1):
        if radius is None:
            ours = dtw(x, y).distance
            ref_dtai = dtai.distance(x, y)
            ref_ts = ts_dtw(x, y)
        else:
            ours = dtw(x, y, window=("sakoe_chiba", radius)).distance
            ref_dtai = dtai.distance(x, y, window=radius + 1)
            ref_ts = ts_dtw(x, y, global_constraint="sakoe_chiba", sakoe_chiba_radius=radius)
        assert ours == pytest.approx(ref_dtai, abs=1e-9, rel=1e-12)
        assert ours == pytest.approx(ref_ts, abs=1e-9, rel=1e-12)
        # the path-returning kernel agrees with the wavefront kernel
        window = None if radius is None else ("sakoe_chiba", radius)
        assert dtw(x, y, window=window, return_path=True).distance == pytest.approx(ours, abs=1e-9)


@pytest.mark.parametrize("radius", [None, 2, 7])
def test_multivariate_matches_dtaidistance_and_tslearn(radius):
    for x, y in list(_pairs(3, seed=2)) + list(_pairs(6, seed=3, count=3)):
        window = None if radius is None else ("sakoe_chiba", radius)
        ours = dtw(x, y, window=window).distance
        if radius is None:
            ref_dtai, ref_ts = dtai_nd.distance(x, y), ts_dtw(x, y)
        else:
            ref_dtai = dtai_nd.distance(x, y, window=radius + 1)
            ref_ts = ts_dtw(x, y, global_constraint="sakoe_chiba", sakoe_chiba_radius=radius)
        assert ours == pytest.approx(ref_dtai, abs=1e-9)
        assert ours == pytest.approx(ref_ts, abs=1e-9)


@pytest.mark.parametrize("d", [8, 20])
def test_many_feature_strip_kernel(d):
    """From 8 features on, unwindowed costs come from BLAS products in strips
    of 64 rows: check it against the peers and the path kernel across strip
    edges, for every pattern and metric it serves."""
    rng = np.random.default_rng(d)
    for n, m in [(1, 1), (1, 9), (9, 1), (64, 64), (65, 130), (130, 65), (200, 129)]:
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
        ours = dtw(x, y).distance
        assert ours == pytest.approx(dtai_nd.distance(x, y), abs=1e-9)
        assert ours == pytest.approx(ts_dtw(x, y), abs=1e-9)
        for pattern in ("symmetric1", "symmetric2"):
            for metric in ("sqeuclidean", "euclidean", "cosine"):
                fast = dtw(x, y, step_pattern=pattern, metric=metric).cost
                slow = dtw(x, y, step_pattern=pattern, metric=metric, return_path=True).cost
                assert fast == pytest.approx(slow, rel=1e-10, abs=1e-12)
    x = 100 * rng.normal(size=(70, d))
    assert dtw(x, x).distance == 0.0  # cancellation noise is rounded to exact zero


def _path_cost(C, path, pattern):
    """Cost of a path under a step pattern, from the pattern's definition
    (the cheapest way to split the path into moves; inf if none exists)."""
    moves = STEP_PATTERNS[pattern].moves
    pts = [tuple(int(v) for v in p) for p in path]

    def rest(k):
        if k == len(pts) - 1:
            return 0.0
        i, j = pts[k]
        best = np.inf
        for (a, b), segs in moves:
            inner = [(i + a - p, j + b - q) for p, q, _ in segs]
            if pts[k + 1:k + 1 + len(inner)] == inner:
                step = sum(w * C[c] for (p, q, w), c in zip(segs, inner))
                best = min(best, step + rest(k + len(inner)))
        return best

    total = C[pts[0]] + rest(0)
    assert np.isfinite(total), f"path is not a sequence of {pattern} moves"
    return total


@pytest.mark.parametrize("pattern", PATTERNS)
def test_path_is_valid_and_its_cost_is_the_cost(pattern):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(24, 2))
    r = dtw(x, y, step_pattern=pattern, return_path=True, return_cost_matrix=True)
    p = r.path
    assert tuple(p[0]) == (0, 0) and tuple(p[-1]) == (29, 23)
    steps = np.diff(p, axis=0)
    assert (steps >= 0).all() and (steps.sum(axis=1) >= 1).all()  # monotone, moving
    # continuous: one cell at a time (asymmetric's (1, 2) move may skip a column by design)
    assert steps.max() == (2 if pattern == "asymmetric" else 1)
    assert _path_cost(r.local_cost_matrix, p, pattern) == pytest.approx(r.cost, rel=1e-12)
    assert r.cost_matrix[-1, -1] == r.cost
    np.testing.assert_allclose(r.local_cost_matrix, cdist(x, y, "sqeuclidean"), rtol=1e-12)


def _ts_itakura(n, m, slope):
    """tslearn's Itakura mask (its pure backend: the same code as its numba one, without the compile),
    or None where tslearn calls the window infeasible."""
    try:
        return ts_itakura_mask(int(n), int(m), float(slope), be="pytorch").numpy()
    except RuntimeWarning:
        return None


def _brute_force(C, pattern, allowed):
    """Minimum over every move sequence from (0, 0) to (n - 1, m - 1)."""
    n, m = C.shape
    moves = STEP_PATTERNS[pattern].moves
    best = np.inf

    def walk(i, j, acc):
        nonlocal best
        if (i, j) == (n - 1, m - 1):
            best = min(best, acc)
            return
        for (a, b), segs in moves:
            ti, tj = i + a, j + b
            if ti < n and tj < m and allowed[ti, tj]:
                walk(ti, tj, acc + sum(w * C[ti - p, tj - q] for p, q, w in segs))

    if allowed[0, 0]:
        walk(0, 0, C[0, 0])
    return best


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6), m=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
    pattern=st.sampled_from(PATTERNS), radius=st.one_of(st.none(), st.integers(0, 3)),
    slope=st.one_of(st.none(), st.sampled_from([1.5, 2.0, 3.0])),
)
def test_every_step_pattern_agrees_with_brute_force(n, m, seed, pattern, radius, slope):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    C = cdist(x, y, "sqeuclidean")
    ii, jj = np.indices((n, m))
    itakura = None if slope is None else _ts_itakura(n, m, slope)
    if itakura is not None:  # Itakura parallelogram as tslearn builds it (skipped where tslearn says infeasible)
        allowed, window = itakura, ("itakura", slope)
    elif radius is None:
        allowed, window = np.ones((n, m), bool), None
    else:
        allowed = ((jj - ii) >= min(0, m - n) - radius) & ((jj - ii) <= max(0, m - n) + radius)
        window = ("sakoe_chiba", radius)
    ref = _brute_force(C, pattern, allowed)
    if np.isinf(ref):
        with pytest.raises(ShapeError, match="too narrow"):
            dtw(x, y, step_pattern=pattern, window=window, return_path=True)
        return
    r = dtw(x, y, step_pattern=pattern, window=window, return_path=True)
    assert r.cost == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert _path_cost(C, r.path, pattern) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    if pattern in ("symmetric1", "symmetric2"):  # the wavefront kernel too
        assert dtw(x, y, step_pattern=pattern, window=window).cost == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("pattern", ["symmetric1", "symmetric2", "asymmetric",
                                     "symmetricP05", "symmetricP1", "symmetricP2"])
def test_step_patterns_agree_with_dtw_python(pattern):
    rng = np.random.default_rng(4)
    for _ in range(4):
        n, m = rng.integers(20, 40, size=2)
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        ref = dtwpy.dtw(x, y, step_pattern=getattr(dtwpy, pattern), keep_internals=True)
        ours = dtw(x, y, step_pattern=pattern, metric="euclidean", return_path=True)
        assert ours.cost == pytest.approx(ref.distance, rel=1e-12)
        if pattern == "symmetric1":
            assert np.isnan(ours.normalized_cost) and np.isnan(ref.normalizedDistance)
        else:
            assert ours.normalized_cost == pytest.approx(ref.normalizedDistance, rel=1e-12)
    # Sakoe-Chiba window, equal lengths (dtw-python does not widen the band)
    x, y = rng.normal(size=(35, 2)), rng.normal(size=(35, 2))
    ref = dtwpy.dtw(x, y, step_pattern=getattr(dtwpy, pattern),
                    window_type="sakoechiba", window_args={"window_size": 4})
    ours = dtw(x, y, step_pattern=pattern, metric="euclidean", window=("sakoe_chiba", 4))
    assert ours.cost == pytest.approx(ref.distance, rel=1e-12)


def test_itakura_window_is_the_parallelogram():
    n, m, s = 17, 23, 2.0
    x, y = np.zeros(n), np.zeros(m)
    D = dtw(x, y, window=("itakura", s), return_cost_matrix=True).cost_matrix
    inside = _ts_itakura(n, m, s)  # tslearn's parallelogram (slopes relative to the n x m diagonal)
    # zero local cost: every reachable cell inside the window has D = 0
    assert np.array_equal(np.isfinite(D), inside)


def test_boolean_mask_window_equals_brute_force():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=6), rng.normal(size=7)
    mask = rng.random((6, 7)) < 0.8
    mask[0, 0] = mask[-1, -1] = True
    C = cdist(x[:, None], y[:, None], "sqeuclidean")
    ref = _brute_force(C, "symmetric1", mask)
    if np.isfinite(ref):
        assert dtw(x, y, window=mask).cost == pytest.approx(ref, rel=1e-12)


def test_metrics_and_precomputed():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(25, 4))
    for metric in ["euclidean", "cosine"]:
        C = cdist(x, y, metric)
        ref = dtw(C, metric="precomputed").cost
        assert dtw(x, y, metric=metric).cost == pytest.approx(ref, rel=1e-10)
        assert dtw(x, y, metric=metric, return_path=True).cost == pytest.approx(ref, rel=1e-10)
    manhattan = dtw(x, y, metric=lambda u, v: np.abs(u - v).sum()).cost
    assert manhattan == pytest.approx(dtw(cdist(x, y, "cityblock"), metric="precomputed").cost)
    np.testing.assert_allclose(local_cost_matrix(x, y), cdist(x, y, "sqeuclidean"), rtol=1e-12)


def test_identical_sequences_give_zero_and_the_diagonal():
    x = np.random.default_rng(7).normal(size=(12, 3))
    r = dtw(x, x, return_path=True)
    assert r.distance == 0.0
    np.testing.assert_array_equal(r.path, np.stack([np.arange(12)] * 2, axis=1))


def test_bad_input_messages():
    x = np.zeros(5)
    with pytest.raises(ShapeError, match=r"^x must be a non-empty sequence, got length 0 \(shape \(0, 1\)\)$"):
        dtw(np.zeros(0), x)
    with pytest.raises(ShapeError, match=r"^y must contain only finite values, got NaN or inf at time steps \[2\]$"):
        dtw(x, np.array([0.0, 1.0, np.nan]))
    with pytest.raises(ShapeError, match=r"^x and y must have the same number of features: x has d=3, y has d=2$"):
        dtw(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"^x must have shape \(T,\) or \(T, d\), got shape \(2, 2, 2\)$"):
        dtw(np.zeros((2, 2, 2)), x)
    with pytest.raises(
        ShapeError,
        match=r"^window \('itakura', 2\.0\) with step_pattern 'symmetric1' is too narrow for lengths "
        r"n=10, m=40: no warping path from \(0, 0\) to \(9, 39\) exists$",
    ):
        dtw(np.zeros(10), np.zeros(40), window=("itakura", 2.0))
    with pytest.raises(ShapeError, match=r"^window None with step_pattern 'asymmetric' is too narrow"):
        dtw(np.zeros(3), np.zeros(9), step_pattern="asymmetric")
    with pytest.raises(ConfigError, match=r"^step_pattern must be one of \["):
        dtw(x, x, step_pattern="diagonal")
    with pytest.raises(ConfigError, match=r"^window \('sakoe_chiba', radius\) needs an integer radius >= 0, got -1$"):
        dtw(x, x, window=("sakoe_chiba", -1))
    with pytest.raises(ConfigError, match=r"^window must be None, \('sakoe_chiba', radius\)"):
        dtw(x, x, window=("band", 3))
    with pytest.raises(ConfigError, match=r"^metric must be one of"):
        dtw(x, x, metric="manhattan", return_path=True)


# --- Issue 14: the Itakura window for n != m is tslearn's / dtw-python's parallelogram --------------


def _random_itakura_cases(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, m = (int(v) for v in rng.integers(2, 45, size=2))
        slope = float(rng.choice([1.001, 1.01, 1.05, 1.1, 1.2, 1.5, 2.0, 2.5, 3.0, 4.7]))
        yield n, m, slope, rng


def _masked_symmetric1(C, allowed):
    """Plain O(nm) DP of symmetric1 restricted to ``allowed`` (a reference independent of our kernels)."""
    n, m = C.shape
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if allowed[i - 1, j - 1]:
                D[i, j] = C[i - 1, j - 1] + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D[n, m]


def test_itakura_unequal_lengths_match_tslearn_mask_and_distance():
    from polymodal.alignment.dtw._windows import window_rows

    checked = {"n>m": 0, "n<m": 0, "n=m": 0, "slope<=1.1": 0}
    for n, m, slope, rng in _random_itakura_cases(300, 14):
        ref_mask = _ts_itakura(n, m, slope)
        if ref_mask is None:  # tslearn: no admissible path
            continue
        jlo, jhi = window_rows("itakura", slope, n, m)
        j = np.arange(m)
        assert np.array_equal((j >= jlo[:, None]) & (j <= jhi[:, None]), ref_mask), (n, m, slope)
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
        ref = _masked_symmetric1(cdist(x, y, "sqeuclidean"), ref_mask)
        if np.isfinite(ref):
            assert dtw(x, y, window=("itakura", slope)).cost == pytest.approx(ref, rel=1e-12), (n, m, slope)
            checked["n>m" if n > m else "n<m" if n < m else "n=m"] += 1
            checked["slope<=1.1"] += slope <= 1.1
    assert min(checked["n>m"], checked["n<m"], checked["slope<=1.1"]) >= 5, checked
    # the case of the issue, against tslearn's own DTW: n=34, m=26, max_slope=1.5
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(34, 2)), rng.normal(size=(26, 2))
    ref = float(ts_dtw(x, y, global_constraint="itakura", itakura_max_slope=1.5, be="pytorch"))
    assert dtw(x, y, window=("itakura", 1.5)).distance == pytest.approx(ref, rel=1e-12)


def test_itakura_dtw_python_window_matches_dtw_python():
    from dtw.window import itakuraWindow

    from polymodal.alignment.dtw._windows import window_rows

    rng = np.random.default_rng(15)
    compared = 0
    for n in range(2, 30, 3):
        for m in range(2, 30, 4):
            i, j = np.indices((n, m))
            ref_mask = itakuraWindow(i, j, n, m)
            jlo, jhi = window_rows("itakura_dtw_python", 2.0, n, m)
            assert np.array_equal((j >= jlo[:, None]) & (j <= jhi[:, None]), ref_mask), (n, m)
            x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
            try:
                ref = dtwpy.dtw(x, y, window_type="itakura", distance_only=True).distance
            except ValueError:  # dtw-python: no warping path
                with pytest.raises(ShapeError, match="too narrow"):
                    dtw(x, y, window=("itakura_dtw_python", 2), step_pattern="symmetric2", metric="euclidean")
                continue
            ours = dtw(x, y, window=("itakura_dtw_python", 2), step_pattern="symmetric2", metric="euclidean")
            assert ours.cost == pytest.approx(ref, rel=1e-12), (n, m)
            compared += 1
    assert compared > 20
    with pytest.raises(ConfigError, match="slope 2"):
        dtw(np.zeros(4), np.zeros(4), window=("itakura_dtw_python", 3))
