r"""Optical flow and histograms of optical flow (motion descriptors for video frames).

* Optical flow: the apparent motion :math:`(u, v)` between frames
  :math:`I_0, I_1` with :math:`I_1(x + u, y + v) \approx I_0(x, y)`, by TV-L1
  (Zach, Pock & Bischof, DAGM 2007; Wedel et al. 2009: minimises
  :math:`\int \lambda |I_1(x + w) - I_0(x)| + |\nabla u| + |\nabla v|`) or by
  iterative Lucas-Kanade (Lucas & Kanade, IJCAI 1981: least squares of the
  brightness-constancy equation over a window). scikit-image does the work
  (``optical_flow_tvl1``, ``optical_flow_ilk``); :func:`optical_flow` returns
  its ``(2, H, W)`` field, row (y) displacement first, as scikit-image does.
* Histogram of optical flow, HOF (Laptev, Marszałek, Schmid & Rozenfeld,
  "Learning realistic human actions from movies", CVPR 2008; Dalal, Triggs &
  Schmid, ECCV 2006): per grid cell, flow vectors binned by signed direction
  :math:`\operatorname{atan2}(v, u)` into ``orientations`` bins centred on
  :math:`2\pi k / n` (bin 0: rightward, bin :math:`n/4`: downward, rows growing),
  weighted by magnitude, plus Laptev's extra "no motion" bin counting the
  pixels whose magnitude is below ``min_magnitude``; averaged over the frame
  pairs of a clip and L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from polymodal.encoders.descriptors import IMAGE_EXPECTED_FAILURES, _cells, _pair
from polymodal.errors import ConfigError, ShapeError

__all__ = ["optical_flow", "FlowHistogram"]


def optical_flow(frame0: np.ndarray, frame1: np.ndarray, method: str = "tvl1", **kwargs) -> np.ndarray:
    """Flow ``(2, H, W)`` = (row displacement v, column displacement u) taking ``frame0`` to ``frame1``:
    :math:`I_1(x + u, y + v) \\approx I_0(x, y)`.

    ``method`` is ``"tvl1"`` (``skimage.registration.optical_flow_tvl1``) or
    ``"ilk"`` (``optical_flow_ilk``); ``kwargs`` go to scikit-image.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> from scipy.ndimage import gaussian_filter, shift
    >>> f0 = gaussian_filter(rng.random((32, 32)), 2)
    >>> flow = optical_flow(f0, shift(f0, (0, 1), mode="wrap"))
    >>> bool(abs(np.median(flow[1]) - 1) < 0.05)           # moved 1 px right: u = +1
    True
    """
    from skimage.registration import optical_flow_ilk, optical_flow_tvl1

    f0, f1 = (np.asarray(f, dtype=np.float64) for f in (frame0, frame1))
    if f0.ndim != 2 or f0.shape != f1.shape:
        raise ShapeError(f"frames must be two grey images of the same shape (H, W); got {f0.shape} and {f1.shape}")
    if not (np.isfinite(f0).all() and np.isfinite(f1).all()):
        raise ShapeError("frames contain NaN or inf")
    if method == "tvl1":
        return optical_flow_tvl1(f0, f1, **kwargs)
    if method == "ilk":
        return optical_flow_ilk(f0, f1, **kwargs)
    raise ConfigError(f"method must be 'tvl1' or 'ilk'; got {method!r}")


class FlowHistogram(TransformerMixin, BaseEstimator):
    """HOF descriptor of clips ``(N, T, H, W)``: flow between consecutive frames, binned per cell.

    Parameters
    ----------
    orientations : signed direction bins over :math:`[0, 2\\pi)` (Laptev et al. use 4)
    grid : cells per side (rows, cols)
    min_magnitude : flow below this (pixels per frame) counts in the "no motion" bin
    method : ``"tvl1"`` or ``"ilk"`` (see :func:`optical_flow`)
    input_range : pixel value of white (default: 255 for uint8, 1.0 otherwise)

    Output: ``(N, cells * (orientations + 1))``.
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = {
        c: "video input: X is a batch of grey clips (N, T, H, W); scikit-learn's checks pass 2-D tables"
        for c in IMAGE_EXPECTED_FAILURES
    }

    def __init__(self, orientations: int = 4, grid: int | Sequence[int] = (2, 2), min_magnitude: float = 0.1,
                 method: str = "tvl1", input_range: float | None = None):
        self.orientations = orientations
        self.grid = grid
        self.min_magnitude = min_magnitude
        self.method = method
        self.input_range = input_range

    def _check(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[1] < 2 or X.shape[2] < 3 or X.shape[3] < 3:
            raise ShapeError(f"X must be clips of grey frames (N, T >= 2, H, W); got shape {X.shape}")
        if int(self.orientations) < 1:
            raise ConfigError(f"orientations must be >= 1; got {self.orientations!r}")
        if self.method not in ("tvl1", "ilk"):
            raise ConfigError(f"method must be 'tvl1' or 'ilk'; got {self.method!r}")
        _pair(self.grid, "grid")
        return X

    def fit(self, X, y=None):
        """Check the parameters and record the clip shape (the descriptor is fixed)."""
        X = self._check(X)
        self.clip_shape_ = X.shape[1:]
        self.n_features_out_ = len(_cells(X.shape[2], X.shape[3], _pair(self.grid, "grid"))) * (
            int(self.orientations) + 1)
        return self

    def histogram(self, flow: np.ndarray) -> np.ndarray:
        """HOF of one flow field ``(2, H, W)`` (not normalised)."""
        v, u = flow
        magnitude = np.hypot(u, v)
        n = int(self.orientations)
        bins = np.mod(np.round(np.arctan2(v, u) / (2 * np.pi) * n).astype(int), n)  # centred on 2 pi k / n
        still = magnitude < float(self.min_magnitude)
        bins = np.where(still, n, bins)
        weight = np.where(still, 1.0, magnitude)
        return np.concatenate([np.bincount(bins[r, c].ravel(), weights=weight[r, c].ravel(), minlength=n + 1)
                               for r, c in _cells(*u.shape, _pair(self.grid, "grid"))])

    def transform(self, X) -> np.ndarray:
        """HOF features ``(N, n_features_out_)`` float64, each row L2-normalised."""
        X = self._check(X)
        if hasattr(self, "clip_shape_") and X.shape[1:] != self.clip_shape_:
            raise ShapeError(f"X clips must have the fitted shape {self.clip_shape_}; got {X.shape[1:]}")
        scale = float(self.input_range) if self.input_range is not None else (255.0 if X.dtype == np.uint8 else 1.0)
        out = []
        for clip in X.astype(np.float64) / scale:
            h = np.mean([self.histogram(optical_flow(a, b, self.method)) for a, b in zip(clip[:-1], clip[1:])], 0)
            out.append(h / max(float(np.linalg.norm(h)), 1e-12))
        return np.stack(out)
