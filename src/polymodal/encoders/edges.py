r"""Image gradients and edges as a descriptor: Sobel and Canny edge-orientation histograms.

The tutorial's first visual features beside HOG and Gabor: image gradients
:math:`g = (\partial_x I, \partial_y I)` by the Sobel operator (Sobel &
Feldman 1968) and edges by the Canny detector (Canny, "A computational
approach to edge detection", TPAMI 1986: Gaussian smoothing, Sobel gradient,
non-maximum suppression, hysteresis thresholds). The pixel work is
scikit-image's (``skimage.filters.sobel_h``/``sobel_v``,
``skimage.feature.canny``); this module turns it into a fixed feature vector:
per cell of a ``grid``, the histogram of unsigned edge orientations
:math:`\theta = \operatorname{atan2}(g_y, g_x) \bmod \pi` in ``orientations``
bins, each pixel weighted by :math:`\lVert g \rVert` (``"sobel"``) or by 1 if
Canny marks it an edge (``"canny"``), plus the cell's mean weight (edge
density); the whole vector is L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polymodal.encoders.descriptors import _ImageTransformer, _cells, _gray, _pair
from polymodal.errors import ConfigError

__all__ = ["image_gradients", "EdgeOrientationHistogram"]


def image_gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel gradients ``(g_y, g_x)`` of one grey image (float), as scikit-image's
    ``sobel_h`` (derivative along rows, i.e. y) and ``sobel_v`` (along columns, x)."""
    from skimage.filters import sobel_h, sobel_v

    image = np.asarray(image, dtype=np.float64)
    return sobel_h(image), sobel_v(image)


class EdgeOrientationHistogram(_ImageTransformer):
    r"""Per-cell histograms of edge orientations from Sobel gradients or Canny edges.

    Parameters
    ----------
    detector : ``"sobel"`` (every pixel, weight :math:`\lVert g\rVert`) or
        ``"canny"`` (Canny edge pixels, weight 1; orientation from the Sobel gradient
        of the Gaussian-smoothed image, the one Canny thresholds)
    orientations : number of unsigned orientation bins over :math:`[0, \pi)`
    grid : cells per side (rows, cols)
    sigma : Canny's Gaussian smoothing (pixels)
    input_range : pixel value of white (255 for uint8, 1.0 for float images in [0, 1]);
        images are divided by it, so features do not depend on the batch

    Examples
    --------
    >>> X = np.zeros((1, 16, 16)); X[0, :, 8:] = 1.0          # one vertical edge
    >>> h = EdgeOrientationHistogram(orientations=4, grid=1, input_range=1.0).fit_transform(X)
    >>> int(np.argmax(h[0, :4]))                               # gradient along x: orientation bin 0
    0
    """

    def __init__(self, detector: str = "sobel", orientations: int = 8, grid: int | Sequence[int] = (4, 4),
                 sigma: float = 1.0, input_range: float | None = None):
        self.detector = detector
        self.orientations = orientations
        self.grid = grid
        self.sigma = sigma
        self.input_range = input_range

    def _check_params(self, X: np.ndarray) -> None:
        if self.detector not in ("sobel", "canny"):
            raise ConfigError(f"detector must be 'sobel' or 'canny'; got {self.detector!r}")
        if int(self.orientations) < 1:
            raise ConfigError(f"orientations must be >= 1; got {self.orientations!r}")
        rows, cols = _pair(self.grid, "grid")
        if rows > X.shape[1] or cols > X.shape[2]:
            raise ConfigError(f"grid {(rows, cols)} has more cells than the {X.shape[1]} x {X.shape[2]} image")
        if not float(self.sigma) > 0:
            raise ConfigError(f"sigma must be > 0; got {self.sigma!r}")
        if self.input_range is not None and not float(self.input_range) > 0:
            raise ConfigError(f"input_range must be > 0; got {self.input_range!r}")

    def _scale(self, X: np.ndarray) -> float:
        if self.input_range is not None:
            return float(self.input_range)
        return 255.0 if X.dtype == np.uint8 else 1.0

    def _one(self, image: np.ndarray) -> np.ndarray:
        from scipy import ndimage
        from skimage.feature import canny

        if self.detector == "canny":
            edges = canny(image, sigma=float(self.sigma))
            gy, gx = image_gradients(ndimage.gaussian_filter(image, float(self.sigma), mode="nearest"))
            weight = edges.astype(np.float64)
        else:
            gy, gx = image_gradients(image)
            weight = np.hypot(gx, gy)
        theta = np.mod(np.arctan2(gy, gx), np.pi)
        n = int(self.orientations)
        bins = np.minimum((theta / np.pi * n).astype(int), n - 1)
        feats = []
        for rows, cols in _cells(*image.shape, _pair(self.grid, "grid")):
            w = weight[rows, cols].ravel()
            feats.append(np.bincount(bins[rows, cols].ravel(), weights=w, minlength=n))
            feats.append([w.mean()])
        v = np.concatenate(feats)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def _features(self, X: np.ndarray) -> np.ndarray:
        gray = _gray(X).astype(np.float64) / self._scale(X)
        return np.stack([self._one(image) for image in gray])
