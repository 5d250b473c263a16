"""HOG, LBP and Gabor descriptors against skimage / scipy / brute force references."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.color import rgb2gray
from skimage.feature import hog, local_binary_pattern
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from polymodal.encoders.descriptors import GaborFilterBank, HOGDescriptor, LBPHistogram, lbp_n_bins
from polymodal.errors import ConfigError, ShapeError


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    smooth = ndimage.gaussian_filter(rng.random((4, 24, 28)) * 255, sigma=(0, 1.5, 1.5))
    return np.clip(smooth * 3 - 250, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["uint8", "float", "rgb"])
def test_hog_equals_skimage_per_image(images, kind):
    rng = np.random.default_rng(1)
    X = {"uint8": images, "float": images / 255.0,
         "rgb": rng.integers(0, 256, images.shape + (3,)).astype(np.uint8)}[kind]
    params = dict(orientations=8, pixels_per_cell=(6, 7), cells_per_block=(2, 2), block_norm="L2-Hys")
    got = HOGDescriptor(**params).fit(X).transform(X)
    ref = np.stack([hog(x, channel_axis=-1 if kind == "rgb" else None, **params) for x in X])
    np.testing.assert_array_equal(got, ref)
    assert got.shape == (4, HOGDescriptor(**params).fit(X).n_features_out_)


def test_hog_image_is_skimage_visualisation(images):
    d = HOGDescriptor(pixels_per_cell=(6, 7), cells_per_block=(2, 2))
    ref = hog(images[0], pixels_per_cell=(6, 7), cells_per_block=(2, 2), visualize=True)[1]
    np.testing.assert_array_equal(d.hog_image(images[0]), ref)


def _brute_lbp4(img: np.ndarray, uniform: bool) -> np.ndarray:
    """LBP with P=4, R=1 by hand: neighbours right, up, left, down (zero outside), s(x) = x >= 0."""
    h, w = img.shape
    pad = np.zeros((h + 2, w + 2), np.int64)
    pad[1:-1, 1:-1] = img
    codes = np.zeros((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            c = pad[i + 1, j + 1]
            bits = [int(pad[i + 1 + di, j + 1 + dj] >= c) for di, dj in ((0, 1), (-1, 0), (0, -1), (1, 0))]
            if uniform:
                changes = sum(bits[p] != bits[(p + 1) % 4] for p in range(4))
                codes[i, j] = sum(bits) if changes <= 2 else 5
            else:
                codes[i, j] = sum(b << p for p, b in enumerate(bits))
    return codes


@pytest.mark.parametrize("method", ["uniform", "default"])
def test_lbp_histogram_equals_brute_force_count(images, method):
    grid = (2, 3)
    got = LBPHistogram(P=4, R=1, method=method, grid=grid, density=False).fit_transform(images)
    n_bins = lbp_n_bins(4, method)
    rows, cols = np.array_split(np.arange(24), 2), np.array_split(np.arange(28), 3)
    for n, img in enumerate(images):
        codes = _brute_lbp4(img, uniform=method == "uniform")
        ref = []
        for r in rows:
            for c in cols:
                counts = [0] * n_bins
                for code in codes[np.ix_(r, c)].ravel():
                    counts[code] += 1
                ref += counts
        np.testing.assert_array_equal(got[n], ref)


def test_lbp_histogram_counts_skimage_codes_with_density(images):
    got = LBPHistogram(P=8, R=1.5, method="nri_uniform", grid=(1, 1)).fit_transform(images)
    for n, img in enumerate(images):
        codes = local_binary_pattern(img, 8, 1.5, "nri_uniform").astype(int)
        ref = np.bincount(codes.ravel(), minlength=59) / codes.size
        np.testing.assert_allclose(got[n], ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


@pytest.mark.parametrize("method", ["ror", "uniform"])
def test_rotation_invariant_lbp_unchanged_by_90_degree_rotation(method):
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (5, 20, 20)).astype(np.uint8)
    d = LBPHistogram(P=8, R=1, method=method, density=False).fit(X)
    np.testing.assert_array_equal(d.transform(X), d.transform(np.rot90(X, 1, axes=(1, 2))))
    # the non-invariant code changes under the same rotation
    plain = LBPHistogram(P=8, R=1, method="default", density=False)
    assert not np.array_equal(plain.fit_transform(X), plain.fit_transform(np.rot90(X, 1, axes=(1, 2))))


def test_gabor_responses_equal_ndimage_convolution(images):
    bank = GaborFilterBank(frequencies=(0.1, 0.3), n_orientations=3, bandwidth=1.0)
    R = bank.responses(images)
    assert R.shape == (4, 6, 24, 28)
    x = images.astype(np.float64) / 255.0
    for k, kern in enumerate(bank.kernels()):
        for n in range(len(images)):
            np.testing.assert_allclose(R[n, k].real, ndimage.convolve(x[n], kern.real, mode="reflect"), atol=1e-12)
            np.testing.assert_allclose(R[n, k].imag, ndimage.convolve(x[n], kern.imag, mode="reflect"), atol=1e-12)


def test_gabor_small_image_falls_back_to_direct_convolution():
    x = np.random.default_rng(4).random((2, 7, 9))
    bank = GaborFilterBank(frequencies=(0.05,), n_orientations=2)  # kernels much larger than the image
    kern = bank.kernels()[1]
    assert kern.shape[0] > 14
    ref = ndimage.convolve(x[1], kern.real, mode="reflect") + 1j * ndimage.convolve(x[1], kern.imag, mode="reflect")
    np.testing.assert_allclose(bank.responses(x)[1, 1], ref, atol=1e-12)


def test_gabor_features_are_mean_and_variance_of_magnitude_per_cell(images):
    bank = GaborFilterBank(frequencies=(0.2,), n_orientations=2, grid=(2, 2))
    feats = bank.fit_transform(images)
    mag = np.abs(bank.responses(images))
    cells = [(slice(0, 12), slice(0, 14)), (slice(0, 12), slice(14, 28)),
             (slice(12, 24), slice(0, 14)), (slice(12, 24), slice(14, 28))]
    ref = [[f(mag[n, k][c]) for k in range(2) for c in cells for f in (np.mean, np.var)] for n in range(4)]
    np.testing.assert_allclose(feats, ref, rtol=1e-12)


def test_colour_images_use_luminance():
    rgb = np.random.default_rng(5).random((2, 16, 16, 3))
    bank = GaborFilterBank(frequencies=(0.25,), n_orientations=2)
    np.testing.assert_allclose(bank.fit_transform(rgb), bank.fit_transform(rgb2gray(rgb)), rtol=1e-12)


def test_gabor_bank_separates_stripe_orientations_in_a_pipeline():
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[0:20, 0:20]
    vertical = [np.sin(2 * np.pi * 0.25 * xx + p) for p in rng.uniform(0, 6, 20)]
    horizontal = [np.sin(2 * np.pi * 0.25 * yy + p) for p in rng.uniform(0, 6, 20)]
    X = np.stack(vertical + horizontal) + 0.3 * rng.standard_normal((40, 20, 20))
    y = np.repeat([0, 1], 20)
    model = make_pipeline(GaborFilterBank(frequencies=(0.25,), n_orientations=2), LogisticRegression())
    model.fit(X[::2], y[::2])
    assert model.score(X[1::2], y[1::2]) == 1.0
    # orientation 0 (kernel varying along x) responds most to vertical stripes
    feats = GaborFilterBank(frequencies=(0.25,), n_orientations=2).fit_transform(X)
    assert np.all(feats[:20, 0] > feats[:20, 2]) and np.all(feats[20:, 2] > feats[20:, 0])
    assert clone(model).get_params()["gaborfilterbank__frequencies"] == (0.25,)


@pytest.mark.parametrize("cls", [HOGDescriptor, LBPHistogram, GaborFilterBank])
def test_bad_shapes_raise_shape_error_naming_the_shape(cls):
    kw = {"pixels_per_cell": (4, 4), "cells_per_block": (1, 1)} if cls is HOGDescriptor else {}
    with pytest.raises(ShapeError, match=r"\(16, 16\)"):
        cls(**kw).fit(np.zeros((16, 16)))  # a single image, not a batch
    with pytest.raises(ShapeError, match="C = 5"):
        cls(**kw).fit(np.zeros((2, 16, 16, 5)))
    d = cls(**kw).fit(np.zeros((2, 16, 16)))
    with pytest.raises(ShapeError, match=r"fitted shape \(16, 16\); got \(16, 12\)"):
        d.transform(np.zeros((2, 16, 12)))


def test_bad_parameters():
    with pytest.raises(ShapeError, match="smaller than one HOG block"):
        HOGDescriptor(pixels_per_cell=(8, 8), cells_per_block=(3, 3)).fit(np.zeros((1, 16, 16)))
    with pytest.raises(ConfigError, match="method"):
        LBPHistogram(method="var").fit(np.zeros((1, 8, 8)))
    with pytest.raises(ConfigError, match="frequencies"):
        GaborFilterBank(frequencies=(0.7,)).fit(np.zeros((1, 8, 8)))
    with pytest.raises(ConfigError, match="grid"):
        LBPHistogram(grid=(0, 2)).fit(np.zeros((1, 8, 8)))


def test_gabor_features_in_chunks_equal_one_batch(images):
    bank = GaborFilterBank(frequencies=(0.2, 0.35), n_orientations=2, grid=(2, 2)).fit(images)
    np.testing.assert_array_equal(bank._features(images, chunk=3), bank._features(images, chunk=100))


def test_lbp_float_images_in_unit_range_equal_their_uint8_levels(images):
    d = LBPHistogram(P=8, R=1, grid=(2, 2))
    np.testing.assert_array_equal(d.fit_transform(images / 255.0), d.fit_transform(images))


# --- Issue 14: LBP features of an image must not depend on its batch-mates -------------------------


def _skimage_lbp_hist(levels: np.ndarray, P=8, R=1.0, method="uniform") -> np.ndarray:
    codes = local_binary_pattern(levels, P, R, method).astype(int)
    return np.bincount(codes.ravel(), minlength=lbp_n_bins(P, method)) / codes.size


def test_lbp_features_do_not_depend_on_batch_mates(images):
    # a dark image whose float grey levels (0..255 scale) are all <= 1, and a bright batch-mate
    dark = (images[0] / 255.0).astype(np.float64)          # levels 0..1 on a 0..255 scale
    bright = images[1].astype(np.float64)                   # levels 0..255
    d = LBPHistogram(P=8, R=1, input_range=255)
    alone, with_mate = d.fit_transform(dark[None]), d.fit_transform(np.stack([dark, bright]))
    np.testing.assert_array_equal(alone[0], with_mate[0])
    np.testing.assert_array_equal(alone[0], _skimage_lbp_hist(np.round(dark).astype(np.uint8)))
    np.testing.assert_array_equal(with_mate[1], _skimage_lbp_hist(np.round(bright).astype(np.uint8)))
    # default range: uint8 levels as they are, floats in [0, 1] quantised to round(255 x)
    unit = images / 255.0
    for k in range(len(images)):
        mates = LBPHistogram(P=8, R=1).fit_transform(unit)[k]
        np.testing.assert_array_equal(LBPHistogram(P=8, R=1).fit_transform(unit[k:k + 1])[0], mates)
        np.testing.assert_array_equal(mates, _skimage_lbp_hist(np.round(unit[k] * 255).astype(np.uint8)))
        np.testing.assert_array_equal(LBPHistogram(P=8, R=1).fit_transform(images)[k], _skimage_lbp_hist(images[k]))


def test_lbp_values_outside_the_input_range_raise(images):
    with pytest.raises(ShapeError, match=r"input_range.*\[0, 1\].*255"):
        LBPHistogram().fit_transform(images.astype(np.float64))   # 0..255 floats, default range [0, 1]
    with pytest.raises(ShapeError, match=r"\[0, 100\]"):
        LBPHistogram(input_range=100).fit_transform(images)
    with pytest.raises(ConfigError, match="input_range"):
        LBPHistogram(input_range=0).fit(images)
