"""Audio front-end vs librosa, loading errors, normalisation, audio encoders."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile
import torch

from polymodal.encoders.audio import (
    AudioCNN,
    MelSpectrogram,
    Spectrogram,
    SpectrogramSequenceEncoder,
    load_audio,
    normalize_utterance,
)
from polymodal.errors import ConfigError, DatasetError, ShapeError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
DIGIT_WAV = FIXTURES / "seven_espeak_en-us_16k.wav"  # espeak-ng -v en-us -s 160 "seven", resampled by sox


def _tone(sr=16000, seconds=0.5, freq=440.0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(2 * np.pi * 3 * freq * t)).astype(np.float64)


def _librosa_mel(y, sr, **kw):
    return librosa.feature.melspectrogram(y=y, sr=sr, n_fft=kw["n_fft"], hop_length=kw["hop"], win_length=kw["win"],
                                          n_mels=kw["n_mels"], window="hann", center=True, pad_mode="constant",
                                          power=2.0)


@pytest.mark.parametrize("source", ["tone", "digit"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mel_matches_librosa(source, dtype):
    sr = 16000
    y = _tone(sr) if source == "tone" else load_audio(DIGIT_WAV, sr).astype(np.float64)
    module = MelSpectrogram(sr, n_mels=40)  # defaults: 20 ms window (320), 10 ms hop (160), n_fft 512
    assert (module.stft.win_length, module.stft.hop_length, module.stft.n_fft) == (320, 160, 512)
    ours = module(torch.as_tensor(y, dtype=dtype)).double().numpy()
    ref = _librosa_mel(y, sr, n_fft=512, hop=160, win=320, n_mels=40)
    assert ours.shape == ref.shape
    tol = 1e-4 if dtype == torch.float64 else 1e-3
    # 1e-4 relative to each entry, with an absolute floor 1e-4 relative to the utterance's peak
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * ref.max())
    if dtype == torch.float64:
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12 * ref.max())


def test_stft_magnitude_and_log_mel_match_librosa():
    sr, y = 22050, _tone(22050, 0.3, 300.0)
    spec = Spectrogram(sr, power=1.0)
    ref = np.abs(librosa.stft(y, n_fft=spec.n_fft, hop_length=spec.hop_length, win_length=spec.win_length,
                              center=True, pad_mode="constant"))
    np.testing.assert_allclose(spec(torch.as_tensor(y)).numpy(), ref, rtol=1e-8, atol=1e-10 * ref.max())
    logmel = MelSpectrogram(sr, n_mels=64, fmin=50.0, fmax=8000.0, log=True)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=spec.n_fft, hop_length=spec.hop_length,
                                         win_length=spec.win_length, n_mels=64, fmin=50.0, fmax=8000.0,
                                         pad_mode="constant")
    expected = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    np.testing.assert_allclose(logmel(torch.as_tensor(y)).numpy(), expected, rtol=1e-8, atol=1e-8)


def test_per_utterance_normalisation_and_padding():
    sr = 16000
    a, b = _tone(sr, 0.5, 440.0), load_audio(DIGIT_WAV, sr).astype(np.float64)
    module = MelSpectrogram(sr, log=True, normalize=True)
    batch = torch.zeros(2, len(b), dtype=torch.float64)
    batch[0, : len(a)], batch[1] = torch.as_tensor(a), torch.as_tensor(b)
    out = module(batch, lengths=torch.tensor([len(a), len(b)]))
    alone = module(torch.as_tensor(a))
    frames = alone.shape[-1]
    # the padded utterance's valid frames equal the utterance alone, except the last frame, whose centred
    # window reaches past the end of a (zeros in both cases: constant padding) -> identical too
    torch.testing.assert_close(out[0, :, :frames], alone)
    assert torch.all(out[0, :, frames:] == 0)
    # zero mean, unit (population) std per band over time, as in the closed form
    z = out[1]
    torch.testing.assert_close(z.mean(-1), torch.zeros(40, dtype=torch.float64), atol=1e-10, rtol=0)
    logmel = MelSpectrogram(sr, log=True)(torch.as_tensor(b)).numpy()
    expected = (logmel - logmel.mean(1, keepdims=True)) / (logmel.std(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-8, atol=1e-8)
    with pytest.raises(ShapeError, match="lengths must be"):
        normalize_utterance(torch.zeros(2, 3, 4), torch.tensor([0, 4]))


def test_load_audio_wav_ogg_and_resampling():
    wav, ogg = load_audio(DIGIT_WAV, 16000), load_audio(FIXTURES / "seven_espeak_en-us_16k.ogg", 16000)
    raw, rate = soundfile.read(DIGIT_WAV, dtype="float32")
    assert rate == 16000
    np.testing.assert_array_equal(wav, raw)  # no resampling at the native rate
    assert len(ogg) == len(wav) and np.corrcoef(ogg, wav)[0, 1] > 0.99  # lossy codec, same signal
    down = load_audio(DIGIT_WAV, 8000)
    np.testing.assert_allclose(down, librosa.resample(raw, orig_sr=16000, target_sr=8000, res_type="soxr_hq"))


def test_load_audio_errors(tmp_path):
    with pytest.raises(DatasetError, match="audio file not found: .*missing.wav"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(DatasetError, match="cannot read audio file .*not_audio.wav"):
        load_audio(FIXTURES / "not_audio.wav")
    with pytest.raises(DatasetError, match=r"audio file .*empty.wav is empty \(0 samples\)"):
        load_audio(FIXTURES / "empty.wav")
    for bad in (0, -16000, 16000.5, "16k", 10_000_000):
        with pytest.raises(ConfigError, match=r"sr must be an integer sample rate in \[1000, 384000\] Hz, got"):
            load_audio(DIGIT_WAV, sr=bad)
    with pytest.raises(ConfigError, match="sample_rate must be an integer"):
        MelSpectrogram(sample_rate=0)
    with pytest.raises(ShapeError, match="shorter than one frame"):
        Spectrogram(16000)(torch.zeros(10))
    with pytest.raises(ConfigError, match="fmax"):
        MelSpectrogram(16000, fmax=9000.0)


def test_audio_encoders_reference_and_errors():
    torch.manual_seed(0)
    cnn = AudioCNN(16 * 20, image_size=(16, 20), channels=(4,), out_features=3).double().eval()
    x = torch.randn(2, 1, 16, 20, dtype=torch.float64)
    conv, bn, _, _ = cnn.features
    h = torch.nn.functional.max_pool2d(torch.relu(bn(torch.nn.functional.conv2d(x, conv.weight, padding=1))), 2)
    torch.testing.assert_close(cnn(x), cnn.fc(h.mean(dim=(2, 3))))
    torch.testing.assert_close(cnn(x.reshape(2, -1)), cnn(x))
    with pytest.raises(ShapeError, match=r"\(N, 1, 16, 20\).*got \(2, 1, 20, 16\)"):
        cnn(torch.zeros(2, 1, 20, 16))
    rnn = SpectrogramSequenceEncoder(16 * 20, image_size=(16, 20), hidden=5, output="last").double()
    expected = rnn.rnn(x[:, 0].transpose(1, 2))  # frames as steps: (N, T=20, F=16)
    torch.testing.assert_close(rnn(x), expected)
