"""Runs examples/03_recurrent_networks.py in fast mode and checks what it teaches."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example):
    out = tmp_path_factory.mktemp("recurrent_networks")
    results = run_example("03_recurrent_networks.py", out, timeout=180)
    for png in ("accuracy.png", "bptt_gradient_norms.png"):
        assert (out / png).stat().st_size > 1000
    return results


def test_lstm_beats_rnn_on_the_longest_dependency(results):
    acc = results["accuracy"]
    short, longest = (str(t) for t in (results["lengths"][0], results["lengths"][-1]))
    assert acc["rnn"][short] > 0.9 and acc["lstm"][short] > 0.9  # both solve T = 5 (chance 0.25)
    assert acc["lstm"][longest] > 0.9
    assert acc["lstm"][longest] > acc["rnn"][longest] + 0.3


def test_unrolled_recurrence_is_the_encoder(results):
    # the per-step gradients are taken on the encoder's own recurrence, stepped by hand
    assert results["unrolled_vs_encoder_max_abs_diff"] < 1e-5


def test_rnn_gradient_vanishes_through_time_faster_than_lstm(results):
    ratios = results["gradient_ratio_first_to_last"]
    for stage in ("init", "trained"):
        assert ratios["rnn"][stage] < 1e-6, stage  # vanished over T - 1 steps
        assert ratios["rnn"][stage] < 1e-4 * ratios["lstm"][stage], stage
        # going back in time the RNN's gradient shrinks at (almost) every step
        log_norm = np.log(results["gradient_norms"]["rnn"][stage])
        slope = np.diff(log_norm)
        assert (slope > 0).mean() > 0.9, stage
