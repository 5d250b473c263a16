"""Alignment pictures draw exactly the data they are given."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.alignment import dtw, plot_aligned, plot_attention, plot_cost_matrix
from polymodal.errors import ShapeError


def test_cost_matrix_picture_shows_the_matrix_and_the_path(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(9, 2))
    r = dtw(x, y, window=("sakoe_chiba", 4), return_path=True, return_cost_matrix=True)
    fig = plot_cost_matrix(r.cost_matrix, r.path)
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array().filled(np.nan))
    expected = np.where(np.isfinite(r.cost_matrix), r.cost_matrix, np.nan)
    np.testing.assert_array_equal(shown, expected)  # inf outside the window -> blank
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), r.path[:, 1])
    np.testing.assert_array_equal(line.get_ydata(), r.path[:, 0])
    fig.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_aligned_picture_joins_every_aligned_pair():
    x, y = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 0.0])
    path = dtw(x, y, return_path=True).path
    fig = plot_aligned(x, y, path, offset=2.0)
    links = fig.axes[0].lines[2:]
    assert len(links) == len(path)
    for (i, j), ln in zip(path, links):
        assert ln.get_xdata().tolist() == [i, j]
        assert ln.get_ydata().tolist() == [x[i] + 2.0, y[j]]


def test_attention_picture_and_bad_input():
    W = np.random.default_rng(1).dirichlet(np.ones(5), size=4)
    fig = plot_attention(W, query_labels="abcd", key_labels=list("vwxyz"))
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), W)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("vwxyz")
    with pytest.raises(ShapeError, match=r"^weights must have shape \(n_queries, n_keys\), got \(5,\)$"):
        plot_attention(np.ones(5))
    with pytest.raises(ShapeError, match=r"^path indices must lie in \[0, 3\) x \[0, 4\)"):
        plot_aligned(np.zeros(3), np.zeros(4), [[0, 0], [3, 3]])
