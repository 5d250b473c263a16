"""Sparse n-gram count tables shared by the vectorised BLEU and CIDEr-D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Corpus", "NGramCounts", "encode_corpus", "ngram_counts"]


@dataclass
class Corpus:
    """Integer-coded sentences: candidates first, then references grouped by image.

    ``tokens`` (T,) token ids of all sentences concatenated; ``starts``/``lengths``
    (S,) per sentence; ``n_cand`` candidates (one per image, image i is sentence
    i); ``ref_image`` (R,) the image of each reference sentence; ``ref_start``
    (C + 1,) the first reference of each image among the references.
    """

    tokens: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    vocab_size: int
    n_cand: int
    ref_image: np.ndarray
    ref_start: np.ndarray


@dataclass
class NGramCounts:
    """Count of each distinct n-gram in each sentence: parallel arrays (E,)."""

    sent: np.ndarray
    gram: np.ndarray
    order: np.ndarray  # n - 1
    count: np.ndarray
    n_grams: int


def encode_corpus(cands: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]) -> Corpus:
    """Map token strings to ids; ``cands[i]`` is image i's candidate, ``refs[i]`` its references."""
    vocab: dict[str, int] = {}
    ids: list[int] = []
    lengths: list[int] = []
    setdefault = vocab.setdefault
    for sent in cands:
        ids.extend(setdefault(t, len(vocab)) for t in sent)
        lengths.append(len(sent))
    n_refs = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
    for group in refs:
        for sent in group:
            ids.extend(setdefault(t, len(vocab)) for t in sent)
            lengths.append(len(sent))
    lengths_a = np.asarray(lengths, dtype=np.int64)
    starts = np.zeros(len(lengths_a), dtype=np.int64)
    np.cumsum(lengths_a[:-1], out=starts[1:])
    ref_start = np.zeros(len(refs) + 1, dtype=np.int64)
    np.cumsum(n_refs, out=ref_start[1:])
    return Corpus(
        tokens=np.asarray(ids, dtype=np.int64), starts=starts, lengths=lengths_a,
        vocab_size=max(len(vocab), 1), n_cand=len(cands),
        ref_image=np.repeat(np.arange(len(refs), dtype=np.int64), n_refs), ref_start=ref_start,
    )


def ngram_counts(corpus: Corpus, n: int = 4) -> NGramCounts:
    """All n-grams of orders 1..n with their per-sentence counts, ids distinct across orders."""
    tok = corpus.tokens
    n_tok = len(tok)
    sent_of = np.repeat(np.arange(len(corpus.lengths), dtype=np.int64), corpus.lengths)
    pos_in = np.arange(n_tok, dtype=np.int64) - np.repeat(corpus.starts, corpus.lengths)
    remaining = np.repeat(corpus.lengths, corpus.lengths) - pos_in  # tokens from here to the end
    sents, grams, orders, counts = [], [], [], []
    offset = 0
    prev = tok  # id of the (k-1)-gram starting at each position (valid where remaining >= k-1)
    for k in range(1, n + 1):
        if k == 1:
            ids, n_ids = tok, corpus.vocab_size
            valid = np.ones(n_tok, dtype=bool)
        else:
            valid = remaining >= k
            idx = np.nonzero(valid)[0]
            key = prev[idx] * corpus.vocab_size + tok[idx + k - 1]
            uniq, inv = np.unique(key, return_inverse=True)
            ids = np.full(n_tok, -1, dtype=np.int64)
            ids[idx] = inv
            n_ids = len(uniq)
        idx = np.nonzero(valid)[0]
        key = sent_of[idx] * n_ids + ids[idx]
        uniq, cnt = np.unique(key, return_counts=True)
        sents.append(uniq // n_ids)
        grams.append(uniq % n_ids + offset)
        orders.append(np.full(len(uniq), k - 1, dtype=np.int64))
        counts.append(cnt.astype(np.int64))
        offset += n_ids
        prev = ids
    return NGramCounts(np.concatenate(sents), np.concatenate(grams), np.concatenate(orders),
                       np.concatenate(counts), offset)
