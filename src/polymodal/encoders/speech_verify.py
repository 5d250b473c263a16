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

from typing import ClassVar

import numpy as np
from scipy.fft import dct
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

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
    leaves DTW ``frame_step**2`` times fewer cells to fill.
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


_IMAGES = "input: log-mel images (N, n_mels, T), not a 2-D table; bad input gets polymodal's ShapeError message"


class TemplateVerifier(TransformerMixin, BaseEstimator):
    """Class-conditional DTW template distances of spoken words (module docstring: the equation), as a
    scikit-learn transformer: ``fit(X, y)`` stores the templates, ``transform(X)`` is ``(N, C)``.

    Parameters
    ----------
    k : number of nearest templates of a class averaged into its distance
    n_ceps, floor, frame_step : :func:`word_cepstra`'s
    n_jobs : DTW threads (-1: all)

    ``fit(X, y, groups=None)`` stores the templates (log-mel images ``(N, n_mels, T)``) and their classes;
    ``transform(X, groups=None)`` is ``(N, C)``, the columns in the order of ``classes_``;
    ``distance_to(X, labels)`` is each word's distance to a given class, e.g. the one a classifier assigned
    (larger: a worse match). Identical query images are aligned once. ``groups`` (e.g. speakers), given to both, leave
    out the templates of a query's own group (leave-one-group-out distances of the templates' own copies); a
    class left with fewer than ``k`` templates outside the group is at distance ``inf``.

    >>> rng = np.random.default_rng(0)
    >>> words = rng.random((4, 40, 30))
    >>> verifier = TemplateVerifier(k=1).fit(words, [0, 0, 1, 1])
    >>> verifier.transform(words[:1]).round(6).tolist()[0][0]
    0.0
    """

    # every check that feeds a 2-D table: the input is a batch of log-mel images (N, n_mels, T)
    _expected_failed_checks: ClassVar[dict[str, str]] = {c: _IMAGES for c in (
        "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data", "check_dtype_object",
        "check_estimators_empty_data_messages", "check_pipeline_consistency", "check_estimators_nan_inf",
        "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array", "check_transformer_general",
        "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
        "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d")}

    def __init__(self, k: int = 10, n_ceps: int = 20, floor: float = 0.35, frame_step: int = 1,
                 n_jobs: int = -1) -> None:
        self.k = k
        self.n_ceps = n_ceps
        self.floor = floor
        self.frame_step = frame_step
        self.n_jobs = n_jobs

    def _cepstra(self, images) -> list[np.ndarray]:
        return word_cepstra(images, n_ceps=self.n_ceps, floor=self.floor, frame_step=self.frame_step)

    def fit(self, X, y, groups=None) -> TemplateVerifier:
        """Store the templates ``X`` (log-mel images ``(N, n_mels, T)``) of classes ``y`` (and their
        ``groups``)."""
        if int(self.k) != self.k or self.k < 1:
            raise ConfigError(f"k must be a positive integer, got {self.k!r}")
        images, labels = X, np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(images):
            raise ShapeError(f"labels must be (N,) with N = {len(images)} templates, got shape {labels.shape}")
        if groups is not None and np.shape(groups) != labels.shape:
            raise ShapeError(f"groups must be (N,) with N = {len(images)} templates, got shape {np.shape(groups)}")
        self.template_groups_ = None if groups is None else np.asarray(groups)
        self.classes_, self.template_labels_ = np.unique(labels, return_inverse=True)
        counts = np.bincount(self.template_labels_)
        if counts.min() < int(self.k):
            c = self.classes_[int(counts.argmin())].item()
            raise ConfigError(f"class {c!r} has {counts.min()} templates, fewer than k={self.k}")
        self.n_mels_ = np.shape(images)[1] if np.ndim(images) == 3 else None
        self.templates_ = self._cepstra(images)
        return self

    def transform(self, X, groups=None) -> np.ndarray:
        """Distances ``(N, C)`` of the words ``X`` to each class's templates (columns: ``classes_``)."""
        check_is_fitted(self, "templates_")
        x = np.asarray(X)
        if x.ndim != 3 or x.shape[1] != self.n_mels_:
            raise ShapeError(f"transform expects log-mel images (N, {self.n_mels_}, T) like the templates, "
                             f"got shape {x.shape}")
        finite = np.isfinite(x.reshape(len(x), -1)).all(1)
        if not finite.all():  # before merging identical images, so the index is the caller's
            raise ShapeError(f"transform: image {int(np.flatnonzero(~finite)[0])} holds NaN or inf")
        if groups is not None:
            if self.template_groups_ is None:
                raise ConfigError("transform(groups=...) needs templates fitted with groups")
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
        out = np.stack([np.sort(cost[:, self.template_labels_ == c], axis=1)[:, :int(self.k)].mean(1)
                        for c in range(len(self.classes_))], axis=1)
        return out[inverse.ravel()]

    def distance_to(self, X, labels) -> np.ndarray:
        """Distance ``(N,)`` of each word to the templates of its class in ``labels`` (e.g. the predicted one)."""
        check_is_fitted(self, "templates_")
        labels = np.asarray(labels)
        index = np.searchsorted(self.classes_, labels)
        if labels.shape != (len(X),) or not np.array_equal(self.classes_[np.minimum(
                index, len(self.classes_) - 1)], labels):
            raise ShapeError(f"labels must be (N,) classes among {self.classes_.tolist()}, N = {len(X)}")
        return self.transform(X)[np.arange(len(labels)), index]
