"""Corpus BLEU-1..4 with the COCO caption-evaluation conventions, vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ngrams import Corpus, NGramCounts, find_keys, ref_index

__all__ = ["BleuResult", "corpus_bleu"]

_TINY = 1e-15  # pycocoevalcap's smoothing constants, kept so the numbers agree to 1e-12
_SMALL = 1e-9


@dataclass
class BleuResult:
    """Corpus BLEU-1..n (``scores[k-1]`` is BLEU-k) and per-image BLEU (n, C)."""

    scores: np.ndarray
    per_image: np.ndarray
    test_length: int
    ref_length: int


def _closest_ref_length(corpus: Corpus) -> np.ndarray:
    cand_len = corpus.lengths[: corpus.n_cand]
    ref_len = corpus.lengths[corpus.n_cand:]
    diff = np.abs(ref_len - cand_len[corpus.ref_image])
    key = diff * (int(ref_len.max(initial=0)) + 1) + ref_len  # ties go to the shorter reference
    return np.minimum.reduceat(key, corpus.ref_start[:-1]) % (int(ref_len.max(initial=0)) + 1)


def corpus_bleu(corpus: Corpus, counts: NGramCounts, n: int = 4) -> BleuResult:
    r"""Corpus-level BLEU (Papineni, Roukos, Ward & Zhu, ACL 2002) as pycocoevalcap computes it.

    .. math:: \mathrm{BLEU}_N = \mathrm{BP}\,\prod_{k=1}^{N} p_k^{1/N},\quad
              p_k = \frac{\sum_c \sum_g \min(c_g, \max_r r_g)}{\sum_c \max(0, |c| - k + 1)},\quad
              \mathrm{BP} = \min(1, e^{1 - \rho/\gamma})

    with the clipped (modified) n-gram precision summed over the corpus, ``gamma``
    the total candidate length and ``rho`` the sum of each candidate's closest
    reference length (ties go to the shorter). pycocoevalcap's smoothing
    constants (1e-15 over 1e-9) are kept, so a corpus without any matching 4-gram
    gets the same tiny non-zero BLEU-4 as pycocoevalcap.
    """
    C = corpus.n_cand
    index = ref_index(corpus, counts)
    c_sel = counts.sent < C
    pos, found = find_keys(index.keys, counts.sent[c_sel] * counts.n_grams + counts.gram[c_sel])
    ref_max = np.where(found, index.max_count[pos] if len(index.keys) else 0, 0)
    clipped = np.minimum(counts.count[c_sel], ref_max)
    cand_order = counts.order[c_sel]
    correct = np.bincount(counts.sent[c_sel] * n + cand_order, weights=clipped, minlength=C * n).reshape(C, n)
    cand_len = corpus.lengths[:C]
    guess = np.maximum(0, cand_len[:, None] - np.arange(n)[None, :]).astype(np.float64)
    ref_len = _closest_ref_length(corpus).astype(np.float64)

    # corpus score
    ratio = (cand_len.sum() + _TINY) / (ref_len.sum() + _SMALL)
    prec = (correct.sum(0) + _TINY) / (guess.sum(0) + _SMALL)
    scores = np.cumprod(prec) ** (1.0 / np.arange(1, n + 1))
    if ratio < 1:
        scores = scores * np.exp(1 - 1 / ratio)
    # per-image scores (pycocoevalcap's bleu_list)
    ratio_i = (cand_len + _TINY) / (ref_len + _SMALL)
    per = np.cumprod((correct + _TINY) / (guess + _SMALL), axis=1) ** (1.0 / np.arange(1, n + 1))[None, :]
    bp = np.where(ratio_i < 1, np.exp(1 - 1 / np.where(ratio_i < 1, ratio_i, 1.0)), 1.0)
    per = per * bp[:, None]
    return BleuResult(scores=scores, per_image=per.T, test_length=int(cand_len.sum()),
                      ref_length=int(ref_len.sum()))
