"""Runs examples/12_vector_space_arithmetic.py in fast mode and checks what it teaches."""

import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example):
    out = tmp_path_factory.mktemp("vector_space_arithmetic")
    results = run_example("12_vector_space_arithmetic.py", out, timeout=240)
    assert (out / "arithmetic.png").stat().st_size > 10_000
    return results


def test_chance_is_the_fraction_of_targets(results):
    # a target keeps the other attribute and takes the new value: 9 cells x 2 noisy copies, out of N - 1
    n = results["n_gallery"]
    assert n == 4 * 3 * 9 * 2
    assert results["chance"] == pytest.approx(18 / (n - 1))
    assert results["n_queries"] == {"colour": n * 3, "shape": n * 2}


def test_arithmetic_beats_chance_by_far(results):
    p, chance = results["precision"], results["chance"]
    assert p["1"] > 5 * chance and p["5"] > 5 * chance
    for name in ("colour", "shape"):
        assert results["by_attribute"][name]["1"] > 0.4, name
    # the image alone retrieves its own colour and shape, never a target: the words do the work
    assert results["image_only_precision"]["1"] < chance + 0.05


def test_training_decreased_the_ranking_loss(results):
    loss = results["train_loss"]
    assert loss[-1] < 0.5 * loss[0]


def test_arithmetic_reaches_pairs_never_seen_in_training(results):
    held = results["by_group"]["target pair held out"]
    # per held-out pair: 3 other colours x 18 images (colour change) + 2 other shapes x 18 (shape change)
    assert held["n"] == 3 * (3 * 18 + 2 * 18)
    assert held["1"] > 3 * results["chance"]
