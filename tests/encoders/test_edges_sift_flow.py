"""Edge-orientation histograms, SIFT bag of visual words and optical-flow
histograms: equal to scikit-image re-expressed in the test, invariances, and
a task each descriptor's defining mechanism solves."""

import numpy as np
import pytest

pytest.importorskip("skimage")
from scipy import ndimage  # noqa: E402
from skimage import data as skdata  # noqa: E402
from skimage.feature import SIFT, canny  # noqa: E402
from skimage.filters import sobel_h, sobel_v  # noqa: E402
from skimage.registration import optical_flow_ilk, optical_flow_tvl1  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from polymodal.encoders.bovw import BagOfVisualWords, sift  # noqa: E402
from polymodal.encoders.edges import EdgeOrientationHistogram  # noqa: E402
from polymodal.encoders.optical_flow import FlowHistogram, optical_flow  # noqa: E402
from polymodal.errors import ConfigError, ShapeError  # noqa: E402

CAMERA = skdata.camera()[::8, ::8]  # 64 x 64 uint8


def _cell_hist(theta, weight, n, grid):
    bins = np.minimum((theta / np.pi * n).astype(int), n - 1)
    out = []
    for rows in np.array_split(np.arange(theta.shape[0]), grid):
        for cols in np.array_split(np.arange(theta.shape[1]), grid):
            b, w = bins[np.ix_(rows, cols)], weight[np.ix_(rows, cols)]
            out += [sum(w[b == k].sum() for _ in [0]) for k in range(n)] + [w.mean()]
    v = np.array(out)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("detector", ["sobel", "canny"])
def test_edge_histogram_equals_scikit_image_re_expressed(detector):
    img = CAMERA.astype(float) / 255
    if detector == "sobel":
        gy, gx = sobel_h(img), sobel_v(img)
        weight = np.hypot(gx, gy)
    else:
        smooth = ndimage.gaussian_filter(img, 1.5, mode="nearest")
        gy, gx = sobel_h(smooth), sobel_v(smooth)
        weight = canny(img, sigma=1.5).astype(float)
    expected = _cell_hist(np.mod(np.arctan2(gy, gx), np.pi), weight, 6, 3)
    got = EdgeOrientationHistogram(detector, orientations=6, grid=3, sigma=1.5).fit_transform(CAMERA[None])[0]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_rotating_the_image_by_90_degrees_shifts_the_orientation_bins_by_half():
    # a smooth float image: quantised pixels put exact diagonals (theta = pi/4) on bin edges
    image = ndimage.gaussian_filter(np.random.default_rng(5).random((40, 40)), 2)
    enc = EdgeOrientationHistogram(orientations=8, grid=1)
    h = enc.fit_transform(image[None])[0]
    h_rot = enc.fit_transform(np.rot90(image)[None].copy())[0]
    np.testing.assert_allclose(np.roll(h[:8], 4), h_rot[:8], atol=1e-9)
    assert h[8] == pytest.approx(h_rot[8])


def test_features_do_not_depend_on_the_batch_or_the_dtype_scale():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 20, 20)).astype(np.uint8)
    enc = EdgeOrientationHistogram(grid=2)
    alone = enc.fit_transform(batch[:1])
    np.testing.assert_allclose(enc.transform(batch)[:1], alone)
    dim = batch[:1].astype(float) / 255 * 0.5  # a float image that never reaches 1
    np.testing.assert_allclose(EdgeOrientationHistogram(grid=2).fit_transform(dim), alone, atol=1e-12)


def test_sift_is_scikit_image_and_survives_flat_images():
    img = CAMERA.astype(float) / 255
    ref = SIFT(upsampling=2)
    ref.detect_and_extract(img)
    ours = sift(img)
    np.testing.assert_array_equal(ours.keypoints, ref.keypoints)
    np.testing.assert_array_equal(ours.descriptors, ref.descriptors)
    assert sift(np.zeros((32, 32))).descriptors.shape == (0, 128)


def test_bag_of_visual_words_counts_nearest_words():
    rng = np.random.default_rng(0)
    X = ndimage.gaussian_filter(rng.random((6, 40, 40)), (0, 1, 1))
    bovw = BagOfVisualWords(n_words=8, norm=None, input_range=1.0).fit(X)
    got = bovw.transform(X)
    for i, image in enumerate(X):
        d = sift(image).descriptors.astype(np.float32)
        dist = ((d[:, None, :] - bovw.vocabulary_[None]) ** 2).sum(-1)
        np.testing.assert_array_equal(got[i], np.bincount(dist.argmin(1), minlength=8))
    hell = BagOfVisualWords(n_words=8, norm="hellinger", input_range=1.0).fit(X).transform(X)
    np.testing.assert_allclose(hell, np.sqrt(got / got.sum(1, keepdims=True)), atol=1e-12)


def _scenes(rng, n, size=48):
    """Class 0: images of crosses; class 1: images of round blobs - each at random places,
    scales and contrasts, so only local shape (not where the pixels are) tells them apart."""
    X, y = [], []
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        img = np.zeros((size, size))
        for _ in range(3):
            cy, cx, r = rng.integers(8, size - 8), rng.integers(8, size - 8), rng.integers(3, 6)
            if i % 2 == 0:
                img[cy - r:cy + r + 1, cx - 1:cx + 2] = 1
                img[cy - 1:cy + 2, cx - r:cx + r + 1] = 1
            else:
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
        X.append(ndimage.gaussian_filter(img, 0.7) * rng.uniform(0.5, 1.0))
        y.append(i % 2)
    return np.array(X), np.array(y)


def test_bag_of_visual_words_recognises_local_shapes_anywhere():
    rng = np.random.default_rng(1)
    Xtr, ytr = _scenes(rng, 80)
    Xte, yte = _scenes(rng, 60)
    bovw = BagOfVisualWords(n_words=20, norm="hellinger", input_range=1.0).fit(Xtr)
    acc = LogisticRegression(C=10, max_iter=2000).fit(bovw.transform(Xtr), ytr).score(bovw.transform(Xte), yte)
    pixels = LogisticRegression(max_iter=2000).fit(Xtr.reshape(80, -1), ytr).score(Xte.reshape(60, -1), yte)
    assert acc >= 0.9 and acc > pixels + 0.2, (acc, pixels)


def _texture(rng, size=32):
    return ndimage.gaussian_filter(rng.random((size, size)), 1.5)


@pytest.mark.parametrize("method", ["tvl1", "ilk"])
def test_optical_flow_is_scikit_image_and_recovers_a_translation(method):
    rng = np.random.default_rng(2)
    f0 = _texture(rng)
    f1 = ndimage.shift(f0, (1, -2), mode="wrap")  # content moves down 1, left 2
    flow = optical_flow(f0, f1, method)
    ref = (optical_flow_tvl1 if method == "tvl1" else optical_flow_ilk)(f0, f1)
    np.testing.assert_array_equal(flow, ref)
    assert abs(np.median(flow[0]) - 1) < 0.1 and abs(np.median(flow[1]) + 2) < 0.1


def test_flow_histogram_bins_direction_and_no_motion_as_laptev():
    hof = FlowHistogram(orientations=4, grid=1, min_magnitude=0.5)
    rng = np.random.default_rng(3)
    v, u = rng.normal(size=(2, 10, 12))
    expected = np.zeros(5)
    for a, b in zip(v.ravel(), u.ravel()):
        m = np.hypot(a, b)
        k = 4 if m < 0.5 else int(np.mod(np.arctan2(a, b) + np.pi / 4, 2 * np.pi) // (np.pi / 2))  # centred bins
        expected[k] += 1.0 if k == 4 else m
    np.testing.assert_allclose(hof.histogram(np.stack([v, u])), expected)
    f0 = _texture(rng)
    right = np.stack([ndimage.shift(f0, (0, t), mode="wrap") for t in range(3)])
    down = np.stack([ndimage.shift(f0, (t, 0), mode="wrap") for t in range(3)])
    still = np.stack([f0] * 3)
    h = hof.fit(right[None]).transform(np.stack([right, down, still]))
    assert h[0].argmax() == 0 and h[1].argmax() == 1 and h[2].argmax() == 4  # 0 rad, pi/2 (rows grow), none


def test_bad_input_is_named():
    with pytest.raises(ConfigError, match="detector"):
        EdgeOrientationHistogram("prewitt").fit(CAMERA[None])
    with pytest.raises(ShapeError, match=r"\(N, T >= 2, H, W\)"):
        FlowHistogram().fit(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ShapeError, match="same shape"):
        optical_flow(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ConfigError, match="fewer than n_words"):
        BagOfVisualWords(n_words=50).fit(np.zeros((2, 16, 16)))


@pytest.mark.parametrize("module", ["edges", "bovw", "optical_flow"])
def test_doctests(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(f"polymodal.encoders.{module}")).failed == 0
