"""DTW keyword verification: how well a spoken word matches stored examples of each word.

A classifier of isolated words must name one of its classes for any input, and it learns only the cues
that tell its classes apart: a foreign word such as Japanese "ni" can be heard confidently as "nine". Two-stage
keyword spotting checks the classifier's answer against stored examples (templates) of the word, aligned
along their whole length with dynamic time warping (Sakoe & Chiba, IEEE Trans. ASSP 1978; template-based
keyword verification, e.g. Rose & Paul, ICASSP 1990; query-by-example spotting, Hazen, Shen & White, ASRU
2009). A word that is the keyword only in part ("ni" against "nine", no final nasal) aligns badly however it is
warped.

:class:`TemplateVerifier` holds the templates and returns, per query word and class ``c``,

    d_c(x) = mean of the k smallest  D(x, y) / (n_x + n_y)  over the templates y of class c,

where ``D`` is the DTW cost with the ``symmetric2`` step pattern (diagonal steps weigh 2) and squared
Euclidean local cost, so ``D / (n_x + n_y)`` is the mean local cost along the path (Sakoe & Chiba's
normalisation). Words are compared as :func:`word_cepstra`: the DCT-II of each frame of the log-mel image
(coefficients 1 .. n_ceps-1, c0 left out), the frames of the word only, each coefficient normalised over the
word (cepstral mean and variance normalisation), so loudness and a fixed channel cancel.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from polymodal.alignment.dtw.nearest import cdist_dtw
from polymodal.errors import ConfigError, ShapeError

__all__ = ["word_cepstra", "TemplateVerifier"]


def word_cepstra(images, *, n_ceps: int = 20, floor: float = 0.35, frame_step: int = 1) -> list[np.ndarray]:
    """Per-word cepstral sequences ``(T_i, n_ceps - 1)`` of log-mel images ``(N, n_mels, T)``.

    The word is the span from the first to the last frame whose mean band value is within ``floor`` of the
    loudest frame's (images in [0, 1] as :func:`polymodal.data.audio.log_mel_image`, where 1 is 60 dB, so the
    default keeps frames within 21 dB). Each frame's bands go through an orthonormal DCT-II; coefficient 0
    (the frame's level) is dropped and each other coefficient is standardised over the word's frames. With
    ``frame_step > 1`` each run of ``frame_step`` frames is averaged (a word keeps at least one frame), which
    makes DTW ``frame_step**2`` times cheaper.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise ShapeError(f"word_cepstra expects log-mel images (N, n_mels, T), got shape {x.shape}")
    if not 2 <= n_ceps <= x.shape[1]:
        raise ConfigError(f"n_ceps must be in [2, n_mels={x.shape[1]}], got {n_ceps}")
    if not floor > 0:
        raise ConfigError(f"floor must be > 0, got {floor}")
    if int(frame_step) != frame_step or frame_step < 1:
        raise ConfigError(f"frame_step must be a positive integer, got {frame_step!r}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(1))[0])
        raise ShapeError(f"word_cepstra: image {bad} holds NaN or inf")
    out = []
    for m in x:
        level = m.mean(0)
        keep = np.flatnonzero(level >= level.max() - floor)
        c = dct(m[:, keep[0]:keep[-1] + 1], type=2, norm="ortho", axis=0)[1:n_ceps]
        c = ((c - c.mean(1, keepdims=True)) / (c.std(1, keepdims=True) + 1e-3)).T
        if frame_step > 1:
            n = max(len(c) // frame_step, 1) * frame_step
            c = np.resize(c, (n, c.shape[1])) if n > len(c) else c[:n]
            c = c.reshape(-1, frame_step, c.shape[1]).mean(1)
        out.append(np.ascontiguousarray(c))
    return out


class TemplateVerifier:
    """Class-conditional DTW template distances of spoken words (module docstring: the equation).

    Parameters
    ----------
    k : number of nearest templates of a class averaged into its distance
    n_ceps, floor, frame_step : :func:`word_cepstra`'s
    n_jobs : DTW threads (-1: all)

    ``fit(images, labels, groups=None)`` stores the templates; ``distances(images, groups=None)`` is
    ``(N, C)``; ``score(images, predicted)`` is each word's distance to the class it was assigned (larger: a
    worse match). Identical query images are aligned once. ``groups`` (e.g. speakers), given to both, leave
    out the templates of a query's own group (leave-one-group-out distances of the templates' own copies); a
    class left with fewer than ``k`` templates outside the group is at distance ``inf``.

    >>> rng = np.random.default_rng(0)
    >>> words = rng.random((4, 40, 30))
    >>> verifier = TemplateVerifier(k=1).fit(words, [0, 0, 1, 1])
    >>> verifier.distances(words[:1]).round(6).tolist()[0][0]
    0.0
    """

    def __init__(self, k: int = 10, n_ceps: int = 20, floor: float = 0.35, frame_step: int = 1,
                 n_jobs: int = -1) -> None:
        if int(k) != k or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        self.k, self.n_ceps, self.floor, self.frame_step, self.n_jobs = int(k), n_ceps, floor, frame_step, n_jobs

    def _cepstra(self, images) -> list[np.ndarray]:
        return word_cepstra(images, n_ceps=self.n_ceps, floor=self.floor, frame_step=self.frame_step)

    def fit(self, images, labels, groups=None) -> TemplateVerifier:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise ShapeError(f"labels must be (N,) with N = {len(images)} templates, got shape {labels.shape}")
        if groups is not None and np.shape(groups) != labels.shape:
            raise ShapeError(f"groups must be (N,) with N = {len(images)} templates, got shape {np.shape(groups)}")
        self.template_groups_ = None if groups is None else np.asarray(groups)
        self.classes_, self.template_labels_ = np.unique(labels, return_inverse=True)
        counts = np.bincount(self.template_labels_)
        if counts.min() < self.k:
            c = self.classes_[int(counts.argmin())].item()
            raise ConfigError(f"class {c!r} has {counts.min()} templates, fewer than k={self.k}")
        self.templates_ = self._cepstra(images)
        self.n_mels_ = np.shape(images)[1]
        return self

    def distances(self, images, groups=None) -> np.ndarray:
        if not hasattr(self, "templates_"):
            raise ConfigError("TemplateVerifier is not fitted: call fit(images, labels) first")
        x = np.asarray(images)
        if x.ndim != 3 or x.shape[1] != self.n_mels_:
            raise ShapeError(f"distances expects log-mel images (N, {self.n_mels_}, T) like the templates, "
                             f"got shape {x.shape}")
        finite = np.isfinite(x.reshape(len(x), -1)).all(1)
        if not finite.all():  # before merging identical images, so the index is the caller's
            raise ShapeError(f"distances: image {int(np.flatnonzero(~finite)[0])} holds NaN or inf")
        if groups is not None:
            if self.template_groups_ is None:
                raise ConfigError("distances(groups=...) needs templates fitted with groups")
            if np.shape(groups) != (len(x),):
                raise ShapeError(f"groups must be (N,) with N = {len(x)} queries, got shape {np.shape(groups)}")
            unique, inverse = x, np.arange(len(x))  # a query's own group is left out: no merging of copies
        else:
            unique, inverse = np.unique(x.reshape(len(x), -1), axis=0, return_inverse=True)
            unique = unique.reshape((-1,) + x.shape[1:])
        queries = self._cepstra(unique)
        cost = cdist_dtw(queries, self.templates_, step_pattern="symmetric2", n_jobs=self.n_jobs) ** 2
        cost /= np.add.outer([len(q) for q in queries], [len(t) for t in self.templates_])
        if groups is not None:
            cost[np.asarray(groups)[:, None] == self.template_groups_[None, :]] = np.inf
        out = np.stack([np.sort(cost[:, self.template_labels_ == c], axis=1)[:, :self.k].mean(1)
                        for c in range(len(self.classes_))], axis=1)
        return out[inverse.ravel()]

    def score(self, images, predicted) -> np.ndarray:
        """Distance of each word to the templates of its predicted class ``(N,)``."""
        predicted = np.asarray(predicted)
        index = np.searchsorted(self.classes_, predicted)
        if predicted.shape != (len(images),) or not np.array_equal(self.classes_[np.minimum(
                index, len(self.classes_) - 1)], predicted):
            raise ShapeError(f"predicted must be (N,) labels among {self.classes_.tolist()}, N = {len(images)}")
        return self.distances(images)[np.arange(len(predicted)), index]
