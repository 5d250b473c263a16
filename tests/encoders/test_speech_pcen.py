"""PCEN (per-channel energy normalisation) against librosa.pcen, its gain invariance, and errors."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from polymodal.data.audio import FMAX, HOP, N_FFT, N_MELS, SR, WIN_LENGTH, pcen, pcen_image, speech_features
from polymodal.encoders.audio import load_audio
from polymodal.errors import ConfigError, ShapeError

DIGIT_WAV = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "seven_espeak_en-us_16k.wav"


@pytest.mark.parametrize("params", [{}, {"gain": 0.8, "bias": 10.0, "power": 0.25, "time_constant": 0.06,
                                         "eps": 1e-4}])
def test_pcen_matches_librosa(params):
    rng = np.random.default_rng(0)
    energy = rng.random((3, 40, 101)) * 1e3
    energy[1, :, :30] = 0.0  # silence, then a loud onset: the gain control's transient
    energy[1, :, 30:50] *= 1e6
    expected = librosa.pcen(energy, sr=SR, hop_length=HOP, max_size=1, axis=-1, **params)
    np.testing.assert_allclose(pcen(torch.as_tensor(energy), **params).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_pcen_image_matches_librosa_on_a_spoken_word():
    y = load_audio(DIGIT_WAV, SR).astype(np.float64)[:SR]
    window = np.zeros((1, SR))
    window[0, :len(y)] = y
    mel = librosa.feature.melspectrogram(y=window[0], sr=SR, n_fft=N_FFT, hop_length=HOP, win_length=WIN_LENGTH,
                                         n_mels=N_MELS, fmax=FMAX, power=1.0, center=True, pad_mode="constant")
    expected = librosa.pcen(mel * 2.0**31, sr=SR, hop_length=HOP, max_size=1)
    np.testing.assert_allclose(pcen_image(torch.as_tensor(window))[0].numpy(), expected, rtol=1e-6, atol=1e-6)
    out = speech_features(torch.as_tensor(window, dtype=torch.float32), front="pcen")
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-3, atol=1e-3)
    with pytest.raises(ConfigError, match="front must be one of"):
        speech_features(window, front="mfcc")


def test_pcen_removes_a_constant_channel_gain_once_the_smoother_has_settled():
    # gain = 1: E / M is scale free, so a fixed gain per channel (microphone, distance) leaves the output
    # unchanged once M has forgotten its initial state (here: after 10 time constants)
    rng = np.random.default_rng(1)
    energy = torch.as_tensor(rng.random((2, 5, 600)) + 0.5)
    scale = torch.as_tensor(10.0 ** rng.uniform(-2, 3, (2, 5, 1)))
    a = pcen(energy, gain=1.0, eps=1e-12, time_constant=0.05)
    b = pcen(energy * scale, gain=1.0, eps=1e-12, time_constant=0.05)
    np.testing.assert_allclose(a[..., 100:].numpy(), b[..., 100:].numpy(), rtol=1e-6)


def test_pcen_errors():
    with pytest.raises(ConfigError, match="non-negative"):
        pcen(-torch.ones(1, 3))
    with pytest.raises(ConfigError, match="power"):
        pcen(torch.ones(1, 3), power=0.0)
    with pytest.raises(ShapeError, match="T >= 1"):
        pcen(torch.ones(2, 0))
    with pytest.raises(ShapeError, match=r"\(N, L\)"):
        pcen_image(torch.ones(16000))
