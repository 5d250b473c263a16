"""Retrieval metrics against brute-force loops and the VSE++/LAVIS argsort recipe."""

from __future__ import annotations

import re

import numpy as np
import pytest

from polymodal.errors import ConfigError, ShapeError
from polymodal.metrics.retrieval import (
    evaluate_retrieval,
    ground_truth_ranks,
    plot_recall_curve,
    recall_curve,
    retrieval_recall_at_k,
)


def brute_rank(scores, gts):
    """Pessimistic ties: count non-relevant items scoring >= the best ground truth."""
    best = max(scores[g] for g in gts)
    return 1 + sum(1 for j, s in enumerate(scores) if j not in gts and s >= best)


def lavis_i2t_ranks(sim, n_caps):
    """LAVIS/VSE++ recipe: image i owns captions n_caps*i..; 1-based ranks."""
    ranks = []
    for i, row in enumerate(sim):
        inds = np.argsort(row)[::-1]
        ranks.append(1 + min(np.where(inds == c)[0][0] for c in range(n_caps * i, n_caps * (i + 1))))
    return np.array(ranks)


def test_ranks_brute_force_with_ties_and_several_ground_truths():
    rng = np.random.default_rng(0)
    S = rng.integers(0, 4, size=(30, 12)).astype(float)  # many ties
    rel = [sorted(rng.choice(12, size=rng.integers(1, 4), replace=False).tolist())
           for _ in range(30)]
    got = ground_truth_ranks(S, rel)
    ref = [brute_rank(S[q], set(rel[q])) for q in range(30)]
    np.testing.assert_array_equal(got, ref)
    res = retrieval_recall_at_k(S, rel, ks=(1, 3, 5))
    for k in (1, 3, 5):
        assert res.recall[k] == pytest.approx(100.0 * sum(r <= k for r in ref) / 30)
    assert res.mean_rank == pytest.approx(np.mean(ref))
    assert res.median_rank == np.floor(np.median(np.array(ref) - 1)) + 1


def test_five_captions_per_image_matches_lavis_recipe():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(20, 8))
    cap = np.repeat(img, 5, axis=0) + 1.5 * rng.normal(size=(100, 8))
    res = evaluate_retrieval(img, cap, [list(range(5 * i, 5 * i + 5)) for i in range(20)])
    In = img / np.linalg.norm(img, axis=1, keepdims=True)
    Cn = cap / np.linalg.norm(cap, axis=1, keepdims=True)
    sim = In @ Cn.T
    i2t = lavis_i2t_ranks(sim, 5)
    t2i = np.array([1 + np.where(np.argsort(sim[:, t])[::-1] == t // 5)[0][0] for t in range(100)])
    np.testing.assert_array_equal(res.query_to_gallery.ranks, i2t)
    np.testing.assert_array_equal(res.gallery_to_query.ranks, t2i)
    for k in (1, 5, 10):
        assert res.query_to_gallery.recall[k] == pytest.approx(100.0 * (i2t <= k).mean())
        assert res.gallery_to_query.recall[k] == pytest.approx(100.0 * (t2i <= k).mean())
    assert res.rsum == pytest.approx(sum(res.query_to_gallery.recall.values())
                                     + sum(res.gallery_to_query.recall.values()))


def test_relevance_forms_agree_and_curve():
    rng = np.random.default_rng(2)
    S = rng.normal(size=(15, 15))
    idx = rng.permutation(15)
    dense = np.zeros((15, 15), bool)
    dense[np.arange(15), idx] = True
    a = ground_truth_ranks(S, idx)
    np.testing.assert_array_equal(a, ground_truth_ranks(S, dense))
    np.testing.assert_array_equal(a, ground_truth_ranks(S, [[int(i)] for i in idx]))
    curve = recall_curve(a, 15)
    np.testing.assert_allclose(curve, [100.0 * (a <= k).mean() for k in range(1, 16)])


def test_plot_recall_curve(tmp_path):
    S = np.random.default_rng(3).normal(size=(10, 10))
    r = retrieval_recall_at_k(S, np.arange(10))
    fig = plot_recall_curve({"random": r}, path=tmp_path / "rk.png")
    assert (tmp_path / "rk.png").stat().st_size > 1000
    xs, ys = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose(ys, recall_curve(r.ranks, int(r.ranks.max())))


def test_errors():
    S = np.zeros((3, 4))
    with pytest.raises(ShapeError, match=re.escape(
        "every query needs a ground truth; query 1 (and 0 more) has none"
    )):
        ground_truth_ranks(S, [[0], [], [2]])
    with pytest.raises(ShapeError, match=re.escape("relevance[2] has gallery index 4 outside [0, 3]")):
        ground_truth_ranks(S, [[0], [1], [4]])
    with pytest.raises(ShapeError, match=re.escape("relevance must have shape (3, 4); got (4, 3)")):
        ground_truth_ranks(S, np.ones((4, 3), bool))
    with pytest.raises(ShapeError, match=re.escape(
        "query_embeddings and gallery_embeddings must be 2-D with the same dim; got "
        "shapes (3, 2) and (4, 5)"
    )):
        evaluate_retrieval(np.ones((3, 2)), np.ones((4, 5)), [0, 1, 2])
    with pytest.raises(ConfigError, match=re.escape("ks must be positive integers; got (0, 5)")):
        retrieval_recall_at_k(S, [0, 1, 2], ks=(0, 5))
    bad = S.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ShapeError, match="similarity contains NaN or inf"):
        ground_truth_ranks(bad, [0, 1, 2])
