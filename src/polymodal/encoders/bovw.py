r"""SIFT keypoints and descriptors, and a bag-of-visual-words image encoder.

* SIFT (Lowe, "Distinctive image features from scale-invariant keypoints",
  IJCV 2004): keypoints at extrema of the difference-of-Gaussians scale space,
  each described by 4 x 4 cells x 8 orientation bins = 128 gradient-orientation
  histograms relative to the keypoint's dominant orientation. scikit-image's
  ``skimage.feature.SIFT`` does the work; :func:`sift` wraps one image.
* Bag of visual words (Csurka, Dance, Fan, Willamowski & Bray, "Visual
  categorization with bags of keypoints", ECCV workshop 2004; Sivic &
  Zisserman, ICCV 2003): k-means on the training descriptors gives a
  vocabulary :math:`\{c_k\}`; an image is the histogram
  :math:`h_k = \#\{d \in D(I) : \arg\min_j \lVert d - c_j\rVert = k\}`,
  normalised to sum 1 (``norm="l1"``, with the square root for ``"hellinger"``).
  An image with no keypoint gets the zero vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.encoders.descriptors import _ImageTransformer, _gray
from polymodal.errors import ConfigError

__all__ = ["SIFTFeatures", "sift", "BagOfVisualWords"]


@dataclass
class SIFTFeatures:
    """Keypoints ``(n, 2)`` (row, col), their ``scales`` and ``orientations`` ``(n,)``, descriptors ``(n, 128)``."""

    keypoints: np.ndarray
    scales: np.ndarray
    orientations: np.ndarray
    descriptors: np.ndarray


def sift(image: np.ndarray, upsampling: int = 2, n_octaves: int = 8, c_dog: float = 0.04 / 3) -> SIFTFeatures:
    """SIFT keypoints and descriptors of one grey image (float in [0, 1]) by scikit-image.

    An image without keypoints gives empty arrays (scikit-image raises instead)."""
    from skimage.feature import SIFT

    extractor = SIFT(upsampling=upsampling, n_octaves=n_octaves, c_dog=c_dog)
    try:
        extractor.detect_and_extract(np.asarray(image, dtype=np.float64))
    except RuntimeError:  # scikit-image: "SIFT found no features" on flat images
        return SIFTFeatures(np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros((0, 128), dtype=np.uint8))
    return SIFTFeatures(extractor.keypoints, extractor.scales, extractor.orientations, extractor.descriptors)


class BagOfVisualWords(_ImageTransformer):
    """SIFT descriptors quantised against a k-means vocabulary; one histogram per image.

    Parameters
    ----------
    n_words : vocabulary size (k-means clusters)
    norm : ``"l1"`` (frequencies), ``"hellinger"`` (square roots of the frequencies) or ``None`` (counts)
    upsampling, n_octaves, c_dog : scikit-image SIFT settings (upsample small images to find keypoints)
    input_range : pixel value of white (default: 255 for uint8, 1.0 otherwise)
    max_descriptors : k-means sees at most this many training descriptors (a random subset)
    random_state : seed of the subset and of k-means

    Attributes ``vocabulary_`` (n_words, 128), ``n_features_out_``.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> X = gaussian_filter(np.random.default_rng(0).random((4, 40, 40)), (0, 1, 1))
    >>> bovw = BagOfVisualWords(n_words=5, input_range=1.0).fit(X)
    >>> np.allclose(bovw.transform(X).sum(1), 1.0)    # visual-word frequencies
    True
    """

    def __init__(self, n_words: int = 100, norm: str | None = "l1", upsampling: int = 2, n_octaves: int = 8,
                 c_dog: float = 0.04 / 3, input_range: float | None = None, max_descriptors: int = 100_000,
                 random_state: int | None = 0):
        self.n_words = n_words
        self.norm = norm
        self.upsampling = upsampling
        self.n_octaves = n_octaves
        self.c_dog = c_dog
        self.input_range = input_range
        self.max_descriptors = max_descriptors
        self.random_state = random_state

    def _check_params(self, X: np.ndarray) -> None:
        if int(self.n_words) < 1:
            raise ConfigError(f"n_words must be >= 1; got {self.n_words!r}")
        if self.norm not in ("l1", "hellinger", None):
            raise ConfigError(f"norm must be 'l1', 'hellinger' or None; got {self.norm!r}")
        if self.upsampling not in (1, 2, 4):
            raise ConfigError(f"upsampling must be 1, 2 or 4 (scikit-image); got {self.upsampling!r}")

    def _descriptors(self, X: np.ndarray) -> list[np.ndarray]:
        scale = float(self.input_range) if self.input_range is not None else (255.0 if X.dtype == np.uint8 else 1.0)
        gray = _gray(X).astype(np.float64) / scale
        return [sift(g, self.upsampling, self.n_octaves, self.c_dog).descriptors.astype(np.float32) for g in gray]

    def fit(self, X, y=None):
        """Extract SIFT descriptors of the training images and cluster them into ``n_words`` visual words."""
        from polymodal.encoders.descriptors import _check_images

        X = _check_images(X)
        self._check_params(X)
        self._fit_vocabulary(self._descriptors(X), X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X).transform(X)`` with SIFT run once per image (the training descriptors are
        clustered, then quantised; ``fit`` then ``transform`` would extract them twice)."""
        from polymodal.encoders.descriptors import _check_images

        X = _check_images(X)
        self._check_params(X)
        descriptors = self._descriptors(X)
        self._fit_vocabulary(descriptors, X)
        return self._histograms(descriptors)

    def _fit_vocabulary(self, descriptors: list[np.ndarray], X: np.ndarray) -> None:
        from sklearn.cluster import KMeans

        pool = np.concatenate(descriptors)
        if len(pool) < int(self.n_words):
            raise ConfigError(f"the training images give {len(pool)} SIFT descriptors, fewer than n_words="
                              f"{self.n_words}: use more or larger images, upsampling, or fewer words")
        rng = np.random.default_rng(self.random_state)
        if len(pool) > self.max_descriptors:
            pool = pool[rng.choice(len(pool), self.max_descriptors, replace=False)]
        kmeans = KMeans(int(self.n_words), n_init=3, random_state=self.random_state).fit(pool)
        self.vocabulary_ = kmeans.cluster_centers_.astype(np.float32)
        self.image_shape_ = X.shape[1:]
        self.n_features_out_ = int(self.n_words)

    def _features(self, X: np.ndarray) -> np.ndarray:
        return self._histograms(self._descriptors(X))

    def _histograms(self, descriptors: list[np.ndarray]) -> np.ndarray:
        from sklearn.metrics import pairwise_distances_argmin

        out = np.zeros((len(descriptors), int(self.n_words)))
        for i, d in enumerate(descriptors):
            if len(d):
                out[i] = np.bincount(pairwise_distances_argmin(d, self.vocabulary_), minlength=int(self.n_words))
        if self.norm is not None:
            out = out / np.maximum(out.sum(1, keepdims=True), 1e-12)
            if self.norm == "hellinger":
                out = np.sqrt(out)
        return out

    def transform(self, X) -> np.ndarray:
        """Visual-word histograms ``(N, n_words)``."""
        if not hasattr(self, "vocabulary_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("BagOfVisualWords is not fitted: call fit(images) first")
        return super().transform(X)
