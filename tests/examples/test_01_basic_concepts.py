"""Runs examples/01_basic_concepts.py in fast mode and checks what it teaches."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example):
    out = tmp_path_factory.mktemp("basic_concepts")
    results = run_example("01_basic_concepts.py", out, timeout=120)
    for png in ("loss_curves.png", "weight_templates.png"):
        assert (out / png).stat().st_size > 1000
    return results


def test_every_run_beats_chance_by_far(results):
    assert len(results["runs"]) == 8  # 2 losses x 4 optimisers
    for name, run in results["runs"].items():
        assert run["test_accuracy"] > 0.85, name  # chance is 0.1
        assert run["loss_curve"][-1] < run["loss_curve"][0], name


def test_learning_rate_decays_linearly(results):
    f = results["final_fraction"]
    for name, run in results["runs"].items():
        k = np.arange(run["total_steps"])
        expected = run["lr0"] * (1 - (1 - f) * k / run["total_steps"])  # closed form of the schedule
        np.testing.assert_allclose(run["lr"], expected, rtol=1e-12, err_msg=name)
        assert run["lr"][-1] < 0.1 * run["lr0"]


def test_momentum_and_adaptive_optimisers_reach_lower_loss_than_sgd(results):
    for loss in ("cross_entropy", "hinge"):
        sgd = results["runs"][f"{loss}/sgd"]["final_train_loss"]
        for opt in ("momentum", "adagrad", "rmsprop"):
            assert results["runs"][f"{loss}/{opt}"]["final_train_loss"] < 0.7 * sgd, (loss, opt)
