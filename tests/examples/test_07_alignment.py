"""examples/07_alignment.py --fast runs and its numbers mean what the tutorial says."""

import shutil

import pytest


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs the espeak-ng program")
def test_alignment_example_fast(tmp_path, run_example):
    r = run_example("07_alignment.py", tmp_path, timeout=240)
    pair = r["pair"]
    # the same word at two speaking rates is much closer under DTW and soft-DTW than other words
    d = pair["distances_from_seven_120"]
    for word in ("six", "eleven", "one"):
        assert d[word]["dtw_normalized_cost"] > 3 * d["seven"]["dtw_normalized_cost"]
        assert d[word]["soft_dtw_divergence"] > 3 * d["seven"]["soft_dtw_divergence"]
    # CTW across feature spaces (13-d MFCC vs 40-d log-mel) recovers the MFCC DTW path within a frame,
    # far better than DTW on the mismatched raw features
    e = pair["alignment_error_frames"]
    assert e["ctw_mfcc_vs_logmel"] < 1.0
    assert e["ctw_mfcc_vs_logmel"] < e["uniform"] < e["dtw_raw_mismatched_features"]
    # 1-NN under DTW recognises held-out voices far above chance (0.1)
    for name, acc in r["knn"]["accuracy"].items():
        assert acc["dtw_variable_length"] >= 0.6, name
        assert acc["dtw_resampled"] >= acc["euclidean_resampled"] - 0.05, name
    for png in ("dtw_cost_matrix.png", "attention.png", "knn_accuracy.png"):
        assert (tmp_path / png).stat().st_size > 5000
