"""GCTW (DTW-based variant) on three warped, linearly mapped copies of a latent curve."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.alignment import GCTW, dtw
from polymodal.errors import ShapeError


def _three(seed, n_lat=100, lens=(90, 110, 100), dims=(2, 4, 5), noise=0.05):
    """Sequences i show latent time w_i[j] at frame j, mapped to dims[i] dimensions."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_lat)
    lat = np.stack([np.sin(3 * np.pi * t), t * np.cos(2 * np.pi * t)], axis=1)
    seqs, warps = [], []
    for m, d in zip(lens, dims):
        s = np.convolve(rng.normal(size=m + 20), np.ones(20) / 20, "valid")[:m]
        w = np.cumsum(np.exp(s / s.std()))
        w = (w - w[0]) / (w[-1] - w[0]) * (n_lat - 1)
        latw = np.stack([np.interp(w, np.arange(n_lat), lat[:, c]) for c in range(2)], axis=1)
        A = np.eye(2) if d == 2 else rng.normal(size=(2, d))
        seqs.append(latw @ A + noise * rng.normal(size=(m, d)))
        warps.append(w)
    return seqs, warps


def _err(path, wa, wb):
    j_true = np.interp(wa, wb, np.arange(len(wb)))
    mean_j = np.bincount(path[:, 0], weights=path[:, 1]) / np.bincount(path[:, 0])
    return float(np.abs(mean_j - j_true).mean())


def _pad(x, d=5):
    return np.hstack([x, np.zeros((len(x), d - x.shape[1]))])


def test_gctw_beats_pairwise_raw_dtw_and_paths_are_valid():
    """Measured mean pairwise errors over seeds 0-3: GCTW 2.0 frames, DTW on
    raw zero-padded features 19.5."""
    errs = []
    for seed in range(4):
        seqs, ws = _three(seed)
        g = GCTW().fit(seqs)
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            p = g.pairwise_path(a, b)
            assert tuple(p[0]) == (0, 0) and tuple(p[-1]) == (len(seqs[a]) - 1, len(seqs[b]) - 1)
            steps = np.diff(p, axis=0)
            assert (steps >= 0).all() and (steps.max(axis=1) == 1).all()
            raw = dtw(_pad(seqs[a]), _pad(seqs[b]), return_path=True).path
            errs.append((_err(p, ws[a], ws[b]), _err(raw, ws[a], ws[b])))
    errs = np.array(errs)
    assert errs[:, 0].mean() < 0.25 * errs[:, 1].mean(), errs


def test_uniform_start_objective_decreases():
    seqs, _ = _three(2)
    g = GCTW(init="uniform").fit(seqs)
    h = g.objective_history_
    best = int(np.argmin(h))
    assert best >= 3
    assert all(b < a for a, b in zip(h[:best], h[1:best + 1]))
    P = g.transform(seqs)  # the reported objective is J of warps_ against latent_
    assert float(sum(((p[w] - g.latent_) ** 2).sum() for p, w in zip(P, g.warps_))) == pytest.approx(min(h))


def test_identical_sequences_align_on_the_diagonal():
    x = _three(0)[0][1]
    g = GCTW().fit([x, x, x])
    np.testing.assert_array_equal(g.pairwise_path(0, 2), np.stack([np.arange(len(x))] * 2, axis=1))


def test_bad_input():
    x = np.zeros((10, 2))
    with pytest.raises(ShapeError, match=r"^sequences must be a list of at least 2 sequences"):
        GCTW().fit([x])
    with pytest.raises(ShapeError, match=r"^latent_length must be >= 2 and >= \(longest length \+ 1\) / 2 = 5, got 4$"):
        GCTW(latent_length=4).fit([x, x])
