"""Example-based translation: caption by retrieving neighbours' captions and choosing by consensus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from polymodal.core.contract import checked_array
from polymodal.errors import ConfigError, DatasetError, ShapeError

__all__ = ["CONSENSUS_METRICS", "RetrievalCaptioner", "CaptionRetrievalResult", "consensus_scores"]

#: Caption similarities usable for the consensus (per-caption scores of :func:`polymodal.metrics.score_captions`).
CONSENSUS_METRICS = ("cider_d", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l")


def _cider_d_consensus(groups: Sequence[Sequence[str]], documents: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """CIDEr-D of every caption of each group (of two or more) against the others of its group as
    references, with document frequencies from ``documents`` (one list of captions per document):
    :func:`polymodal.metrics.captioning.cider_d` on a corpus whose extra images are the documents."""
    from polymodal.metrics.captioning import cider_d, encode_corpus, ngram_counts, ptb_tokenize

    scored = [q for q, g in enumerate(groups) if len(g) >= 2]
    if not scored:
        return [np.zeros(len(g)) for g in groups]
    flat = [c for q in scored for c in groups[q]] + [c for doc in documents for c in doc]
    toks = iter(t.split() for t in ptb_tokenize(flat)) if flat else iter(())
    cands, refs = [], []
    for q in scored:
        group = [next(toks) for _ in groups[q]]
        for j, t in enumerate(group):
            cands.append(t)
            refs.append(group[:j] + group[j + 1:])
    n_scored = len(cands)
    for doc in documents:  # a document is an extra image with an empty candidate
        cands.append([])
        refs.append([next(toks) for _ in doc])
    corpus = encode_corpus(cands, refs)
    per_image = cider_d(corpus, ngram_counts(corpus, 4),
                        document_images=np.arange(n_scored, len(cands))).per_image
    out = [np.zeros(len(g)) for g in groups]
    start = 0
    for q in scored:
        out[q] = per_image[start:start + len(groups[q])]
        start += len(groups[q])
    return out


def consensus_scores(groups: Sequence[Sequence[str]], metric: str = "cider_d",
                     documents: Sequence[Sequence[str]] | None = None) -> list[np.ndarray]:
    r"""Consensus score of every caption in each group: its mean similarity to the *other* captions of its group.

    .. math:: s(c_j) = \frac{1}{|C| - 1}\sum_{i \ne j} \mathrm{sim}(c_j, c_i)

    ``"cider_d"``: the CIDEr-D similarity (Vedantam et al., CVPR 2015: clipped tf-idf
    n-grams, n = 1..4, Gaussian length penalty sigma 6, x10; computed by
    :func:`polymodal.metrics.captioning.cider_d`) with document frequencies
    counted over ``documents`` (one list of captions per document, e.g. per
    training image; default: each caption of all groups is a document). The IDF
    must come from a background corpus: inside one group, the words every caption
    shares would get IDF 0 and the consensus would ignore exactly what they agree on.
    BLEU-n and ROUGE-L score :math:`c_j` against the others as references with
    :func:`polymodal.metrics.score_captions` (COCO conventions). Groups of one caption score 0.

    Parameters
    ----------
    groups : list of lists of str
        The retrieved captions of each query.
    metric : one of :data:`CONSENSUS_METRICS`
    documents : list of lists of str, optional
        The background corpus of the CIDEr-D document frequencies.

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
    from polymodal.metrics.captioning import score_captions

    for i, g in enumerate(groups):  # a str group would be scored character by character
        if isinstance(g, str) or not all(isinstance(c, str) for c in g):
            raise DatasetError(f"groups[{i}] must be a list of caption strings, got {g!r:.60}")
    out = [np.zeros(len(g)) for g in groups]
    if metric == "cider_d":
        if documents is None:
            documents = [[c] for g in groups for c in g]
        return _cider_d_consensus(groups, documents)
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


_CAPTIONS_Y = "y holds captions (a non-empty list of str per sample), not numeric targets"


@dataclass
class CaptionRetrievalResult:
    """Result of :meth:`RetrievalCaptioner.predict_details`: the chosen caption per query, the
    neighbour indices (M, k), and each query's candidate captions with their consensus scores."""

    captions: list[str]
    neighbours: np.ndarray
    candidates: list[list[str]]
    scores: list[np.ndarray]


class RetrievalCaptioner(BaseEstimator):
    r"""Example-based captioning by nearest neighbours and consensus re-ranking (Devlin, Gupta,
    Girshick, Mitchell & Zitnick, "Exploring nearest neighbor approaches for image captioning",
    arXiv 2015; Farhadi et al., ECCV 2010; Ordonez, Kulkarni & Berg, NeurIPS 2011).

    For a query x, take the captions :math:`C` of its k nearest training items in a
    feature space (cosine or Euclidean) and return
    :math:`\arg\max_{c \in C} \frac{1}{|C|-1}\sum_{c' \in C \setminus \{c\}} \mathrm{sim}(c, c')`
    (:func:`consensus_scores`; CIDEr-D uses the IDF of the training captions).
    The feature space may be any embedding: raw features, a CNN's, or a coordinated
    space (CCA, :mod:`polymodal.representation`) where images and captions are comparable.
    A scikit-learn estimator: ``fit(X, y)`` with the captions as ``y``.

    Parameters
    ----------
    k : int
        Neighbours retrieved.
    metric : {"cosine", "euclidean"}
    consensus : one of :data:`CONSENSUS_METRICS`
        ``None`` returns the nearest neighbour's first caption.

    Attributes
    ----------
    features_ : (N, d) training features (unit rows for ``metric="cosine"``)
    captions_ : list of N lists of str
    n_features_in_ : int

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [0.0, 0.9], [1.0, 0.0]])
    >>> caps = [["a red car"], ["a red car on a road"], ["a blue boat"], ["a green tree"]]
    >>> RetrievalCaptioner(k=3).fit(X, caps).predict(np.array([[0.0, 1.0]]))
    ['a red car']
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = {
        "check_dict_unchanged": _CAPTIONS_Y,
        "check_dont_overwrite_parameters": _CAPTIONS_Y,
        "check_dtype_object": _CAPTIONS_Y,
        "check_estimators_dtypes": _CAPTIONS_Y,
        "check_estimators_fit_returns_self": _CAPTIONS_Y,
        "check_estimators_nan_inf": _CAPTIONS_Y,
        "check_estimators_overwrite_params": _CAPTIONS_Y,
        "check_estimators_pickle": _CAPTIONS_Y,
        "check_f_contiguous_array_estimator": _CAPTIONS_Y,
        "check_fit2d_1feature": _CAPTIONS_Y,
        "check_fit2d_1sample": _CAPTIONS_Y,
        "check_fit2d_predict1d": _CAPTIONS_Y,
        "check_fit_check_is_fitted": _CAPTIONS_Y,
        "check_fit_idempotent": _CAPTIONS_Y,
        "check_fit_score_takes_y": _CAPTIONS_Y,
        "check_methods_sample_order_invariance": _CAPTIONS_Y,
        "check_methods_subset_invariance": _CAPTIONS_Y,
        "check_n_features_in": _CAPTIONS_Y,
        "check_n_features_in_after_fitting": _CAPTIONS_Y,
        "check_pipeline_consistency": _CAPTIONS_Y,
        "check_positive_only_tag_during_fit": _CAPTIONS_Y,
        "check_readonly_memmap_input": _CAPTIONS_Y,
    }

    def __init__(self, k: int = 10, metric: str = "cosine", consensus: str | None = "cider_d") -> None:
        self.k = k
        self.metric = metric
        self.consensus = consensus

    def _check_params(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ConfigError(f"k must be an integer >= 1, got {self.k!r}")
        if self.metric not in ("cosine", "euclidean"):
            raise ConfigError(f"metric must be 'cosine' or 'euclidean', got {self.metric!r}")
        if self.consensus is not None and self.consensus not in CONSENSUS_METRICS:
            raise ConfigError(f"consensus must be None or one of {CONSENSUS_METRICS}, got {self.consensus!r}")

    def _prep(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.metric == "cosine" and X.ndim == 2:
            X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        return X

    def fit(self, X, y) -> "RetrievalCaptioner":
        """Store the training features ``X`` (N, d) and their captions ``y`` (N lists of str)."""
        self._check_params()
        X = np.asarray(X) if np.ndim(X) != 2 else checked_array(X, dtype=np.float64)
        if X.ndim != 2:
            raise ShapeError(f"features must be (N, d), got shape {X.shape}")
        if y is None or len(y) != len(X):
            raise ShapeError(f"captions must have one list per row of features ({len(X)}), "
                             f"got {None if y is None else len(y)}")
        for i, c in enumerate(y):
            if isinstance(c, str) or not isinstance(c, (list, tuple)) or not c \
                    or not all(isinstance(s, str) for s in c):
                raise ShapeError(f"captions[{i}] must be a non-empty list of str, got {c!r}")
        self.features_ = self._prep(X)
        self.captions_ = [list(c) for c in y]
        self.n_features_in_ = X.shape[1]
        return self

    def neighbours(self, X, exclude: np.ndarray | None = None) -> np.ndarray:
        """Indices (M, k) of the k nearest training items of the queries ``X`` (M, d), nearest
        first (ties by index). ``exclude`` (M,) gives one training index per query to skip
        (leave-one-out)."""
        check_is_fitted(self, "features_")
        Q = self._prep(X if np.ndim(X) != 2 else checked_array(X, dtype=np.float64))
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

    def predict_details(self, X, exclude: np.ndarray | None = None) -> CaptionRetrievalResult:
        """Neighbours, candidates, consensus scores and the chosen caption of each query (M, d)."""
        nn_idx = self.neighbours(X, exclude)
        groups = [[c for i in row for c in self.captions_[i]] for row in nn_idx]
        if self.consensus is None:
            scores = [np.eye(1, len(g))[0] for g in groups]
        else:
            scores = consensus_scores(groups, self.consensus, self.captions_)
        chosen = [g[int(np.argmax(s))] for g, s in zip(groups, scores)]  # ties: the nearer neighbour
        return CaptionRetrievalResult(chosen, nn_idx, groups, scores)

    def predict(self, X, exclude: np.ndarray | None = None) -> list[str]:
        """The consensus caption of each query (M, d)."""
        return self.predict_details(X, exclude).captions
