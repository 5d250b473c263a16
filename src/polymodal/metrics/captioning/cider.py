"""CIDEr-D with the COCO caption-evaluation conventions, vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ngrams import Corpus, NGramCounts, find_keys, ref_index

__all__ = ["CiderResult", "cider_d"]


@dataclass
class CiderResult:
    """Mean CIDEr-D over images and the per-image scores (C,)."""

    score: float
    per_image: np.ndarray


def cider_d(corpus: Corpus, counts: NGramCounts, n: int = 4, sigma: float = 6.0,
            document_images: np.ndarray | None = None) -> CiderResult:
    r"""CIDEr-D (Vedantam, Zitnick & Parikh, CVPR 2015) as pycocoevalcap's ``Cider`` computes it.

    .. math:: \mathrm{CIDEr\text{-}D}(c, S) = \frac{10}{N}\sum_{k=1}^{N}\frac{1}{|S|}\sum_{s\in S}
              e^{-\frac{(\ell_c - \ell_s)^2}{2\sigma^2}}
              \frac{\sum_g \min(g_k(c), g_k(s))\, g_k(s)}{\lVert g_k(c)\rVert\,\lVert g_k(s)\rVert}

    with tf-idf vectors ``g_k`` (raw n-gram counts times
    ``log(#images) - log(max(1, df))``, the document frequency counted over the
    references of the evaluated images), the clipping ``min`` of CIDEr-D, N = 4,
    sigma = 6 and, as in pycocoevalcap, the length ``l`` of a sentence taken as its
    number of bigrams. The corpus score is the mean over images.

    ``document_images`` (indices of images, optional): count the document
    frequencies (and ``#images``) over the references of these images only,
    e.g. a background corpus of training captions appended as extra images
    (default: all images, pycocoevalcap's convention).
    """
    C = corpus.n_cand
    G = counts.n_grams
    index = ref_index(corpus, counts)
    # document frequency: number of images whose references contain the n-gram
    if document_images is None:
        doc_keys, n_docs = index.keys, C
    else:
        document_images = np.unique(np.asarray(document_images, dtype=np.int64))
        doc_keys, n_docs = index.keys[np.isin(index.keys // G, document_images)], max(len(document_images), 1)
    df = np.bincount(doc_keys % G, minlength=G).astype(np.float64)
    weight = np.log(float(n_docs)) - np.log(np.maximum(1.0, df))
    value = counts.count * weight[counts.gram]
    S = len(corpus.lengths)
    norm = np.sqrt(np.bincount(counts.sent * n + counts.order, weights=value ** 2, minlength=S * n)).reshape(S, n)
    length = np.maximum(corpus.lengths - 1, 0).astype(np.float64)  # number of bigrams

    # only n-grams shared by the candidate and a reference contribute min(vc, vr) * vr
    c_sel = np.nonzero(counts.sent < C)[0]
    pos, found = find_keys(index.keys, counts.sent[c_sel] * G + counts.gram[c_sel])
    c_sel, pos = c_sel[found], pos[found]
    lo, hi = index.group_start[pos], index.group_start[pos + 1]
    reps = hi - lo
    c_rep = np.repeat(c_sel, reps)
    r_ent = index.entries[np.repeat(lo, reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))]
    vc, vr = value[c_rep], value[r_ent]
    pair = counts.sent[r_ent] - C  # the reference index
    R = len(corpus.ref_image)
    num = np.bincount(pair * n + counts.order[c_rep], weights=np.minimum(vc, vr) * vr,
                      minlength=R * n).reshape(R, n)
    n_refs = np.diff(corpus.ref_start)
    nc = norm[corpus.ref_image]           # candidate norms per pair
    nr = norm[C:]
    ok = (nc != 0) & (nr != 0)
    sim = np.where(ok, num / np.where(ok, nc * nr, 1.0), num)
    delta = length[corpus.ref_image] - length[C:]
    sim = sim * np.exp(-(delta ** 2) / (2 * sigma ** 2))[:, None]
    per_pair = sim.mean(axis=1)
    per_image = np.add.reduceat(per_pair, corpus.ref_start[:-1]) / n_refs * 10.0
    return CiderResult(score=float(per_image.mean()) if C else float("nan"), per_image=per_image)
