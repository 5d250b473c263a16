"""Runs examples/02_neural_networks.py in fast mode and checks what it teaches."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example):
    out = tmp_path_factory.mktemp("neural_networks")
    results = run_example("02_neural_networks.py", out, timeout=120)
    for png in ("activations.png", "training_curves.png"):
        assert (out / png).stat().st_size > 1000
    return results


def test_autograd_derivatives_equal_closed_forms(results):
    z = np.array(results["z"])
    sig = 1 / (1 + np.exp(-z))
    closed = {
        "sigmoid": (sig, sig * (1 - sig)),
        "tanh": (np.tanh(z), 1 - np.tanh(z) ** 2),
        "relu": (np.maximum(z, 0), (z > 0).astype(float)),  # torch: relu'(0) = 0
    }
    for name, (value, derivative) in closed.items():
        np.testing.assert_allclose(results["activations"][name]["value"], value, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(results["activations"][name]["derivative"], derivative, rtol=1e-12, atol=1e-15)


def test_backpropagation_matches_finite_differences(results):
    for name, check in results["finite_difference"].items():
        assert check["n_parameters"] == 8 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3
        assert check["max_relative_error"] < 1e-6, name
        assert check["max_absolute_error"] < 1e-9, name
        assert check["vector_relative_error"] < 1e-8, name
        assert check["gradcheck"], name


def test_mlp_learns_and_sigmoid_learns_slowest(results):
    mlp = results["mlp"]
    for name in ("tanh", "relu"):
        assert mlp[name]["final_test_accuracy"] > 0.8, name  # chance is 0.1
        assert mlp[name]["train_loss"][-1] < 0.5 * mlp["sigmoid"]["train_loss"][-1], name
