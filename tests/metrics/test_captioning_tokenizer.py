"""PTB tokenisation: our pure-Python tokenizer vs pycocoevalcap's PTBTokenizer (Stanford jar) output."""

import json
from pathlib import Path

import numpy as np

from polymodal.metrics.captioning import ptb_tokenize

FIXTURE = Path(__file__).parents[1] / "fixtures" / "captioning" / "ptb_tokenizer.json"



def test_matches_jar_on_fixture():
    # the four former known differences ('tis, (--), SGML with spaces) now match too (issue 14)
    data = json.loads(FIXTURE.read_text())
    ours = ptb_tokenize(data["sentences"])
    wrong = [(s, o, e) for s, o, e in zip(data["sentences"], ours, data["tokenized"]) if o != e]
    assert len(data["sentences"]) > 2000 and wrong == []


def test_single_string_and_examples():
    assert ptb_tokenize("A man's dog doesn't like (wet) cats.") == "a man 's dog does n't like -lrb- wet -rrb- cats"
    assert ptb_tokenize("Two dogs, playing... in the SNOW!") == "two dogs playing in the snow"
    assert ptb_tokenize(["I can't.", "It's 3.5 miles."]) == ["i ca n't", "it 's 3.5 miles"]


def test_line_end_abbreviation_depends_on_next_line():
    # the jar splits the period off "etc." when the next line starts with a capital
    assert ptb_tokenize(["a dog etc.", "The cat"]) == ["a dog etc.", "the cat"]
    assert ptb_tokenize(["a dog etc.", "the cat"]) == ["a dog etc.", "the cat"]
    assert ptb_tokenize(["the u.s. The dog"]) == ["the u.s. the dog"]


def test_empty_and_punctuation_only():
    assert ptb_tokenize(["", "...", "a"]) == ["", "", "a"]


# --- Issue 14: an adversarial corpus against the Stanford jar itself --------------------------------

import importlib.util  # noqa: E402

import pytest  # noqa: E402

from polymodal.metrics.captioning import score_captions  # noqa: E402

ADVERSARIAL = Path(__file__).parents[1] / "fixtures" / "captioning" / "ptb_adversarial.json"
_SCRIPT = Path(__file__).parents[2] / "scripts" / "make_ptb_adversarial_fixture.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_ptb_adversarial_fixture", _SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _assert_token_for_token(sentences, ours, jar):
    for s, o, r in zip(sentences, ours, jar):
        # the pycocoevalcap string, its ROUGE-L tokens (split(" ")) and its BLEU/CIDEr tokens (split())
        assert (o, o.split(" "), o.split()) == (r, r.split(" "), r.split()), s


def test_matches_jar_on_adversarial_fixture():
    data = json.loads(ADVERSARIAL.read_text())
    assert len(data["sentences"]) == 400
    _assert_token_for_token(data["sentences"], ptb_tokenize(data["sentences"]), data["tokenized"])


def test_nbsp_tokens_are_split_like_pycocoevalcap_bleu():
    # the jar prints "1 1/2" as one token "1\u00a01/2"; pycocoevalcap's BLEU/CIDEr split it with str.split()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    cand, refs = "a 1 1/2 inch nail", ["a 1 inch nail", "a nail of 1 1/2 inch", "one and a half inch nail"]
    assert ptb_tokenize(cand) == "a 1\u00a01/2 inch nail"  # the jar's output (ptb_adversarial.json[0])
    gts, res = {1: ptb_tokenize(refs)}, {1: [ptb_tokenize(cand)]}
    ours = score_captions({1: cand}, {1: refs}, metrics=("bleu", "rouge_l"))
    bleu = Bleu(4).compute_score(gts, res, verbose=0)[0]
    assert ours.bleu_1 == pytest.approx(bleu[0], abs=1e-12) and ours.bleu_2 == pytest.approx(bleu[1], abs=1e-12)
    assert ours.rouge_l == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-12)
    two = {1: cand, 2: "a nail"}, {1: refs, 2: ["a long nail", "a 1\u00a01/2 inch nail"]}
    gts2 = {1: ptb_tokenize(refs), 2: ptb_tokenize(two[1][2])}
    res2 = {1: [ptb_tokenize(cand)], 2: [ptb_tokenize("a nail")]}
    assert score_captions(*two, metrics=("cider_d",)).cider_d == pytest.approx(
        Cider().compute_score(gts2, res2)[0], abs=1e-12)


_java = pytest.mark.skipif(
    importlib.util.find_spec("pycocoevalcap") is None or not _script().java_available(),
    reason="needs `java` on PATH and pycocoevalcap's stanford-corenlp-3.4.1.jar",
)


@_java
def test_matches_jar_on_adversarial_corpus():
    mk = _script()
    corpus = mk.adversarial_corpus(3000, seed=2026)
    jar = mk.run_ptb_jar(corpus)  # one JVM call, all sentences as one text (as pycocoevalcap)
    _assert_token_for_token(corpus, ptb_tokenize(corpus), jar)


@_java
def test_score_captions_equals_pycocoevalcap_on_adversarial_corpus():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    mk = _script()
    corpus = mk.adversarial_corpus(1500, seed=14)
    refs = {i: corpus[5 * i + 1: 5 * i + 5] for i in range(300)}
    cands = {i: corpus[5 * i] for i in range(300)}
    # as pycocoevalcap: the references in one jar call, the candidates in another
    flat = mk.run_ptb_jar([r for i in refs for r in refs[i]])
    gts = {i: flat[4 * i: 4 * i + 4] for i in refs}
    res = {i: [t] for i, t in zip(cands, mk.run_ptb_jar([cands[i] for i in cands]))}
    ours = score_captions(cands, refs, metrics=("bleu", "rouge_l", "cider_d"))
    bleu = Bleu(4).compute_score(gts, res, verbose=0)[0]
    np.testing.assert_allclose([ours.bleu_1, ours.bleu_2, ours.bleu_3, ours.bleu_4], bleu, rtol=0, atol=1e-12)
    assert ours.rouge_l == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-12)
    assert ours.cider_d == pytest.approx(Cider().compute_score(gts, res)[0], abs=1e-12)
