"""Sparse n-gram count tables shared by the vectorised BLEU and CIDEr-D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Corpus", "NGramCounts", "RefIndex", "encode_corpus", "ngram_counts", "ref_index"]


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
    flat: list[str] = []
    lengths: list[int] = []
    for sent in cands:
        flat.extend(sent)
        lengths.append(len(sent))
    n_refs = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
    for group in refs:
        for sent in group:
            flat.extend(sent)
            lengths.append(len(sent))
    vocab = {w: i for i, w in enumerate(dict.fromkeys(flat))}
    ids = list(map(vocab.__getitem__, flat))
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
    S = max(len(corpus.lengths), 1)
    prev, n_prev = tok, corpus.vocab_size  # id of the (k-1)-gram starting at each position
    for k in range(1, n + 1):
        idx = np.nonzero(remaining >= k)[0]
        gram_key = tok[idx] if k == 1 else prev[idx] * corpus.vocab_size + tok[idx + k - 1]
        n_keys = corpus.vocab_size if k == 1 else n_prev * corpus.vocab_size
        if n_keys * S < 2 ** 62:  # one sort gives both the n-gram ids and the per-sentence counts
            order = np.argsort(gram_key * S + sent_of[idx])
        else:
            order = np.lexsort((sent_of[idx], gram_key))
        g_sorted, s_sorted = gram_key[order], sent_of[idx][order]
        new_gram = np.empty(len(order), dtype=bool)
        new_gram[:1] = True
        np.not_equal(g_sorted[1:], g_sorted[:-1], out=new_gram[1:])
        gid_sorted = np.cumsum(new_gram) - 1
        n_ids = int(gid_sorted[-1]) + 1 if len(order) else 0
        new_entry = new_gram.copy()
        new_entry[1:] |= s_sorted[1:] != s_sorted[:-1]
        starts = np.nonzero(new_entry)[0]
        cnt = np.diff(np.append(starts, len(order)))
        sents.append(s_sorted[starts])
        grams.append(gid_sorted[starts] + offset)
        orders.append(np.full(len(starts), k - 1, dtype=np.int64))
        counts.append(cnt.astype(np.int64))
        ids = np.full(n_tok, -1, dtype=np.int64)
        ids[idx[order]] = gid_sorted
        offset += n_ids
        prev, n_prev = ids, max(n_ids, 1)
    return NGramCounts(np.concatenate(sents), np.concatenate(grams), np.concatenate(orders),
                       np.concatenate(counts), offset)


@dataclass
class RefIndex:
    """Reference n-gram entries sorted by (image, n-gram).

    ``entries`` (K,) indexes of the reference entries of :class:`NGramCounts` in
    that order; ``keys`` (U,) the distinct ``image * n_grams + gram`` keys;
    ``group_start`` (U + 1,) where each key's entries begin in ``entries``;
    ``max_count`` (U,) the largest count of the n-gram in one reference of the image.
    """

    entries: np.ndarray
    keys: np.ndarray
    group_start: np.ndarray
    max_count: np.ndarray


def ref_index(corpus: Corpus, counts: NGramCounts) -> RefIndex:
    """Group the references' n-gram entries by (image, n-gram), computed once per corpus."""
    cached = getattr(counts, "_ref_index", None)
    if cached is not None:
        return cached
    ref_entries = np.nonzero(counts.sent >= corpus.n_cand)[0]
    key = corpus.ref_image[counts.sent[ref_entries] - corpus.n_cand] * counts.n_grams + counts.gram[ref_entries]
    order = np.argsort(key)
    entries, key = ref_entries[order], key[order]
    if len(key):
        first = np.concatenate(([True], key[1:] != key[:-1]))
        starts = np.nonzero(first)[0]
        keys, max_count = key[starts], np.maximum.reduceat(counts.count[entries], starts)
    else:
        starts = keys = max_count = np.zeros(0, dtype=np.int64)
    out = RefIndex(entries, keys, np.append(starts, len(key)), max_count)
    counts._ref_index = out  # type: ignore[attr-defined]
    return out


def find_keys(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``query`` in sorted unique ``keys`` and whether each is present."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=np.int64), np.zeros(len(query), dtype=bool)
    order = np.argsort(query)  # sorted queries make the binary searches cache-friendly (5x faster)
    pos = np.empty(len(query), dtype=np.int64)
    pos[order] = np.searchsorted(keys, query[order])
    np.minimum(pos, len(keys) - 1, out=pos)
    return pos, keys[pos] == query
