"""Example-based translation: caption by retrieving neighbours' captions and choosing by consensus."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.errors import ConfigError, ShapeError

__all__ = ["CONSENSUS_METRICS", "RetrievalCaptioner", "RetrievalResult", "consensus_scores", "document_frequency"]

#: Caption similarities usable for the consensus (per-caption scores of :func:`polymodal.metrics.score_captions`).
CONSENSUS_METRICS = ("cider_d", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l")


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def document_frequency(corpus: Sequence[Sequence[str]], n: int = 4) -> tuple[list[Counter], int]:
    """N-gram document frequencies (n = 1..``n``) over ``corpus`` (a list of caption lists, one per
    image: a document is an image's captions), and the number of documents."""
    from polymodal.metrics.captioning import ptb_tokenize

    flat = [c for caps in corpus for c in caps]
    toks = iter(t.split() for t in ptb_tokenize(flat)) if flat else iter(())
    df = [Counter() for _ in range(n)]
    for caps in corpus:
        doc = [next(toks) for _ in caps]
        for k in range(n):
            df[k].update(set(g for t in doc for g in _ngrams(t, k + 1)))
    return df, len(corpus)


def _cider_d_pairs(tokens: list[list[str]], df: list[Counter], n_docs: int, sigma: float = 6.0) -> np.ndarray:
    """CIDEr-D similarity matrix (C, C) between tokenised captions with the given document frequencies."""
    n = len(df)
    logN = np.log(float(max(n_docs, 1)))
    vecs, norms = [], np.zeros((len(tokens), n))
    for i, t in enumerate(tokens):
        v = []
        for k in range(n):
            w = {g: c * (logN - np.log(max(1.0, df[k].get(g, 0.0)))) for g, c in _ngrams(t, k + 1).items()}
            norms[i, k] = np.sqrt(sum(x * x for x in w.values()))
            v.append(w)
        vecs.append(v)
    lengths = np.array([max(len(t) - 1, 0) for t in tokens], dtype=float)  # bigram count, as pycocoevalcap
    sim = np.zeros((len(tokens), len(tokens)))
    for i in range(len(tokens)):
        for j in range(len(tokens)):
            if i == j:
                continue
            total = 0.0
            for k in range(n):
                if norms[i, k] == 0 or norms[j, k] == 0:
                    continue
                vi, vj = vecs[i][k], vecs[j][k]
                total += sum(min(x, vj[g]) * vj[g] for g, x in vi.items() if g in vj) / (norms[i, k] * norms[j, k])
            sim[i, j] = total / n * np.exp(-((lengths[i] - lengths[j]) ** 2) / (2 * sigma ** 2)) * 10.0
    return sim


def consensus_scores(groups: Sequence[Sequence[str]], metric: str = "cider_d",
                     document_frequencies: tuple[list[Counter], int] | None = None) -> list[np.ndarray]:
    r"""Consensus score of every caption in each group: its mean similarity to the *other* captions of its group.

    .. math:: s(c_j) = \frac{1}{|C| - 1}\sum_{i \ne j} \mathrm{sim}(c_j, c_i)

    ``"cider_d"``: the CIDEr-D similarity (Vedantam et al., CVPR 2015: clipped tf-idf
    n-grams, n = 1..4, Gaussian length penalty sigma 6, x10) with document
    frequencies from ``document_frequencies`` (:func:`document_frequency` of the
    training captions; default: each caption of all groups is a document). The IDF
    must come from a background corpus: inside one group, the words every caption
    shares would get IDF 0 and the consensus would ignore exactly what they agree on.
    BLEU-n and ROUGE-L score :math:`c_j` against the others as references with
    :func:`polymodal.metrics.score_captions` (COCO conventions). Groups of one caption score 0.

    Parameters
    ----------
    groups : list of lists of str
        The retrieved captions of each query.
    metric : one of :data:`CONSENSUS_METRICS`
    document_frequencies : (list of Counters, number of documents), optional

    Returns
    -------
    list of arrays, one score per caption of each group.

    Examples
    --------
    >>> s = consensus_scores([["a dog runs", "a dog runs", "a cat sleeps"]])[0]
    >>> int(np.argmax(s)), int(np.argmin(s))
    (0, 2)
    """
    if metric not in CONSENSUS_METRICS:
        raise ConfigError(f"consensus metric must be one of {CONSENSUS_METRICS}, got {metric!r}")
    from polymodal.metrics.captioning import ptb_tokenize, score_captions

    out = [np.zeros(len(g)) for g in groups]
    if metric == "cider_d":
        if document_frequencies is None:
            document_frequencies = document_frequency([[c] for g in groups for c in g])
        df, n_docs = document_frequencies
        for q, group in enumerate(groups):
            if len(group) >= 2:
                sim = _cider_d_pairs([t.split() for t in ptb_tokenize(list(group))], df, n_docs)
                out[q] = sim.sum(1) / (len(group) - 1)
        return out
    cands, refs = {}, {}
    for q, group in enumerate(groups):
        if len(group) < 2:
            continue
        for j, c in enumerate(group):
            cands[(q, j)] = c
            refs[(q, j)] = [r for i, r in enumerate(group) if i != j]
    if not cands:
        return out
    family = "bleu" if metric.startswith("bleu") else metric
    scores = score_captions(cands, refs, metrics=(family,))
    for (q, j), v in zip(scores.ids, scores.per_image[metric]):
        out[q][j] = float(v)
    return out


@dataclass
class RetrievalResult:
    """Chosen caption per query, the neighbour indices (M, k), and each query's candidates with their scores."""

    captions: list[str]
    neighbours: np.ndarray
    candidates: list[list[str]]
    scores: list[np.ndarray]


class RetrievalCaptioner:
    r"""Example-based captioning by nearest neighbours and consensus re-ranking (Devlin, Gupta,
    Girshick, Mitchell & Zitnick, "Exploring nearest neighbor approaches for image captioning",
    arXiv 2015; Farhadi et al., ECCV 2010; Ordonez, Kulkarni & Berg, NeurIPS 2011).

    For a query x, take the captions :math:`C` of its k nearest training items in a
    feature space (cosine or Euclidean) and return
    :math:`\arg\max_{c \in C} \frac{1}{|C|-1}\sum_{c' \in C \setminus \{c\}} \mathrm{sim}(c, c')`
    (:func:`consensus_scores`; CIDEr-D uses the IDF of the training captions).
    The feature space may be any embedding: raw features, a CNN's, or a coordinated
    space (CCA, :mod:`polymodal.representation`) where images and captions are comparable.

    Parameters
    ----------
    k : int
        Neighbours retrieved.
    metric : {"cosine", "euclidean"}
    consensus : one of :data:`CONSENSUS_METRICS`
        ``None`` returns the nearest neighbour's first caption.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [0.0, 0.9], [1.0, 0.0]])
    >>> caps = [["a red car"], ["a red car on a road"], ["a blue boat"], ["a green tree"]]
    >>> RetrievalCaptioner(k=3).fit(X, caps).predict(np.array([[0.0, 1.0]]))
    ['a red car']
    """

    def __init__(self, k: int = 10, metric: str = "cosine", consensus: str | None = "cider_d") -> None:
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if metric not in ("cosine", "euclidean"):
            raise ConfigError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
        if consensus is not None and consensus not in CONSENSUS_METRICS:
            raise ConfigError(f"consensus must be None or one of {CONSENSUS_METRICS}, got {consensus!r}")
        self.k, self.metric, self.consensus = k, metric, consensus

    def _prep(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.metric == "cosine":
            X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        return X

    def fit(self, features: np.ndarray, captions: Sequence[Sequence[str]]) -> "RetrievalCaptioner":
        """Store the training features (N, d) and their captions (N lists of str)."""
        X = np.asarray(features)
        if X.ndim != 2:
            raise ShapeError(f"features must be (N, d), got shape {X.shape}")
        if len(captions) != len(X):
            raise ShapeError(f"captions must have one list per row of features ({len(X)}), got {len(captions)}")
        for i, c in enumerate(captions):
            if isinstance(c, str) or not c or not all(isinstance(s, str) for s in c):
                raise ShapeError(f"captions[{i}] must be a non-empty list of str, got {c!r}")
        self.features_ = self._prep(X)
        self.captions_ = [list(c) for c in captions]
        self.document_frequencies_ = document_frequency(self.captions_) if self.consensus == "cider_d" else None
        return self

    def neighbours(self, features: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Indices (M, k) of the k nearest training items, nearest first (ties by index).

        ``exclude`` (M,) gives one training index per query to skip (leave-one-out).
        """
        if not hasattr(self, "features_"):
            raise ConfigError("RetrievalCaptioner is not fitted: call fit(features, captions) first")
        Q = self._prep(features)
        if Q.ndim != 2 or Q.shape[1] != self.features_.shape[1]:
            raise ShapeError(f"features must be (M, {self.features_.shape[1]}), got shape {Q.shape}")
        if self.metric == "cosine":
            d = -Q @ self.features_.T
        else:
            d = (Q ** 2).sum(1)[:, None] - 2 * Q @ self.features_.T + (self.features_ ** 2).sum(1)[None, :]
        if exclude is not None:
            d[np.arange(len(Q)), np.asarray(exclude)] = np.inf
        k = min(self.k, self.features_.shape[0] - (exclude is not None))
        return np.argsort(d, axis=1, kind="stable")[:, :k]

    def predict_details(self, features: np.ndarray, exclude: np.ndarray | None = None) -> RetrievalResult:
        """Neighbours, candidates, consensus scores and the chosen caption of each query (M, d)."""
        nn_idx = self.neighbours(features, exclude)
        groups = [[c for i in row for c in self.captions_[i]] for row in nn_idx]
        if self.consensus is None:
            scores = [np.eye(1, len(g))[0] for g in groups]
        else:
            scores = consensus_scores(groups, self.consensus, self.document_frequencies_)
        chosen = [g[int(np.argmax(s))] for g, s in zip(groups, scores)]  # ties: the nearer neighbour
        return RetrievalResult(chosen, nn_idx, groups, scores)

    def predict(self, features: np.ndarray, exclude: np.ndarray | None = None) -> list[str]:
        """The consensus caption of each query (M, d)."""
        return self.predict_details(features, exclude).captions
