"""Classic hand-crafted visual descriptors as scikit-learn transformers: HOG, LBP histograms, Gabor banks.

Fixed (untrained) feature extractors, so they are data transforms, not torch
modules: ``fit`` only records the image shape, ``transform`` maps a batch of
images ``(N, H, W)`` or ``(N, H, W, C)`` (uint8 or float) to a feature matrix
``(N, F)``. The pixel work is done by scikit-image (``hog``,
``local_binary_pattern``, ``gabor_kernel``); they drop into a
``sklearn.pipeline.Pipeline`` in front of any classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

from polymodal.core.contract import expected_failures
from polymodal.errors import ConfigError, ShapeError

__all__ = ["HOGDescriptor", "LBPHistogram", "GaborFilterBank", "lbp_n_bins"]


def _check_images(X, name: str = "X") -> np.ndarray:
    """A batch of images as an array (N, H, W) or (N, H, W, C) with C in 1..4; ShapeError otherwise."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise ShapeError(f"{name} must be a numeric image array; got dtype {X.dtype}")
    if X.ndim == 4 and not 1 <= X.shape[-1] <= 4:
        raise ShapeError(f"{name} must have shape (N, H, W) or (N, H, W, C) with C in 1..4 channels; "
                         f"got {X.shape} (C = {X.shape[-1]})")
    if X.ndim not in (3, 4):
        raise ShapeError(f"{name} must be a batch of images of shape (N, H, W) or (N, H, W, C); got shape "
                         f"{X.shape} ({X.ndim}-D; wrap a single image as X[None])")
    if X.shape[0] == 0 or X.shape[1] < 3 or X.shape[2] < 3:
        raise ShapeError(f"{name} must hold at least one image of at least 3 x 3 pixels; got shape {X.shape}")
    if np.issubdtype(X.dtype, np.inexact) and not np.isfinite(X).all():
        i = int(np.flatnonzero(~np.isfinite(X).reshape(len(X), -1).all(1))[0])
        raise ShapeError(f"{name}: image {i} contains NaN or inf pixels; expected finite values")
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    return X


def _gray(X: np.ndarray) -> np.ndarray:
    """Luminance (ITU-R BT.709 weights, as ``skimage.color.rgb2gray``) of (N, H, W, C) images, same scale as the input."""
    if X.ndim == 3:
        return X
    if X.shape[-1] == 2:  # grey + alpha
        return X[..., 0]
    weights = np.array([0.2125, 0.7154, 0.0721])
    g = X[..., :3].astype(np.float64) @ weights
    return np.clip(np.round(g), 0, 255).astype(np.uint8) if X.dtype == np.uint8 else g


def _cells(h: int, w: int, grid: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Row-major ``grid`` of near-equal cells covering an (h, w) image (``np.array_split`` boundaries)."""
    rows = np.array_split(np.arange(h), grid[0])
    cols = np.array_split(np.arange(w), grid[1])
    return [(slice(r[0], r[-1] + 1), slice(c[0], c[-1] + 1)) for r in rows for c in cols]


def _pair(value, name: str) -> tuple[int, int]:
    v = (value, value) if np.isscalar(value) else tuple(value)
    if len(v) != 2 or any(int(x) != x or x < 1 for x in v):
        raise ConfigError(f"{name} must be a positive int or a pair of positive ints; got {value!r}")
    return int(v[0]), int(v[1])


IMAGE_INPUT = "image input: X is a batch of images (N, H, W[, C]); scikit-learn's checks pass 2-D tables"
IMAGE_EXPECTED_FAILURES: dict[str, str] = expected_failures(IMAGE_INPUT, also=(
    "check_estimator_sparse_tag",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
))


class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Shared fit/transform plumbing: fit records ``image_shape_`` and ``n_features_out_``."""

    _expected_failed_checks: ClassVar[dict[str, str]] = IMAGE_EXPECTED_FAILURES

    def _validate(self, X) -> np.ndarray:
        X = _check_images(X)
        if hasattr(self, "image_shape_") and X.shape[1:] != self.image_shape_:
            raise ShapeError(f"X images must have the fitted shape {self.image_shape_}; got {X.shape[1:]}")
        return X

    def fit(self, X, y=None):
        """Check the parameters and record the image shape (no learning: the descriptor is fixed)."""
        X = _check_images(X)
        self._check_params(X)
        self.image_shape_ = X.shape[1:]
        self.n_features_out_ = self._features(X[:1]).shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Descriptors of a batch of images: (N, n_features_out_) float64."""
        X = self._validate(X)
        self._check_params(X)
        return self._features(X)


class HOGDescriptor(_ImageTransformer):
    r"""Histogram of oriented gradients per image (``skimage.feature.hog``).

    Dalal & Triggs, "Histograms of oriented gradients for human detection", CVPR 2005.
    Gradients :math:`g = (\partial_x I, \partial_y I)` are binned by unsigned
    orientation :math:`\theta = \arctan(g_y/g_x) \bmod \pi` into ``orientations``
    bins per cell, weighted by :math:`\lVert g\rVert`; histograms of
    ``cells_per_block`` neighbouring cells are concatenated and normalised
    (``block_norm``, L2-Hys: :math:`v \leftarrow \min(v/\lVert v\rVert_2, 0.2)`,
    renormalised). Colour images use the channel with the largest gradient.

    Parameters
    ----------
    orientations : int
    pixels_per_cell : (int, int)
    cells_per_block : (int, int)
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}
    transform_sqrt : bool — gamma (square-root) compression first

    Examples
    --------
    >>> X = np.random.default_rng(0).integers(0, 256, (2, 28, 28)).astype(np.uint8)
    >>> HOGDescriptor(pixels_per_cell=(7, 7), cells_per_block=(2, 2)).fit_transform(X).shape
    (2, 324)
    """

    def __init__(self, orientations: int = 9, pixels_per_cell: Sequence[int] = (8, 8),
                 cells_per_block: Sequence[int] = (3, 3), block_norm: str = "L2-Hys",
                 transform_sqrt: bool = False):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt

    def _check_params(self, X: np.ndarray) -> None:
        if int(self.orientations) < 1:
            raise ConfigError(f"orientations must be >= 1; got {self.orientations!r}")
        if self.block_norm not in ("L1", "L1-sqrt", "L2", "L2-Hys"):
            raise ConfigError(f"block_norm must be one of L1, L1-sqrt, L2, L2-Hys; got {self.block_norm!r}")
        ppc, cpb = _pair(self.pixels_per_cell, "pixels_per_cell"), _pair(self.cells_per_block, "cells_per_block")
        need = (ppc[0] * cpb[0], ppc[1] * cpb[1])
        if X.shape[1] < need[0] or X.shape[2] < need[1]:
            raise ShapeError(f"X images of size {X.shape[1:3]} are smaller than one HOG block "
                             f"(pixels_per_cell x cells_per_block = {need})")

    def _kwargs(self, X: np.ndarray) -> dict:
        return dict(orientations=int(self.orientations), pixels_per_cell=_pair(self.pixels_per_cell, "ppc"),
                    cells_per_block=_pair(self.cells_per_block, "cpb"), block_norm=self.block_norm,
                    transform_sqrt=self.transform_sqrt, channel_axis=-1 if X.ndim == 4 else None)

    def _features(self, X: np.ndarray) -> np.ndarray:
        from skimage.feature import hog

        kw = self._kwargs(X)
        return np.stack([hog(img, feature_vector=True, **kw) for img in X]).astype(np.float64)

    def hog_image(self, image) -> np.ndarray:
        """The HOG visualisation (star of orientation bins per cell) of one image (H, W[, C])."""
        from skimage.feature import hog

        X = _check_images(np.asarray(image)[None], "image")
        self._check_params(X)
        return hog(X[0], visualize=True, **self._kwargs(X))[1]


def lbp_n_bins(P: int, method: str) -> int:
    """Number of distinct codes of ``skimage.feature.local_binary_pattern``: ``uniform`` P + 2,
    ``nri_uniform`` P (P - 1) + 3, ``default`` / ``ror`` 2^P."""
    if method == "uniform":
        return P + 2
    if method == "nri_uniform":
        return P * (P - 1) + 3
    if method in ("default", "ror"):
        return 2 ** P
    raise ConfigError(f"method must be one of default, ror, uniform, nri_uniform; got {method!r}")


class LBPHistogram(_ImageTransformer):
    r"""Histograms of local binary patterns, over the whole image or a grid of cells.

    Ojala, Pietikäinen & Mäenpää, "Multiresolution gray-scale and rotation
    invariant texture classification with local binary patterns", IEEE TPAMI 2002.
    The code of a pixel with value :math:`g_c` and ``P`` neighbours
    :math:`g_p` on a circle of radius ``R`` is
    :math:`\sum_p s(g_p - g_c) 2^p` with :math:`s(x) = [x \ge 0]`;
    ``uniform`` (the paper's :math:`LBP^{riu2}_{P,R}`) maps patterns with at most two
    0/1 transitions to their number of ones and the rest to ``P + 1``
    (rotation invariant, ``P + 2`` bins); ``ror`` is the minimum over circular
    rotations. The features are the ``grid`` cells' histograms concatenated
    (row-major), each divided by its pixel count when ``density``.
    Colour images are converted to luminance. skimage's codes are meant for
    integer grey levels, so images are quantised to
    :math:`\mathrm{round}(255\,x / \mathrm{input\_range})` per pixel, with the same
    documented scale for every image (never the batch's own maximum, so an
    image's features do not depend on its batch-mates); integer images with
    ``input_range=None`` are used as they are.

    Parameters
    ----------
    P : int — neighbours
    R : float — radius
    method : {"uniform", "ror", "default", "nri_uniform"}
    grid : (int, int) — cells (rows, cols)
    density : bool — normalise each cell histogram to sum 1
    input_range : float or None — pixel value of white: images hold values in
        ``[0, input_range]``; default ``None``: 1.0 for float images (in [0, 1]),
        integer images as they are (uint8 0..255). Values outside raise ShapeError.

    Examples
    --------
    >>> X = np.zeros((1, 8, 8), np.uint8)
    >>> float(LBPHistogram(P=8, R=1).fit_transform(X)[0, 8])  # flat image: every code is "all ones" (8)
    1.0
    """

    def __init__(self, P: int = 8, R: float = 1.0, method: str = "uniform", grid: Sequence[int] = (1, 1),
                 density: bool = True, input_range: float | None = None):
        self.P = P
        self.R = R
        self.method = method
        self.grid = grid
        self.density = density
        self.input_range = input_range

    def _check_params(self, X: np.ndarray) -> None:
        if int(self.P) < 1 or not float(self.R) > 0:
            raise ConfigError(f"P must be >= 1 and R > 0; got P={self.P!r}, R={self.R!r}")
        lbp_n_bins(int(self.P), self.method)
        if self.input_range is not None and not float(self.input_range) > 0:
            raise ConfigError(f"input_range must be > 0 (the pixel value of white); got {self.input_range!r}")
        grid = _pair(self.grid, "grid")
        if grid[0] > X.shape[1] or grid[1] > X.shape[2]:
            raise ShapeError(f"grid {grid} has more cells than X images have pixels {X.shape[1:3]}")

    def codes(self, X) -> np.ndarray:
        """The LBP code image of every image: (N, H, W) float64 (skimage's codes)."""
        from skimage.feature import local_binary_pattern

        X = _gray(_check_images(X))
        self._check_params(X)
        if self.input_range is not None or np.issubdtype(X.dtype, np.floating):
            # skimage warns on float images: quantise on the documented range, the same for every image
            white = 1.0 if self.input_range is None else float(self.input_range)
            lo, hi = X.min(), X.max()
            if lo < 0 or hi > white:
                hint = " (0..255 images: pass input_range=255)" if hi > 1 and white == 1.0 else ""
                raise ShapeError(f"X has values in [{lo:g}, {hi:g}], outside input_range [0, {white:g}]{hint}")
            X = np.round(X.astype(np.float64) * (255.0 / white)).astype(np.uint8)
        return np.stack([local_binary_pattern(img, int(self.P), float(self.R), self.method) for img in X])

    def _features(self, X: np.ndarray) -> np.ndarray:
        codes = self.codes(X).astype(np.int64)
        n_bins = lbp_n_bins(int(self.P), self.method)
        n = len(codes)
        out = []
        for rs, cs in _cells(codes.shape[1], codes.shape[2], _pair(self.grid, "grid")):
            cell = codes[:, rs, cs].reshape(n, -1)
            offset = (np.arange(n) * n_bins)[:, None]
            hist = np.bincount((cell + offset).ravel(), minlength=n * n_bins).reshape(n, n_bins).astype(np.float64)
            out.append(hist / cell.shape[1] if self.density else hist)
        return np.concatenate(out, axis=1)


class GaborFilterBank(_ImageTransformer):
    r"""Mean and variance of Gabor-filter magnitudes over orientations x frequencies (and grid cells).

    Manjunath & Ma, "Texture features for browsing and retrieval of image data",
    IEEE TPAMI 1996. Each kernel (``skimage.filters.gabor_kernel``)
    :math:`g_{f,\theta}(x, y) \propto \exp(-\tfrac{x'^2}{2\sigma_x^2} - \tfrac{y'^2}{2\sigma_y^2})
    e^{i 2\pi f x'}`, :math:`x' = x\cos\theta + y\sin\theta`, is convolved with the
    image (reflect boundary, as ``scipy.ndimage.convolve``); the features per
    kernel and cell are :math:`\mu = \mathrm{mean}|I * g|` and
    :math:`\sigma^2 = \mathrm{var}|I * g|`, ordered (frequency, orientation, cell, [mean, var]).
    Colour images are converted to luminance; uint8 images are scaled to [0, 1].

    Parameters
    ----------
    frequencies : sequence of float — cycles per pixel
    n_orientations : int — :math:`\theta = k\pi/n`, k = 0..n-1
    bandwidth : float
    grid : (int, int) — cells (rows, cols) over which the statistics are taken

    Examples
    --------
    >>> X = np.random.default_rng(0).random((3, 16, 16))
    >>> GaborFilterBank(frequencies=(0.25,), n_orientations=4).fit_transform(X).shape
    (3, 8)
    """

    def __init__(self, frequencies: Sequence[float] = (0.1, 0.2, 0.3, 0.4), n_orientations: int = 4,
                 bandwidth: float = 1.0, grid: Sequence[int] = (1, 1)):
        self.frequencies = frequencies
        self.n_orientations = n_orientations
        self.bandwidth = bandwidth
        self.grid = grid

    def _check_params(self, X: np.ndarray) -> None:
        freqs = np.asarray(self.frequencies, dtype=float)
        if freqs.ndim != 1 or len(freqs) == 0 or np.any(freqs <= 0) or np.any(freqs > 0.5):
            raise ConfigError(f"frequencies must be a non-empty list of cycles/pixel in (0, 0.5]; "
                              f"got {self.frequencies!r}")
        if int(self.n_orientations) < 1 or not float(self.bandwidth) > 0:
            raise ConfigError(f"n_orientations must be >= 1 and bandwidth > 0; got {self.n_orientations!r}, "
                              f"{self.bandwidth!r}")
        grid = _pair(self.grid, "grid")
        if grid[0] > X.shape[1] or grid[1] > X.shape[2]:
            raise ShapeError(f"grid {grid} has more cells than X images have pixels {X.shape[1:3]}")

    def kernels(self) -> list[np.ndarray]:
        """The complex kernels, frequency-major then orientation."""
        from skimage.filters import gabor_kernel

        n = int(self.n_orientations)
        return [gabor_kernel(float(f), theta=k * np.pi / n, bandwidth=float(self.bandwidth))
                for f in self.frequencies for k in range(n)]

    def responses(self, X) -> np.ndarray:
        """Complex responses :math:`I * g` for every image and kernel: (N, n_kernels, H, W) complex128.

        Real and imaginary parts equal ``scipy.ndimage.convolve(image, kernel.real / .imag,
        mode="reflect")``; computed batched: FFTs of the reflect-padded images (one per kernel
        size), one product and inverse FFT per kernel.
        """
        X = _gray(_check_images(X))
        self._check_params(X)
        X = X.astype(np.float64) / (255.0 if X.dtype == np.uint8 else 1.0)
        h, w = X.shape[1:]
        kernels = self.kernels()
        out = np.empty((len(X), len(kernels), h, w), np.complex128)
        if max(k.shape[0] for k in kernels) > 2 * h or max(k.shape[1] for k in kernels) > 2 * w:
            # np.pad's symmetric mode differs from ndimage's reflect beyond one image width: direct convolution
            for k, kern in enumerate(kernels):
                out[:, k] = (ndimage.convolve(X, kern.real[None], mode="reflect")
                             + 1j * ndimage.convolve(X, kern.imag[None], mode="reflect"))
            return out
        # circular convolution of the reflect-padded images; the valid part has no wrap-around
        spectra: dict[tuple[int, int], np.ndarray] = {}
        for k in sorted(range(len(kernels)), key=lambda i: kernels[i].shape):  # same sizes in a row
            kern = kernels[k]
            ph, pw = kern.shape[0] // 2, kern.shape[1] // 2
            size = (sp_fft.next_fast_len(h + 2 * ph), sp_fft.next_fast_len(w + 2 * pw))
            if (ph, pw) not in spectra:
                padded = np.pad(X, ((0, 0), (ph, ph), (pw, pw)), mode="symmetric")
                spectra = {(ph, pw): sp_fft.fft2(padded, s=size, axes=(1, 2))}  # keep one at a time
            full = sp_fft.ifft2(spectra[(ph, pw)] * sp_fft.fft2(kern, s=size), axes=(1, 2), overwrite_x=True)
            out[:, k] = full[:, 2 * ph:2 * ph + h, 2 * pw:2 * pw + w]
        return out

    def _features(self, X: np.ndarray, chunk: int = 256) -> np.ndarray:
        if len(X) > chunk:  # bounded memory: the responses are n_kernels complex images per image
            return np.concatenate([self._features(X[i:i + chunk]) for i in range(0, len(X), chunk)])
        mag = np.abs(self.responses(X))
        n, k = mag.shape[:2]
        cells = _cells(mag.shape[2], mag.shape[3], _pair(self.grid, "grid"))
        stats = np.empty((n, k, len(cells), 2))
        for c, (rs, cs) in enumerate(cells):
            part = mag[:, :, rs, cs].reshape(n, k, -1)
            stats[:, :, c, 0] = part.mean(axis=2)
            stats[:, :, c, 1] = part.var(axis=2)
        return stats.reshape(n, -1)
