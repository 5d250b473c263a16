"""BLEU / ROUGE-L / CIDEr-D against pycocoevalcap's own scorers (pure Python, no Java needed)."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from polymodal.errors import ConfigError, DatasetError
from polymodal.metrics.captioning import (
    SpiceUnavailableError, encode_corpus, score_captions,
)
from polymodal.metrics.captioning.rouge import lcs_lengths

bleu_mod = pytest.importorskip("pycocoevalcap.bleu.bleu")
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "captioning" / "coco_scores.json"
NO_METEOR = ("bleu", "rouge_l", "cider_d")


def coco(gts, res):
    """pycocoevalcap's scorers on already tokenised {id: [captions]} dicts."""
    b, bl = bleu_mod.Bleu(4).compute_score(gts, res, verbose=0)
    r, rl = Rouge().compute_score(gts, res)
    c, cl = Cider().compute_score(gts, res)
    return b, r, c, bl, rl, cl


def ours(gts, res):
    return score_captions({k: v[0] for k, v in res.items()}, gts, metrics=NO_METEOR, tokenize=False)


def assert_same(gts, res, tol=1e-9):
    b, r, c, bl, rl, cl = coco(gts, res)
    s = ours(gts, res)
    np.testing.assert_allclose([s.bleu_1, s.bleu_2, s.bleu_3, s.bleu_4], b, rtol=0, atol=tol)
    assert abs(s.rouge_l - r) <= tol and abs(s.cider_d - c) <= tol
    for k in range(4):
        np.testing.assert_allclose(s.per_image[f"bleu_{k + 1}"], bl[k], rtol=0, atol=tol)
    np.testing.assert_allclose(s.per_image["rouge_l"], rl, rtol=0, atol=tol)
    np.testing.assert_allclose(s.per_image["cider_d"], cl, rtol=0, atol=tol)


def test_fixture_exact_from_tokenized_text():
    f = json.loads(FIXTURE.read_text())
    s = score_captions(f["tokenized_candidates"], f["tokenized_references"], metrics=NO_METEOR, tokenize=False)
    exp = f["scores"]
    np.testing.assert_allclose([s.bleu_1, s.bleu_2, s.bleu_3, s.bleu_4], exp["bleu"], rtol=0, atol=1e-6)
    assert abs(s.rouge_l - exp["rouge_l"]) < 1e-6 and abs(s.cider_d - exp["cider_d"]) < 1e-6
    np.testing.assert_allclose(s.per_image["cider_d"], f["per_image"]["cider_d"], atol=1e-6)
    np.testing.assert_allclose(s.per_image["rouge_l"], f["per_image"]["rouge_l"], atol=1e-6)
    assert len(s.ids) == 200 and all(len(v) == 5 for v in f["references"].values())


def test_fixture_exact_from_raw_text():
    """Our tokenizer + metrics on the raw captions give pycocoevalcap's (jar-tokenised) numbers."""
    f = json.loads(FIXTURE.read_text())
    s = score_captions(f["candidates"], f["references"], metrics=NO_METEOR)
    exp = f["scores"]
    np.testing.assert_allclose([s.bleu_1, s.bleu_2, s.bleu_3, s.bleu_4], exp["bleu"], rtol=0, atol=1e-6)
    assert abs(s.rouge_l - exp["rouge_l"]) < 1e-6 and abs(s.cider_d - exp["cider_d"]) < 1e-6


def test_random_corpora_vs_pycocoevalcap():
    rng = random.Random(7)
    words = "a the dog cat man on in red sits".split()

    def sent(lo=1, hi=12):
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

    for _ in range(5):
        n = rng.randint(1, 30)
        gts = {i: [sent() for _ in range(rng.randint(1, 6))] for i in range(n)}
        res = {i: [sent()] for i in range(n)}
        assert_same(gts, res)


def test_candidate_shorter_than_n():
    # no 3-grams / 4-grams at all: pycocoevalcap's 1e-15 smoothing gives a small non-zero BLEU-4
    gts = {1: ["a dog runs fast", "the dog runs"], 2: ["a cat sleeps", "one cat"]}
    res = {1: ["dog"], 2: ["a cat"]}
    assert_same(gts, res)
    s = ours(gts, res)
    assert 0 < s.bleu_4 < 1e-2


def test_brevity_penalty_tie_goes_to_shorter_reference():
    # candidate length 4, references of length 3 and 5: both at distance 1, the shorter (3) is used
    gts = {1: ["a b c", "a b c d e"]}
    res = {1: ["a b x y"]}
    assert_same(gts, res)
    s = ours(gts, res)
    assert s.bleu_1 == pytest.approx(2 / 4, abs=1e-9)  # reference length 3: ratio 4/3 > 1, no penalty
    res2 = {1: ["a b"]}  # length 2, references 3 and 5: closest 3, BP = exp(1 - 3/2)
    assert_same(gts, res2)
    assert ours(gts, res2).bleu_1 == pytest.approx(np.exp(1 - 3 / 2), abs=1e-9)


def test_repeated_ngrams_are_clipped():
    gts = {1: ["the cat is on the mat", "there is a cat on the mat"]}
    res = {1: ["the the the the the the the"]}
    assert_same(gts, res)
    assert ours(gts, res).bleu_1 == pytest.approx(2 / 7, abs=1e-9)  # "the" clipped to 2


def test_rouge_best_precision_and_recall_taken_separately():
    gts = {1: ["a b", "a b c d e f g h"]}
    res = {1: ["a b c"]}
    assert_same(gts, res)
    # P = max(2/3, 3/3) = 1 from the long reference, R = max(2/2, 3/8) = 1 from the short one
    s = ours(gts, res)
    assert s.rouge_l == pytest.approx(1.0, abs=1e-12)


def test_empty_candidate_scored_like_pycocoevalcap():
    gts = {1: ["a dog runs", "the dog"], 2: ["a cat sleeps on the bed"]}
    res = {1: [""], 2: ["a cat sleeps"]}
    assert_same(gts, res)
    s = score_captions({1: "", 2: "A cat sleeps."}, gts, metrics=NO_METEOR)
    assert s.per_image["rouge_l"][0] == 0 and s.per_image["cider_d"][0] == 0
    assert_same({1: ["", "a b"], 2: ["c"]}, {1: [""], 2: ["c"]})  # empty vs empty: pycocoevalcap's LCS is 1
    # punctuation-only becomes empty after tokenisation
    s2 = score_captions({1: "...", 2: "A cat sleeps."}, gts, metrics=NO_METEOR)
    assert s2.as_dict() == s.as_dict()


def test_cider_single_word_lengths_and_idf():
    gts = {i: [f"w{i} x", "x y z", f"w{i}"] for i in range(4)}
    res = {0: ["w0"], 1: ["x"], 2: ["w2 x y z"], 3: ["q"]}
    assert_same(gts, res)


def test_lcs_bit_parallel_long_references_vs_dynamic_programming():
    rng = np.random.default_rng(0)
    cands = [list(rng.integers(0, 5, rng.integers(1, 90)).astype(str)) for _ in range(20)]
    refs = [[list(rng.integers(0, 5, rng.integers(1, 150)).astype(str)) for _ in range(3)] for _ in range(20)]
    corpus = encode_corpus(cands, refs)
    pc = np.repeat(np.arange(20), 3)
    got = lcs_lengths(corpus, pc, np.arange(60))

    def dp(a, b):
        t = np.zeros((len(a) + 1, len(b) + 1), int)
        for i in range(len(a)):
            for j in range(len(b)):
                t[i + 1, j + 1] = t[i, j] + 1 if a[i] == b[j] else max(t[i, j + 1], t[i + 1, j])
        return t[-1, -1]

    expected = [dp(cands[c], refs[c][k]) for c in range(20) for k in range(3)]
    np.testing.assert_array_equal(got, expected)


def test_bleu_equals_sacrebleu_on_tokenized_text():
    sacrebleu = pytest.importorskip("sacrebleu")
    f = json.loads(FIXTURE.read_text())
    ids = list(f["tokenized_candidates"])
    hyps = [f["tokenized_candidates"][i] for i in ids]
    refs = [[f["tokenized_references"][i][k] for i in ids] for k in range(5)]
    sb = sacrebleu.corpus_bleu(hyps, refs, tokenize="none", force=True)
    s = score_captions(f["tokenized_candidates"], f["tokenized_references"], metrics=("bleu",), tokenize=False)
    assert s.bleu_4 * 100 == pytest.approx(sb.score, abs=1e-6)


# ---------------------------------------------------------------- bad input
REFS = {1: ["a dog"], 2: ["a cat"]}


def test_id_in_candidates_not_in_references():
    with pytest.raises(DatasetError, match=r"^1 candidate id\(s\) have no references, e.g. \[3\]: every id in "
                                           r"candidates must be in references$"):
        score_captions({1: "a", 2: "b", 3: "c"}, REFS, metrics=NO_METEOR)


def test_id_in_references_not_in_candidates():
    with pytest.raises(DatasetError, match=r"^1 reference id\(s\) have no candidate, e.g. \[2\]: every id in "
                                           r"references must be in candidates"):
        score_captions({1: "a"}, REFS, metrics=NO_METEOR)


def test_non_string_caption():
    with pytest.raises(DatasetError, match=r"^candidates\[2\] must be a str, got int: 5$"):
        score_captions({1: "a", 2: 5}, REFS, metrics=NO_METEOR)
    with pytest.raises(DatasetError, match=r"^references\[1\]\[0\] must be a str, got NoneType: None$"):
        score_captions({1: "a", 2: "b"}, {1: [None], 2: ["x"]}, metrics=NO_METEOR)
    with pytest.raises(DatasetError, match=r"^references\[1\] must be a list of str, got str$"):
        score_captions({1: "a", 2: "b"}, {1: "a dog", 2: ["x"]}, metrics=NO_METEOR)


def test_empty_inputs_and_unknown_metric():
    with pytest.raises(DatasetError, match=r"^candidates is empty"):
        score_captions({}, {}, metrics=NO_METEOR)
    with pytest.raises(DatasetError, match=r"^references\[1\] is empty"):
        score_captions({1: "a"}, {1: []}, metrics=NO_METEOR)
    with pytest.raises(ConfigError, match=r"^metrics: unknown metric\(s\) \['bleu4'\]"):
        score_captions({1: "a"}, {1: ["a"]}, metrics=("bleu4",))


def test_spice_explains_it_cannot_run_offline():
    with pytest.raises(SpiceUnavailableError, match=r"Stanford CoreNLP 3\.6\.0.*cannot run offline"):
        score_captions({1: "a"}, {1: ["a"]}, metrics=("bleu", "spice"))


def test_hypothesis_corpora_vs_pycocoevalcap():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sentence = st.lists(st.sampled_from("a b c d e".split()), min_size=0, max_size=8).map(" ".join)
    image = st.tuples(sentence, st.lists(sentence, min_size=1, max_size=4))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(image, min_size=1, max_size=6))
    def check(images):
        gts = {i: refs for i, (_, refs) in enumerate(images)}
        res = {i: [c] for i, (c, _) in enumerate(images)}
        if not any(r for refs in gts.values() for r in refs):
            return  # pycocoevalcap's CIDEr fails when every reference is empty
        assert_same(gts, res)

    check()
