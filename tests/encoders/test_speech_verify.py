"""DTW keyword verification: cepstra of the word's frames, distances against an independent DTW, the
verification mechanism (a word that is the keyword only in part matches worse than the keyword at another
speed), content caching and errors. (scikit-learn's estimator checks run in tests/test_estimator_contract.py.)"""

import numpy as np
import pytest
from scipy.fft import dct
from sklearn.exceptions import NotFittedError

from polymodal.encoders.speech_verify import TemplateVerifier, word_cepstra
from polymodal.errors import ConfigError, ShapeError

N_MELS = 40


def _dtw_symmetric2(x, y):
    """Textbook DTW (Sakoe & Chiba 1978, symmetric2: diagonal steps weigh 2, the first cell once, as
    dtw-python's ``symmetric2``), squared Euclidean cost."""
    n, m = len(x), len(y)
    c = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    g = np.full((n + 1, m + 1), np.inf)
    g[0, 0] = -c[0, 0]  # so that the first cell, entered diagonally, counts once
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            g[i, j] = min(g[i - 1, j] + c[i - 1, j - 1], g[i, j - 1] + c[i - 1, j - 1],
                          g[i - 1, j - 1] + 2 * c[i - 1, j - 1])
    return g[n, m]


def _word(segments, frames_each, lead=10, tail=10, rng=None):
    """A log-mel image (N_MELS, T): quiet lead-in and tail, then one spectral shape per segment."""
    cols = [np.full((N_MELS, lead), 0.05)]
    for shape, t in zip(segments, frames_each):
        col = shape[:, None] + np.zeros((1, t))
        if rng is not None:
            col = col + rng.normal(0, 0.01, col.shape)
        cols.append(col)
    cols.append(np.full((N_MELS, tail), 0.05))
    return np.concatenate(cols, axis=1)


def _pad(images, width):
    return np.stack([np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=0.05) for m in images])


@pytest.fixture(scope="module")
def shapes():
    rng = np.random.default_rng(0)
    return [0.6 + 0.4 * rng.random(N_MELS) for _ in range(5)]  # loud spectral shapes A..E


def test_word_cepstra_keeps_the_word_and_matches_the_dct(shapes):
    image = _word(shapes[:2], (7, 9), lead=12, tail=20)
    (c,) = word_cepstra(image[None])
    assert c.shape == (16, 19)  # the 16 loud frames only, coefficients 1..19
    word = image[:, 12:28]
    expected = dct(word, type=2, norm="ortho", axis=0)[1:20]
    expected = (expected - expected.mean(1, keepdims=True)) / (expected.std(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(c, expected.T, atol=1e-12)
    np.testing.assert_allclose(c.mean(0), 0.0, atol=1e-12)


def test_distances_match_an_independent_dtw(shapes):
    rng = np.random.default_rng(1)
    images = _pad([_word([shapes[i % 5], shapes[(i + 2) % 5]], rng.integers(3, 9, 2), rng=rng)
                   for i in range(7)], 40)
    labels = np.array([0, 1, 0, 1, 0, 1, 1])
    verifier = TemplateVerifier(k=2, n_jobs=1).fit(images[:5], labels[:5])
    got = verifier.transform(images[5:])
    ceps_q, ceps_t = word_cepstra(images[5:]), word_cepstra(images[:5])
    for i, q in enumerate(ceps_q):
        cost = np.array([_dtw_symmetric2(q, t) / (len(q) + len(t)) for t in ceps_t])
        for c in (0, 1):
            np.testing.assert_allclose(got[i, c], np.sort(cost[labels[:5] == c])[:2].mean(), rtol=1e-9)
    np.testing.assert_allclose(verifier.distance_to(images[5:], np.array([1, 0])), got[[0, 1], [1, 0]])


def test_a_partial_keyword_matches_worse_than_the_keyword_at_another_speed(shapes):
    """The defining mechanism: "ni" against "nine". Templates of class 0 are A-B-C at several speeds, of
    class 1 D-E. The whole keyword at a new speed matches class 0 closely; its first two thirds (A-B), which a
    classifier keyed on A and B would call class 0 as surely, match class 0 far worse."""
    rng = np.random.default_rng(2)
    a, b, c, d, e = shapes
    templates = [_word([a, b, c], (6 * s, 5 * s, 6 * s), rng=rng) for s in (1, 2, 3)] + \
                [_word([d, e], (8 * s, 8 * s), rng=rng) for s in (1, 2, 3)]
    verifier = TemplateVerifier(k=1).fit(_pad(templates, 80), [0, 0, 0, 1, 1, 1])
    queries = _pad([_word([a, b, c], (9, 8, 9), rng=rng), _word([a, b], (9, 8), rng=rng)], 80)
    whole, partial = verifier.distance_to(queries, np.array([0, 0]))
    assert whole < 0.1 * partial
    assert partial > 0.5


def test_identical_queries_are_aligned_once(shapes):
    images = _pad([_word(shapes[:2], (5, 6)), _word(shapes[2:4], (6, 5))], 40)
    verifier = TemplateVerifier(k=1).fit(images, [3, 7])
    repeated = images[[1, 0, 1, 1]]
    np.testing.assert_array_equal(verifier.transform(repeated), verifier.transform(images)[[1, 0, 1, 1]])
    assert verifier.transform(images[:1])[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert verifier.distance_to(images, np.array([7, 3])).min() > 0.0


def test_errors(shapes):
    images = _pad([_word(shapes[:2], (5, 6)), _word(shapes[2:4], (6, 5))], 40)
    with pytest.raises(ConfigError, match="k must"):
        TemplateVerifier(k=0).fit(images, [3, 7])
    with pytest.raises(ConfigError, match="class 3 has 1 templates, fewer than k=2"):
        TemplateVerifier(k=2).fit(images, [3, 7])
    with pytest.raises(ShapeError, match="labels must be"):
        TemplateVerifier(k=1).fit(images, [3])
    with pytest.raises(NotFittedError):
        TemplateVerifier().transform(images)
    verifier = TemplateVerifier(k=1).fit(images, [3, 7])
    with pytest.raises(ShapeError, match=r"\(N, 40, T\)"):
        verifier.transform(images[:, :20])
    with pytest.raises(ShapeError, match="classes among"):
        verifier.distance_to(images, np.array([3, 5]))
    bad = images[[0, 0, 1]].copy()
    bad[2, 3, 4] = np.nan
    with pytest.raises(ShapeError, match="image 2 holds NaN"):  # the caller's index, not the merged one
        verifier.transform(bad)
    with pytest.raises(ConfigError, match="n_ceps"):
        word_cepstra(images, n_ceps=41)
    with pytest.raises(ShapeError, match="log-mel images"):
        word_cepstra(images[0])


def test_frame_step_averages_runs_of_frames(shapes):
    image = _word(shapes[:3], (4, 5, 4), lead=3, tail=3)
    (full,) = word_cepstra(image[None])
    (half,) = word_cepstra(image[None], frame_step=2)
    np.testing.assert_allclose(half, full[:12].reshape(6, 2, -1).mean(1))  # 13 frames: the last one dropped
    (one,) = word_cepstra(_word(shapes[:1], (1,))[None], frame_step=3)  # a one-frame word keeps its frame
    np.testing.assert_allclose(one, word_cepstra(_word(shapes[:1], (1,))[None])[0])
    with pytest.raises(ConfigError, match="frame_step"):
        word_cepstra(image[None], frame_step=0)


def test_groups_leave_out_the_querys_own_group(shapes):
    rng = np.random.default_rng(3)
    images = _pad([_word(shapes[:2], (5 + i, 6), rng=rng) for i in range(4)]
                  + [_word(shapes[2:4], (6, 5 + i), rng=rng) for i in range(4)], 40)
    labels, groups = np.repeat([0, 1], 4), np.tile([0, 1, 2, 3], 2)
    verifier = TemplateVerifier(k=1).fit(images, labels, groups=groups)
    plain = verifier.transform(images)
    assert np.allclose(plain[np.arange(8), labels], 0.0)  # each image is its own nearest template
    held = verifier.transform(images, groups=groups)
    cost = TemplateVerifier(k=1).fit(images, np.arange(8)).transform(images)  # every pair's cost
    cost[groups[:, None] == groups[None, :]] = np.inf
    for c in (0, 1):
        np.testing.assert_allclose(held[:, c], cost[:, labels == c].min(1))
    assert (held[np.arange(8), labels] > 0.01).all()
    with pytest.raises(ConfigError, match="fitted with groups"):
        TemplateVerifier(k=1).fit(images, labels).transform(images, groups=groups)
    with pytest.raises(ShapeError, match="groups must be"):
        verifier.transform(images, groups=groups[:3])
    with pytest.raises(ShapeError, match="groups must be"):
        TemplateVerifier(k=1).fit(images, labels, groups=groups[:3])


def test_a_scikit_learn_transformer_on_images(shapes):
    """What the estimator checks cannot test on 2-D tables, on images: clone, pickle, idempotent fit,
    fit_transform, and no change of the caller's arrays."""
    import pickle

    from sklearn.base import clone

    rng = np.random.default_rng(4)
    images = _pad([_word([shapes[i % 5], shapes[(i + 1) % 5]], (5, 6), rng=rng) for i in range(6)], 40)
    labels = np.array([0, 1, 2, 0, 1, 2])
    before = images.copy()
    verifier = TemplateVerifier(k=2, frame_step=2)
    assert clone(verifier).get_params() == verifier.get_params()
    out = verifier.fit(images, labels).transform(images)
    np.testing.assert_array_equal(images, before)
    np.testing.assert_array_equal(verifier.fit(images, labels).transform(images), out)
    np.testing.assert_array_equal(clone(verifier).fit_transform(images, labels), out)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(verifier)).transform(images), out)
    assert out.shape == (6, 3) and verifier.classes_.tolist() == [0, 1, 2]
