"""Streaming and distributed CCA: partial_fit and all_reduce merges equal fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st

from polymodal.errors import ShapeError
from polymodal.representation import CCA, CCAStats, all_reduce_cca_stats


def data(n=1000, p=12, q=9, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 4))
    X = Z @ rng.normal(size=(4, p)) + rng.normal(size=(n, p)) + 5.0
    Y = Z @ rng.normal(size=(4, q)) + rng.normal(size=(n, q)) - 2.0
    return X, Y


def assert_same_model(a: CCA, b: CCA, atol=1e-10):
    np.testing.assert_allclose(a.canonical_correlations_, b.canonical_correlations_, atol=atol)
    for name in ("x_weights_", "y_weights_", "x_mean_", "x_std_", "y_mean_", "y_std_", "coef_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)


def test_stats_equal_two_pass_formula():
    X, Y = data()
    s = CCAStats.from_arrays(X[:333], Y[:333]).merge(CCAStats.from_arrays(X[333:], Y[333:]))
    Z = np.hstack([X, Y])
    Zc = Z - Z.mean(0)
    np.testing.assert_allclose(s.mean, Z.mean(0), atol=1e-12)
    np.testing.assert_allclose(s.comoment, Zc.T @ Zc, rtol=1e-12, atol=1e-9)
    assert s.n == len(X)


def test_partial_fit_ten_chunks_equals_fit():
    X, Y = data()
    full = CCA(n_components=5).fit(X, Y)
    stream = CCA(n_components=5)
    bounds = np.linspace(0, len(X), 11).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        stream.partial_fit(X[lo:hi], Y[lo:hi])
    assert stream.n_samples_seen_ == len(X)
    assert_same_model(stream, full)
    np.testing.assert_allclose(stream.transform(X), full.transform(X), atol=1e-10)


def test_partial_fit_unsolvable_until_enough_samples():
    X, Y = data(n=40)
    cca = CCA(n_components=2)
    cca.partial_fit(X[:5], Y[:5])  # 5 samples for 12 features: singular so far
    with pytest.raises(ShapeError, match="not solvable from the data seen so far: X has 12 "
                       "features but only 5 samples"):
        cca.transform(X)
    cca.partial_fit(X[5:], Y[5:])
    assert_same_model(cca, CCA(n_components=2).fit(X, Y))


def test_partial_fit_rejects_changed_width():
    X, Y = data()
    cca = CCA().partial_fit(X[:100], Y[:100])
    with pytest.raises(ShapeError, match="Y has 8 features, but CCA is expecting 9"):
        cca.partial_fit(X[100:200], Y[100:200, :8])


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        X, Y = data()
        cut = 370  # unequal shards
        sl = slice(0, cut) if rank == 0 else slice(cut, None)
        local = CCAStats.from_arrays(X[sl], Y[sl])
        merged = all_reduce_cca_stats(local)
        cca = CCA(n_components=5).fit_stats(merged)
        np.savez(f"{out_dir}/rank{rank}.npz", corr=cca.canonical_correlations_,
                 xw=cca.x_weights_, yw=cca.y_weights_, mean=merged.mean,
                 M=merged.comoment, n=merged.n)
    finally:
        dist.destroy_process_group()


def test_all_reduce_two_processes_equals_fit(tmp_path):
    # fork: the children reuse the imported modules (spawn re-imports torch: ~10 s)
    mp.start_processes(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2,
                       join=True, start_method="fork")
    X, Y = data()
    full = CCA(n_components=5).fit(X, Y)
    ref = CCAStats.from_arrays(X, Y)
    for rank in range(2):
        r = np.load(tmp_path / f"rank{rank}.npz")
        assert int(r["n"]) == len(X)
        np.testing.assert_allclose(r["mean"], ref.mean, atol=1e-10)
        np.testing.assert_allclose(r["M"], ref.comoment, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(r["corr"], full.canonical_correlations_, atol=1e-10)
        np.testing.assert_allclose(r["xw"], full.x_weights_, atol=1e-10)
        np.testing.assert_allclose(r["yw"], full.y_weights_, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 199), max_size=9, unique=True),
       offset=st.floats(-1e6, 1e6), seed=st.integers(0, 2**16))
def test_merge_any_split_equals_direct(cuts, offset, seed):
    X, Y = data(n=200, p=5, q=4, seed=seed)
    X = X + offset
    bounds = [0, *sorted(cuts), 200]
    merged = None
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        s = CCAStats.from_arrays(X[lo:hi], Y[lo:hi])
        merged = s if merged is None else merged.merge(s)
    Z = np.hstack([X, Y])
    Zc = Z - Z.mean(0)
    M = Zc.T @ Zc
    np.testing.assert_allclose(merged.mean, Z.mean(0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(merged.comoment, M, rtol=0, atol=1e-9 * np.abs(M).max())
