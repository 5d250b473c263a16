"""CIDEr-D with the COCO caption-evaluation conventions, vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ngrams import Corpus, NGramCounts

__all__ = ["CiderResult", "cider_d"]


@dataclass
class CiderResult:
    """Mean CIDEr-D over images and the per-image scores (C,)."""

    score: float
    per_image: np.ndarray


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[keys == query] for sorted unique ``keys``, 0 where absent."""
    if len(keys) == 0:
        return np.zeros(len(query))
    pos = np.searchsorted(keys, query)
    pos_c = np.minimum(pos, len(keys) - 1)
    return np.where((pos < len(keys)) & (keys[pos_c] == query), values[pos_c], 0.0)


def cider_d(corpus: Corpus, counts: NGramCounts, n: int = 4, sigma: float = 6.0) -> CiderResult:
    r"""CIDEr-D (Vedantam, Zitnick & Parikh, CVPR 2015) as pycocoevalcap's ``Cider`` computes it.

    .. math:: \mathrm{CIDEr\text{-}D}(c, S) = \frac{10}{N}\sum_{k=1}^{N}\frac{1}{|S|}\sum_{s\in S}
              e^{-\frac{(\ell_c - \ell_s)^2}{2\sigma^2}}
              \frac{\sum_g \min(g_k(c), g_k(s))\, g_k(s)}{\lVert g_k(c)\rVert\,\lVert g_k(s)\rVert}

    with tf-idf vectors ``g_k`` (raw n-gram counts times
    ``log(#images) - log(max(1, df))``, the document frequency counted over the
    references of the evaluated images), the clipping ``min`` of CIDEr-D, N = 4,
    sigma = 6 and, as in pycocoevalcap, the length ``l`` of a sentence taken as its
    number of bigrams. The corpus score is the mean over images.
    """
    C = corpus.n_cand
    G = counts.n_grams
    is_ref = counts.sent >= C
    # document frequency: number of images whose references contain the n-gram
    img_gram = np.unique(corpus.ref_image[counts.sent[is_ref] - C] * G + counts.gram[is_ref])
    df = np.bincount(img_gram % G, minlength=G).astype(np.float64)
    log_n = np.log(float(C))
    weight = log_n - np.log(np.maximum(1.0, df))
    value = counts.count * weight[counts.gram]
    S = len(corpus.lengths)
    norm = np.sqrt(np.bincount(counts.sent * n + counts.order, weights=value ** 2, minlength=S * n)).reshape(S, n)
    length = np.maximum(corpus.lengths - 1, 0).astype(np.float64)  # number of bigrams

    # reference vectors keyed by (reference sentence, n-gram)
    r_key = counts.sent[is_ref] * G + counts.gram[is_ref]
    order = np.argsort(r_key)
    r_key, r_val = r_key[order], value[is_ref][order]
    # expand each candidate entry over the references of its image
    c_sel = np.nonzero(~is_ref)[0]
    c_img = counts.sent[c_sel]
    n_refs = np.diff(corpus.ref_start)
    reps = n_refs[c_img]
    e = np.repeat(c_sel, reps)
    k = np.arange(len(e)) - np.repeat(np.cumsum(reps) - reps, reps)
    ref_sent = C + corpus.ref_start[counts.sent[e]] + k  # global sentence index of the reference
    vr = _lookup(r_key, r_val, ref_sent * G + counts.gram[e])
    vc = value[e]
    pair = corpus.ref_start[counts.sent[e]] + k  # pair index == reference index
    R = len(corpus.ref_image)
    num = np.bincount(pair * n + counts.order[e], weights=np.minimum(vc, vr) * vr, minlength=R * n).reshape(R, n)
    nc = norm[corpus.ref_image]           # candidate norms per pair
    nr = norm[C:]
    ok = (nc != 0) & (nr != 0)
    sim = np.where(ok, num / np.where(ok, nc * nr, 1.0), num)
    delta = length[corpus.ref_image] - length[C:]
    sim = sim * np.exp(-(delta ** 2) / (2 * sigma ** 2))[:, None]
    per_pair = sim.mean(axis=1)
    per_image = np.add.reduceat(per_pair, corpus.ref_start[:-1]) / n_refs * 10.0
    return CiderResult(score=float(per_image.mean()) if C else float("nan"), per_image=per_image)
