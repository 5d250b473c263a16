"""Deep CTW on a nonlinearly mapped, warped copy (vs CTW and raw DTW)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.alignment import CTW, DeepCTW, dtw
from polymodal.errors import ConfigError


def _pair(seed, n=90, m=110):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    lat = np.stack([np.sin(3 * np.pi * t), t * np.cos(2 * np.pi * t)], axis=1)
    s = np.convolve(rng.normal(size=m + 20), np.ones(20) / 20, "valid")[:m]
    w = np.cumsum(np.exp(2.0 * s / s.std()))
    w = (w - w[0]) / (w[-1] - w[0]) * (n - 1)
    latw = np.stack([np.interp(w, np.arange(n), lat[:, c]) for c in range(2)], axis=1)
    y = latw @ rng.normal(size=(2, 5)) + 0.05 * rng.normal(size=(m, 5))
    y = np.tanh(1.5 * y) + 0.3 * y**2  # a nonlinear view of the latent curve
    x = lat + 0.05 * rng.normal(size=(n, 2))
    return x, y, np.interp(np.arange(n), w, np.arange(m))


def _err(path, j_true):
    mean_j = np.bincount(path[:, 0], weights=path[:, 1]) / np.bincount(path[:, 0])
    return float(np.abs(mean_j - j_true).mean())




def test_deep_ctw_matches_or_beats_ctw_and_beats_raw_dtw():
    """Measured over seeds 0-3: deep CTW 8.4 frames, CTW 9.0, raw DTW 25.7."""
    errs = []
    for seed in range(4):
        x, y, j = _pair(seed)
        raw = dtw(np.hstack([x, np.zeros((len(x), 3))]), y, return_path=True).path
        errs.append((_err(DeepCTW().fit(x, y).path_, j), _err(CTW().fit(x, y).path_, j), _err(raw, j)))
    errs = np.array(errs).mean(axis=0)
    assert errs[0] <= 1.05 * errs[1] and errs[0] < 0.5 * errs[2], errs


def test_identical_sequences_and_custom_encoders():
    x, _, _ = _pair(0)
    m = DeepCTW(max_iter=2, epochs=20).fit(x, x)
    np.testing.assert_array_equal(m.path_, np.stack([np.arange(len(x))] * 2, axis=1))
    torch.manual_seed(0)
    enc = (torch.nn.Linear(2, 2).double(), torch.nn.Linear(2, 2).double())
    m = DeepCTW(encoders=enc, max_iter=1, epochs=5).fit(x, x)
    assert m.encoders_[0] is enc[0]
    # two linear maps of the same data: the aligned outputs are perfectly correlated
    assert (m.cca_.canonical_correlations_ > 0.99).all()
    px, py = m.transform(x, x)
    for c in range(2):
        assert abs(np.corrcoef(px[:, c], py[:, c])[0, 1]) > 0.999


def test_bad_config():
    with pytest.raises(ConfigError, match=r"^init must be 'ctw' or 'uniform', got 'pca'$"):
        DeepCTW(init="pca").fit(np.zeros((5, 2)), np.zeros((5, 2)))
