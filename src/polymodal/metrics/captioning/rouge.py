"""ROUGE-L with the COCO caption-evaluation conventions, bit-parallel and vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ngrams import Corpus, find_keys

__all__ = ["RougeResult", "lcs_lengths", "rouge_l"]

_ONE = np.uint64(1)


@dataclass
class RougeResult:
    """Mean ROUGE-L over images and the per-image scores (C,)."""

    score: float
    per_image: np.ndarray


def _add_multiword(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P, W) little-endian multi-word unsigned addition modulo 2**(64 W)."""
    out = np.empty_like(a)
    carry = np.zeros(a.shape[0], dtype=np.uint64)
    for w in range(a.shape[1]):
        t = a[:, w] + b[:, w]
        c1 = t < a[:, w]
        s = t + carry
        c2 = s < t
        out[:, w] = s
        carry = (c1 | c2).astype(np.uint64)
    return out


def lcs_lengths(corpus: Corpus, pair_cand: np.ndarray, pair_ref: np.ndarray) -> np.ndarray:
    """Longest-common-subsequence length of each (candidate, reference) sentence pair.

    Bit-parallel LCS (Crochemore, Iliopoulos, Pinzon & Reid, Information Processing
    Letters 2001): the reference's match masks are bit vectors and the candidate is
    scanned one token at a time, all pairs at once. ``pair_ref`` indexes reference
    sentences (0-based among the references).
    """
    C = corpus.n_cand
    V = corpus.vocab_size
    ref_len = corpus.lengths[C:]
    n_words = max(1, int((ref_len.max(initial=0) + 63) // 64))
    # match masks: (reference, token) -> bits of the positions where it occurs
    r_sent = np.repeat(np.arange(len(ref_len), dtype=np.int64), ref_len)
    r_start = corpus.starts[C:]
    first_tok = int(r_start[0]) if len(r_start) else len(corpus.tokens)
    r_pos = np.arange(len(r_sent), dtype=np.int64) - np.repeat(r_start - first_tok, ref_len)
    r_tok = corpus.tokens[first_tok:]
    key = r_sent * V + r_tok
    order = np.argsort(key)
    k_sorted = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = k_sorted[1:] != k_sorted[:-1]
    u_key = k_sorted[first]
    inv = np.empty(len(key), dtype=np.int64)
    inv[order] = np.cumsum(first) - 1
    masks = np.zeros((len(u_key), n_words), dtype=np.uint64)
    np.add.at(masks, (inv, r_pos // 64), _ONE << (r_pos % 64).astype(np.uint64))

    cand_len = corpus.lengths[:C]
    P = len(pair_cand)
    Vbits = np.full((P, n_words), np.iinfo(np.uint64).max, dtype=np.uint64)
    plen = cand_len[pair_cand]
    pstart = corpus.starts[pair_cand]
    zero = np.zeros(n_words, dtype=np.uint64)
    masks_z = np.vstack([masks, zero[None, :]])
    for i in range(int(plen.max(initial=0))):
        active = plen > i
        tok = np.where(active, corpus.tokens[np.where(active, pstart + i, 0)], 0)
        q = pair_ref * V + tok
        pos, found = find_keys(u_key, q)
        M = masks_z[np.where(active & found, pos, len(u_key))]
        if n_words == 1:
            Vbits = (Vbits + (Vbits & M)) | (Vbits & ~M)
        else:
            Vbits = _add_multiword(Vbits, Vbits & M) | (Vbits & ~M)
    # LCS = number of zero bits among the first len(reference) bits
    rl = ref_len[pair_ref]
    lcs = np.zeros(P, dtype=np.int64)
    for w in range(n_words):
        nb = np.clip(rl - 64 * w, 0, 64).astype(np.uint64)
        low = np.where(nb >= 64, np.iinfo(np.uint64).max,
                       (_ONE << np.minimum(nb, 63)) - _ONE)
        lcs += nb.astype(np.int64) - np.bitwise_count(Vbits[:, w] & low).astype(np.int64)
    return lcs


def rouge_l(corpus: Corpus, beta: float = 1.2) -> RougeResult:
    r"""ROUGE-L (Lin, ACL Workshop on Text Summarization 2004) as pycocoevalcap computes it.

    .. math:: P = \max_r \frac{\mathrm{LCS}(c, r)}{|c|},\quad R = \max_r \frac{\mathrm{LCS}(c, r)}{|r|},\quad
              F = \frac{(1 + \beta^2) P R}{R + \beta^2 P}

    The best precision and the best recall are taken over the references
    separately; F = 0 when P or R is 0; the corpus score is the mean over images.
    As in pycocoevalcap (which splits on ``" "``) an empty sentence counts as one
    empty token: length 1, and LCS 1 between an empty candidate and an empty reference.
    """
    C = corpus.n_cand
    n_refs = np.diff(corpus.ref_start)
    pair_cand = np.repeat(np.arange(C, dtype=np.int64), n_refs)
    pair_ref = np.arange(len(pair_cand), dtype=np.int64)
    lcs = lcs_lengths(corpus, pair_cand, pair_ref).astype(np.float64)
    # pycocoevalcap splits on " ", so two empty sentences share one (empty) token
    lcs += (corpus.lengths[:C][pair_cand] == 0) & (corpus.lengths[C:] == 0)
    prec = lcs / np.maximum(corpus.lengths[:C][pair_cand], 1)
    rec = lcs / np.maximum(corpus.lengths[C:], 1)
    p = np.maximum.reduceat(prec, corpus.ref_start[:-1])
    r = np.maximum.reduceat(rec, corpus.ref_start[:-1])
    ok = (p != 0) & (r != 0)
    f = np.where(ok, (1 + beta ** 2) * p * r / np.where(ok, r + beta ** 2 * p, 1.0), 0.0)
    return RougeResult(score=float(f.mean()) if C else float("nan"), per_image=f)
