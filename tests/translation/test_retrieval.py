"""Example-based translation: neighbours vs brute force, consensus vs hand-computed similarities, known toy."""

import math
from collections import Counter

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import NearestNeighbors

from polymodal.errors import ConfigError, ShapeError
from polymodal.translation import RetrievalCaptioner, consensus_scores


def _bleu1(c, refs):
    c = c.split()
    refs = [r.split() for r in refs]
    maxref = Counter()
    for r in refs:
        for w, n in Counter(r).items():
            maxref[w] = max(maxref[w], n)
    match = sum(min(n, maxref[w]) for w, n in Counter(c).items())
    closest = min((abs(len(r) - len(c)), len(r)) for r in refs)[1]
    bp = 1.0 if len(c) >= closest else math.exp(1 - closest / len(c))
    return bp * match / len(c)


def test_consensus_bleu1_matches_hand_computation():
    groups = [["a red car", "a red car on a road", "a blue boat on a lake", "the red car"],
              ["one dog", "two dogs playing"]]
    scores = consensus_scores(groups, "bleu_1")
    for g, s in zip(groups, scores):
        for j, c in enumerate(g):
            assert s[j] == pytest.approx(_bleu1(c, [r for i, r in enumerate(g) if i != j]), abs=1e-6)
    assert consensus_scores([["alone"]], "cider_d")[0].tolist() == [0.0]


def test_consensus_prefers_the_caption_the_others_agree_with():
    group = ["a dog runs on the grass", "a dog runs in the park", "a brown dog runs", "a cat sleeps on a sofa"]
    for metric in ("cider_d", "bleu_2", "rouge_l"):
        s = consensus_scores([group], metric)[0]
        assert int(np.argmax(s)) in (0, 1, 2) and int(np.argmin(s)) == 3


def test_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(50, 5)), rng.normal(size=(7, 5))
    caps = [[f"c{i}"] for i in range(50)]
    for metric in ("euclidean", "cosine"):
        r = RetrievalCaptioner(k=6, metric=metric).fit(X, caps)
        ref = NearestNeighbors(n_neighbors=6, metric=metric).fit(X).kneighbors(Q, return_distance=False)
        assert np.array_equal(r.neighbours(Q), ref)
    loo = RetrievalCaptioner(k=3).fit(X, caps).neighbours(X[:5], exclude=np.arange(5))
    assert not np.any(loo == np.arange(5)[:, None])


def test_toy_with_known_answer():
    """Three clusters; in each, one outlier caption sits nearest the query but the others agree elsewhere."""
    rng = np.random.default_rng(1)
    centres = np.eye(3) * 10
    topics = {0: ["a red car on a road", "a red car", "a red car parked on a road", "a small red car"],
              1: ["a dog runs on grass", "a brown dog runs", "a dog runs on the grass", "a dog"],
              2: ["a boat on a lake", "a white boat on a lake", "a boat", "a sail boat on the lake"]}
    expected = {0: "a red car on a road", 1: "a dog runs on grass", 2: "a boat on a lake"}
    X, caps = [], []
    for t, sents in topics.items():
        for s in sents:
            X.append(centres[t] + rng.normal(scale=0.5, size=3))
            caps.append([s])
        X.append(centres[t] + 0.01)  # the nearest training item has an unrelated caption
        caps.append(["an unrelated picture of something else"])
    X = np.array(X)
    r = RetrievalCaptioner(k=5, metric="euclidean", consensus="cider_d").fit(X, caps)
    out = r.predict_details(centres)
    assert out.captions == [expected[t] for t in range(3)]
    nearest = RetrievalCaptioner(k=5, metric="euclidean", consensus=None).fit(X, caps).predict(centres)
    assert nearest == ["an unrelated picture of something else"] * 3


def test_errors():
    with pytest.raises(ConfigError, match="consensus"):
        RetrievalCaptioner(consensus="spice").fit(np.eye(2), [["a"], ["b"]])
    with pytest.raises(NotFittedError, match="not fitted"):
        RetrievalCaptioner().predict(np.zeros((1, 2)))
    r = RetrievalCaptioner(k=2).fit(np.eye(3), [["a"], ["b"], ["c"]])
    with pytest.raises(ShapeError, match=r"\(M, 3\)"):
        r.predict(np.zeros((1, 2)))
    with pytest.raises(ShapeError, match="captions\\[1\\]"):
        RetrievalCaptioner().fit(np.eye(2), [["a"], "b"])


def _ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _reference_cider_d_consensus(groups, documents, sigma=6.0):
    """The consensus CIDEr-D written out with dicts (translation's former second
    implementation): document frequencies of the n-gram tuples over ``documents``,
    then each caption's mean similarity to the others of its group."""
    from polymodal.metrics.captioning import ptb_tokenize

    df = [Counter() for _ in range(4)]
    for doc in documents:
        toks = [t.split() for t in ptb_tokenize(list(doc))]
        for k in range(4):
            df[k].update(set(g for t in toks for g in _ngrams(t, k + 1)))
    logN = np.log(float(max(len(documents), 1)))
    out = []
    for group in groups:
        tokens = [t.split() for t in ptb_tokenize(list(group))]
        vecs = [[{g: c * (logN - np.log(max(1.0, df[k].get(g, 0.0)))) for g, c in _ngrams(t, k + 1).items()}
                 for k in range(4)] for t in tokens]
        norms = np.array([[np.sqrt(sum(x * x for x in v[k].values())) for k in range(4)] for v in vecs])
        lengths = np.array([max(len(t) - 1, 0) for t in tokens], dtype=float)
        sim = np.zeros((len(tokens), len(tokens)))
        for i in range(len(tokens)):
            for j in range(len(tokens)):
                if i == j:
                    continue
                total = sum(sum(min(x, vecs[j][k][g]) * vecs[j][k][g] for g, x in vecs[i][k].items() if g in vecs[j][k])
                            / (norms[i, k] * norms[j, k]) for k in range(4) if norms[i, k] and norms[j, k])
                sim[i, j] = total / 4 * np.exp(-((lengths[i] - lengths[j]) ** 2) / (2 * sigma ** 2)) * 10.0
        out.append(sim.sum(1) / (len(group) - 1) if len(group) >= 2 else np.zeros(len(group)))
    return out


def test_consensus_cider_d_is_the_metrics_cider_d():
    """One CIDEr-D: the consensus goes through polymodal.metrics.captioning.cider_d and gives the
    numbers of the dict-based formula, with a background corpus and with the default one."""
    rng = np.random.default_rng(5)
    words = "a the dog cat runs sits on grass red car road , .".split()

    def caption():
        return " ".join(rng.choice(words, rng.integers(1, 10)))

    groups = [[caption() for _ in range(rng.integers(1, 7))] for _ in range(12)]
    documents = [[caption() for _ in range(rng.integers(1, 4))] for _ in range(30)]
    for docs in (documents, None):
        ours = consensus_scores(groups, "cider_d", docs)
        ref = _reference_cider_d_consensus(groups, docs if docs is not None else [[c] for g in groups for c in g])
        for a, b in zip(ours, ref):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_cider_d_similarity_equals_coco_cider_d_with_the_same_idf():
    from polymodal.metrics.captioning import score_captions

    rng = np.random.default_rng(3)
    words = "a the dog cat runs sits on grass red car road".split()
    pairs = [(" ".join(rng.choice(words, rng.integers(1, 9))), " ".join(rng.choice(words, rng.integers(1, 9))))
             for _ in range(40)]
    coco = score_captions({i: c for i, (c, _) in enumerate(pairs)}, {i: [r] for i, (_, r) in enumerate(pairs)},
                          metrics=("cider_d",)).per_image["cider_d"]
    documents = [[r] for _, r in pairs]
    ours = [consensus_scores([[c, r]], "cider_d", documents)[0][0] for c, r in pairs]
    assert np.allclose(ours, coco, atol=1e-9)
