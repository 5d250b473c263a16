"""Concept grounding (Bruni et al. JAIR 2014; Kiela & Bottou EMNLP 2014) against
brute force, the papers' fusion formulas and scipy's Spearman."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from polymodal.colearning.grounding import (GroundedWordVectors, read_word_similarity, visual_word_vectors,
                                            word_similarity)
from polymodal.encoders.text import WordVectors
from polymodal.errors import ConfigError, DatasetError, ShapeError


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("aggregate", ["mean", "max"])
def test_visual_vectors_aggregate_the_images_each_word_labels(aggregate):
    rng = np.random.default_rng(0)
    vocab = ["cat", "dog", "red", "big", "fox"]
    captions = [" ".join(rng.choice(vocab, size=3)) + "!" for _ in range(40)]
    features = rng.normal(size=(40, 6))
    wv = visual_word_vectors(captions, features, aggregate=aggregate, min_images=2)
    for word in vocab:
        rows = [i for i, c in enumerate(captions) if word in c.replace("!", "").split()]
        if len(rows) < 2:
            assert word not in wv
            continue
        expected = features[rows].mean(0) if aggregate == "mean" else features[rows].max(0)
        np.testing.assert_allclose(wv[word], expected)


def test_fusion_similarities_are_the_papers_formulas():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(12)]
    text = WordVectors(words + ["only_text"], rng.normal(size=(13, 5)))
    visual = WordVectors(words, rng.normal(size=(12, 7)) * rng.uniform(0.1, 10, size=(12, 1)))
    for alpha in (0.0, 0.3, 0.5, 1.0):
        feat = GroundedWordVectors(text, visual, fusion="feature", alpha=alpha)
        score = GroundedWordVectors(text, visual, fusion="score", alpha=alpha)
        for a, b in [("w0", "w1"), ("w3", "w7"), ("w5", "w5")]:
            t_a, t_b, v_a, v_b = text[a], text[b], visual[a], visual[b]
            m_a = np.concatenate([alpha * t_a / np.linalg.norm(t_a), (1 - alpha) * v_a / np.linalg.norm(v_a)])
            m_b = np.concatenate([alpha * t_b / np.linalg.norm(t_b), (1 - alpha) * v_b / np.linalg.norm(v_b)])
            assert feat.similarity(a, b) == pytest.approx(_cos(m_a, m_b), abs=1e-12)
            assert score.similarity(a, b) == pytest.approx(alpha * _cos(t_a, t_b) + (1 - alpha) * _cos(v_a, v_b),
                                                           abs=1e-12)
        i, j = feat.index_["w0"], feat.index_["w1"]
        M = feat.vectors()
        assert feat.similarity("w0", "w1") == pytest.approx(_cos(M[i], M[j]), abs=1e-12)
        assert feat.similarity("w0", "only_text") is None


def test_full_rank_mixing_is_the_identity_and_low_rank_is_the_truncated_svd():
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(20)]
    text, visual = WordVectors(words, rng.normal(size=(20, 4))), WordVectors(words, rng.normal(size=(20, 3)))
    plain = GroundedWordVectors(text, visual, alpha=0.4)
    full = GroundedWordVectors(text, visual, alpha=0.4, mixing_rank=7)
    np.testing.assert_allclose(full.text_, plain.text_, atol=1e-10)
    np.testing.assert_allclose(full.visual_, plain.visual_, atol=1e-10)
    low = GroundedWordVectors(text, visual, alpha=0.4, mixing_rank=2)
    U, s, Wt = np.linalg.svd(np.hstack([plain.text_, plain.visual_]), full_matrices=False)
    M = (U[:, :2] * s[:2]) @ Wt[:2]
    np.testing.assert_allclose(low.text_, M[:, :4] / np.linalg.norm(M[:, :4], axis=1, keepdims=True), atol=1e-10)


def test_grounding_recovers_similarity_that_text_alone_misses():
    """Concepts have a linguistic and a perceptual half; humans judge both. Text
    vectors see only the first, images only the second: fused vectors must beat each."""
    rng = np.random.default_rng(3)
    n = 60
    ling, perc = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
    words = [f"c{i}" for i in range(n)]
    text = WordVectors(words, ling + 0.3 * rng.normal(size=(n, 8)))
    images = np.repeat(perc, 3, axis=0) + 0.5 * rng.normal(size=(3 * n, 8))
    captions = [f"a c{i}" for i in range(n) for _ in range(3)]
    visual = visual_word_vectors(captions, images, vocabulary=words)
    pairs = []
    for _ in range(300):
        a, b = rng.choice(n, 2, replace=False)
        human = _cos(ling[a], ling[b]) + _cos(perc[a], perc[b])
        pairs.append((words[a], words[b], human))
    rho = {f: word_similarity(GroundedWordVectors(text, visual, fusion=f).similarity, pairs).spearman
           for f in ("text", "visual", "feature", "score")}
    assert rho["feature"] > max(rho["text"], rho["visual"]) + 0.15, rho
    assert rho["score"] > max(rho["text"], rho["visual"]) + 0.15, rho


def test_word_similarity_is_spearman_over_covered_pairs():
    pairs = [("a", "b", 1.0), ("a", "c", 3.0), ("b", "c", 2.0), ("a", "zz", 5.0), ("b", "d", 0.5)]
    sims = {("a", "b"): 0.1, ("a", "c"): 0.2, ("b", "c"): 0.9, ("b", "d"): 0.0}
    result = word_similarity(lambda a, b: sims.get((a, b)), pairs)
    assert (result.n_covered, result.n_pairs) == (4, 5)
    assert result.spearman == pytest.approx(spearmanr([0.1, 0.2, 0.9, 0.0], [1.0, 3.0, 2.0, 0.5]).statistic)
    with pytest.raises(DatasetError, match="only 0 of 5"):
        word_similarity(lambda a, b: None, pairs)


def test_reads_the_word_similarity_sets_gensim_ships(tmp_path):
    datapath = pytest.importorskip("gensim.test.utils").datapath
    ws = read_word_similarity(datapath("wordsim353.tsv"))
    sl = read_word_similarity(datapath("simlex999.txt"))
    assert (len(ws), len(sl)) == (353, 999)
    assert ws[1] == ("tiger", "cat", 7.35) and sl[0] == ("old", "new", 1.58)
    bad = tmp_path / "bad.tsv"
    bad.write_text("# header\ncat\tdog\n")
    with pytest.raises(DatasetError, match="bad.tsv:2"):
        read_word_similarity(bad)


def test_bad_input_is_named():
    wv = WordVectors(["a"], np.ones((1, 2)))
    with pytest.raises(ShapeError, match="one row per caption"):
        visual_word_vectors(["a", "b"], np.ones((3, 2)))
    with pytest.raises(ConfigError, match="aggregate"):
        visual_word_vectors(["a"], np.ones((1, 2)), aggregate="median")
    with pytest.raises(ConfigError, match="alpha"):
        GroundedWordVectors(wv, wv, alpha=1.5)
    with pytest.raises(DatasetError, match="share no word"):
        GroundedWordVectors(wv, WordVectors(["b"], np.ones((1, 2))))


def test_doctests():
    import doctest

    import polymodal.colearning.grounding as module

    assert doctest.testmod(module).failed == 0


def test_colour_hog_features_put_a_flat_colour_in_its_hsv_bin():
    pytest.importorskip("skimage")
    from polymodal.colearning.grounding import colour_hog_features

    images = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    images[0, ..., 0] = 255                      # pure red: h = 0, s = 1, v = 1
    images[1, :, :8] = (0, 0, 255)               # half blue (h = 2/3), half black (s = v = 0)
    feats = colour_hog_features(images)
    colour = feats[:, :128]
    assert colour[0, (0 * 4 + 3) * 4 + 3] == pytest.approx(1.0) and colour[0].sum() == pytest.approx(1.0)
    blue, black = (5 * 4 + 3) * 4 + 3, 0
    np.testing.assert_allclose(colour[1, [blue, black]], [np.sqrt(0.5), np.sqrt(0.5)])
    assert np.linalg.norm(feats[0, 128:]) == pytest.approx(0.0) and np.linalg.norm(feats[1, 128:]) == pytest.approx(1.0)
    with pytest.raises(ShapeError, match="uint8 RGB"):
        colour_hog_features(images[..., 0])
