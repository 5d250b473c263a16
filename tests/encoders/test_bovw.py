"""BagOfVisualWords.fit_transform extracts SIFT once per image and equals fit(X).transform(X)."""

import numpy as np
from scipy.ndimage import gaussian_filter

import polymodal.encoders.bovw as bovw


def test_fit_transform_runs_sift_once_per_image_and_equals_fit_then_transform(monkeypatch):
    X = gaussian_filter(np.random.default_rng(0).random((6, 40, 40)), (0, 1, 1))
    reference = bovw.BagOfVisualWords(n_words=5, input_range=1.0).fit(X).transform(X)
    calls = []
    real = bovw.sift
    monkeypatch.setattr(bovw, "sift", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = bovw.BagOfVisualWords(n_words=5, input_range=1.0)
    H = model.fit_transform(X)
    assert len(calls) == len(X)  # was 2 per image: fit, then transform
    np.testing.assert_array_equal(H, reference)
    np.testing.assert_array_equal(model.transform(X), reference)
    np.testing.assert_allclose(H.sum(1), 1.0)
