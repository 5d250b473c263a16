"""Speech front-end: mel filters and features vs librosa, DC removal, clipping check, the word found in
long noisy recordings, resampling, one function for files and arrays, augmentation invariants."""

import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import lfilter

from polymodal.data.av_digits import colored_noise, mix_at_snr
from polymodal.encoders.audio import load_audio
from polymodal.encoders.speech import (
    FMAX,
    N_MELS,
    PRE_EMPHASIS,
    SR,
    WINDOW,
    ClippingWarning,
    SilenceWarning,
    SpeechFeatures,
    clipped_fraction,
    detect_speech,
    log_mel_image,
    pre_emphasis,
    prepare_speech,
    prepare_speech_file,
    remove_dc,
    slaney_mel_filters,
    speech_features,
    utterance_cmvn,
)
from polymodal.encoders.speech_augment import SpeechAugment, colored_noise_torch, vtlp_frequency, vtlp_warp, warp_mel
from polymodal.errors import ConfigError, ShapeError

DIGIT_WAV = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "seven_espeak_en-us_16k.wav"


def _word():
    """The fixture word cut to its true extent: where its 10 ms energy is within 30 dB of the peak."""
    y = load_audio(DIGIT_WAV, SR).astype(np.float64)
    env = np.convolve(y**2, np.ones(160) / 160, "same")
    on = np.flatnonzero(env > env.max() * 1e-3)
    return y[on[0]:on[-1] + 1]


@pytest.mark.parametrize("args", [(16000, 512, 40, 0.0, 5000.0), (16000, 512, 24, 100.0, 5000.0),
                                  (22050, 1024, 64, 20.0, None)])
def test_mel_filters_match_librosa(args):
    sr, n_fft, n_mels, fmin, fmax = args
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_allclose(slaney_mel_filters(*args), expected, atol=1e-8)


def test_every_mel_band_has_its_own_fft_bins():
    fb = slaney_mel_filters(SR, 512, N_MELS, 0.0, FMAX)
    assert len(set(fb.argmax(axis=1))) == N_MELS and (fb > 0).sum(axis=1).min() >= 2
    old = slaney_mel_filters(SR, 512, 112, 0.0, FMAX)  # the former front-end: rows sharing their peak bin
    assert len(set(old.argmax(axis=1))) < 112


def test_speech_features_match_librosa():
    y = _word()
    window = np.zeros(WINDOW)
    window[2000:2000 + len(y)] = y
    ours = SpeechFeatures()(torch.as_tensor(window[None], dtype=torch.float64))[0].numpy()
    mel = librosa.feature.melspectrogram(y=window, sr=SR, n_fft=512, hop_length=160, win_length=400, n_mels=N_MELS,
                                         fmax=FMAX, pad_mode="constant")
    db = librosa.power_to_db(mel, ref=np.max, amin=1e-10, top_db=None)
    np.testing.assert_allclose(ours, np.clip((db + 60) / 60, 0, 1), atol=2e-4)
    assert ours.shape == (N_MELS, WINDOW // 160 + 1)


def test_remove_dc_and_clipped_fraction():
    t = np.arange(SR) / SR
    x = 0.5 * np.sin(2 * np.pi * 300 * t)
    y, offset = remove_dc(x + 0.25)
    assert offset == pytest.approx(0.25, abs=1e-3) and abs(y[1000:-1000].mean()) < 1e-4
    np.testing.assert_allclose(y[2000:-2000], x[2000:-2000], atol=5e-3)  # 300 Hz passes the 60 Hz high-pass
    assert clipped_fraction(x) < 1e-3
    clipped = np.clip(3 * x, -1, 1)
    expected = np.mean(np.abs(3 * x) >= 1.0)  # samples on the flat tops
    assert clipped_fraction(clipped) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0, 30.0])
@pytest.mark.parametrize("color", ["white", "pink"])
def test_word_is_found_in_long_noisy_recordings(snr, color):
    word = _word()
    rng = np.random.default_rng(int(snr) + (color == "pink"))
    errors = []
    for _ in range(6):
        total = rng.uniform(0.5, 3.0)  # seconds of noise around the word
        n = int(total * SR)
        before = int(rng.uniform(0, 1) * n)
        x = np.zeros(len(word) + n)
        x[before:before + len(word)] = word
        x = mix_at_snr(x, colored_noise(len(x), rng, color), snr, speech_power=float(np.mean(word**2)))
        segment = detect_speech(remove_dc(x)[0])
        errors.append(max(abs(segment.start - before / SR), abs(segment.end - (before + len(word)) / SR)))
    assert max(errors) < (0.05 if snr >= 10 else 0.08), errors  # at 0 dB white noise masks the /s/ onset


def test_prepare_speech_long_noisy_recording_keeps_the_word():
    """The former front-end kept everything within 35 dB of the loudest frame and cropped the middle of
    a long noisy recording, cutting off a word near its start."""
    word = _word()
    rng = np.random.default_rng(0)
    x = np.zeros(2 * SR)
    x[3200:3200 + len(word)] = word
    x = mix_at_snr(x, colored_noise(len(x), rng, "pink"), 10.0, speech_power=float(np.mean(word**2)))
    out = prepare_speech(x, SR)
    assert abs(out.start - 0.2) < 0.05 and abs(out.end - (3200 + len(word)) / SR) < 0.05
    assert out.waveform.shape == (WINDOW,) and out.waveform.dtype == np.float32
    first, last = out.speech_span
    assert abs((first + last) / 2 - WINDOW / 2) <= 1 and np.all(out.waveform[:first] == 0)
    clean = prepare_speech(word, SR)
    corr = np.corrcoef(speech_features(out.waveform[None]).flatten(), speech_features(clean.waveform[None]).flatten())
    assert corr[0, 1] > 0.7  # the same word under 10 dB of noise


def test_prepare_speech_refuses_samples_that_are_not_real_numbers_and_warns_on_silence():
    word = _word()
    for bad, dtype in ((word.astype(complex), "complex128"), (word > 0, "bool"), (np.array(["a", "b"] * 400), "<U1")):
        with pytest.raises(ConfigError, match=f"real-valued samples, got dtype {dtype}"):
            prepare_speech(bad, SR)
    np.testing.assert_array_equal(prepare_speech(list(word), SR).waveform, prepare_speech(word, SR).waveform)
    np.testing.assert_array_equal(prepare_speech(word.astype(object), SR).waveform, prepare_speech(word, SR).waveform)
    with pytest.raises(ConfigError, match="real-valued samples, got dtype object"):
        prepare_speech(np.array([0.1, "a"] * 400, dtype=object), SR)
    for silent in (np.zeros(SR), np.full(SR, 0.25)):  # digital silence, or a constant (DC) level
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = prepare_speech(silent, SR)
        assert [w.category for w in caught] == [SilenceWarning]  # not also "100% clipped"
        assert "all zeros, as for a missing recording" in str(caught[0].message) and not out.waveform.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_speech(np.zeros(SR), SR, warn=False)


def test_prepare_speech_resamples_removes_dc_and_warns(tmp_path):
    word = _word()
    at_22k = librosa.resample(word, orig_sr=SR, target_sr=22050)
    a, b = prepare_speech(word, SR), prepare_speech(at_22k + 0.3, 22050)  # other rate, DC offset
    assert b.dc_offset == pytest.approx(0.3, abs=0.01)
    fa, fb = speech_features(a.waveform[None]), speech_features(b.waveform[None])
    assert float((fa - fb).abs().mean()) < 0.03
    with pytest.warns(ClippingWarning, match=r"\d+(\.\d+)?% of samples"):
        c = prepare_speech(np.clip(word / np.abs(word).max() * 10, -1, 1), SR)
    assert c.clipped_fraction > 0.01
    with pytest.warns(UserWarning, match="8000 Hz holds nothing above 4000"):
        prepare_speech(librosa.resample(word, orig_sr=SR, target_sr=8000), 8000)
    path = tmp_path / "w.wav"
    soundfile.write(path, at_22k, 22050)
    np.testing.assert_allclose(prepare_speech_file(path).waveform, prepare_speech(at_22k, 22050).waveform, atol=1e-3)
    with pytest.raises(ConfigError, match="NaN"):
        prepare_speech(np.full(800, np.nan), SR)
    with pytest.raises(ShapeError, match="shorter than 20 ms"):
        prepare_speech(np.zeros(10), SR)
    with pytest.raises(ConfigError, match="sample rate"):
        prepare_speech(word, 500)
    # a whole number of Hz given as a float (some readers return one) is that rate; a fraction is refused
    for rate in (float(SR), np.float64(SR), np.float32(SR)):
        np.testing.assert_array_equal(prepare_speech(word, rate).waveform, prepare_speech(word, SR).waveform)
    with pytest.raises(ConfigError, match="got 16000.5"):
        prepare_speech(word, SR + 0.5)


def test_colored_noise_torch_slopes():
    x = colored_noise_torch(3, 2**15, torch.tensor([0, 1, 2]), torch.Generator().manual_seed(0))
    f = np.arange(2**14 + 1)
    band = (f > 30) & (f < 12000)
    for i, slope in enumerate([0.0, -1.0, -2.0]):
        power = np.abs(np.fft.rfft(x[i].numpy())) ** 2
        assert np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0] == pytest.approx(slope, abs=0.15)


def test_augment_noise_snr_and_identity():
    word = torch.as_tensor(prepare_speech(_word(), SR).waveform)[None].repeat(64, 1)
    off = SpeechAugment(p_speed=0.0, shift_s=0.0, p_reverb=0.0, p_clip=0.0, p_clean=1.0, p_warp=0.0)
    assert torch.equal(off(word), word)  # every augmentation off: the input back
    noisy = SpeechAugment(p_speed=0.0, shift_s=0.0, p_reverb=0.0, p_clip=0.0, snr_db=(10.0, 10.0), p_clean=0.0)
    x = noisy(word, torch.Generator().manual_seed(0))
    support = word[0].abs() > 0
    snr = 10 * torch.log10(word[0, support].pow(2).mean() / (x - word)[:, support].pow(2).mean(1))
    assert float(snr.mean()) == pytest.approx(10.0, abs=0.5)
    feats = torch.rand(2, N_MELS, 5)
    np.testing.assert_allclose(warp_mel(feats, torch.ones(2)), feats)
    warped = warp_mel(feats, torch.tensor([2.0, 2.0]))
    np.testing.assert_allclose(warped[:, 4], feats[:, 2], atol=1e-6)  # row m reads row m / 2


def test_load_audio_does_not_clip_decoded_overshoot(tmp_path):
    """load_audio's values may exceed [-1, 1] (documented): a float WAV holding 1.4 reads back as 1.4."""
    path = tmp_path / "loud.wav"
    soundfile.write(path, np.array([0.0, 1.4, -1.2, 0.5] * 400), 16000, subtype="FLOAT")
    assert load_audio(path, 16000).max() == pytest.approx(1.4, abs=1e-6)


@pytest.mark.parametrize("coef", [0.0, 0.5, 0.97])
def test_pre_emphasis_equals_scipy_lfilter(coef):
    x = np.random.default_rng(0).standard_normal((3, 500))
    expected = lfilter([1.0, -coef], [1.0], x, axis=-1)
    np.testing.assert_allclose(pre_emphasis(x, coef), expected, atol=1e-12)
    np.testing.assert_allclose(pre_emphasis(torch.as_tensor(x), coef).numpy(), expected, atol=1e-12)
    with pytest.raises(ConfigError, match="pre-emphasis coefficient"):
        pre_emphasis(x, 1.0)


def test_utterance_cmvn_gives_zero_mean_unit_variance_per_band_over_sound_frames():
    rng = np.random.default_rng(1)
    image = torch.zeros(2, 5, 30, dtype=torch.float64)
    image[0, :, 5:20] = torch.as_tensor(rng.uniform(0.2, 1.0, (5, 15)))  # sound in frames 5-19, silence elsewhere
    image[1, :, 10:30] = torch.as_tensor(rng.uniform(0.2, 1.0, (5, 20)))
    z = utterance_cmvn(image, floor=0.0)
    for i, (a, b) in enumerate([(5, 20), (10, 30)]):
        np.testing.assert_allclose(z[i, :, a:b].mean(1).numpy(), 0.0, atol=1e-12)
        np.testing.assert_allclose(z[i, :, a:b].std(1, unbiased=False).numpy(), 1.0, atol=1e-12)
        assert float(z[i].abs().sum() - z[i, :, a:b].abs().sum()) == 0.0  # silent frames stay 0
    # a fixed gain per band (a channel's spectral tilt: an offset in dB) leaves the output unchanged
    tilted = image.clone()
    tilted[:, :, :] += torch.linspace(-0.15, 0.15, 5, dtype=torch.float64)[None, :, None] * (image > 0)
    np.testing.assert_allclose(utterance_cmvn(tilted, floor=0.0).numpy(), z.numpy(), atol=1e-12)
    floored = utterance_cmvn(image)  # the default floor only shrinks the scale: (x - mu) / (sd + floor)
    assert float(floored.abs().max()) < float(z.abs().max())
    assert float(utterance_cmvn(torch.zeros(1, 4, 6)).abs().max()) == 0.0


def test_speech_features_compose_the_front_end_steps():
    y = _word()
    window = np.zeros((1, WINDOW))
    window[0, 3000:3000 + len(y)] = y
    x = torch.as_tensor(window, dtype=torch.float32)
    expected = utterance_cmvn(log_mel_image(torch.as_tensor(lfilter([1.0, -PRE_EMPHASIS], [1.0], window),
                                                                     dtype=torch.float32)))
    options = {"pre_emphasis_coef": PRE_EMPHASIS, "cmvn": True}
    np.testing.assert_allclose(speech_features(x, **options).numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(SpeechFeatures(**options)(x).numpy(), expected.numpy(), atol=1e-5)
    # the default (what the AV-digits models use) is the plain log-mel image: both steps measured, neither kept
    np.testing.assert_allclose(speech_features(x).numpy(), log_mel_image(x).numpy(), atol=1e-6)


def test_vtlp_frequency_matches_the_papers_closed_form_and_is_monotone():
    """Jaitly & Hinton (2013) eq. 1 with S = 16 kHz, F_hi = 4800 Hz, values worked out by hand."""
    f = torch.tensor([0.0, 1000.0, 4000.0, 6000.0, 8000.0], dtype=torch.float64)
    # alpha = 1.1: f' = 1.1 f up to 4800 / 1.1 Hz, then S/2 - (8000 - 4800) / (8000 - 4800 / 1.1) (8000 - f)
    np.testing.assert_allclose(vtlp_frequency(f, 1.1), [0.0, 1100.0, 4400.0, 8000.0 - 0.88 * 2000.0, 8000.0])
    # alpha = 0.9: knee F_hi * 0.9 = 4320 Hz reached at 4800 Hz; above, slope (8000 - 4320) / (8000 - 4800) = 1.15
    np.testing.assert_allclose(vtlp_frequency(f, 0.9), [0.0, 900.0, 3600.0, 8000.0 - 1.15 * 2000.0, 8000.0])
    np.testing.assert_allclose(vtlp_frequency(f, 1.0), f)
    grid = torch.linspace(0.0, 8000.0, 4001, dtype=torch.float64)
    for alpha in (0.8, 0.9, 0.97, 1.03, 1.1, 1.2):
        warped = vtlp_frequency(grid, alpha)
        assert bool((torch.diff(warped) > 0).all())  # strictly increasing, hence invertible
        knee = 4800.0 * min(alpha, 1.0) / alpha
        left, right = vtlp_frequency(knee - 1e-6, alpha), vtlp_frequency(knee + 1e-6, alpha)
        assert float(right - left) == pytest.approx(0.0, abs=1e-4)  # continuous at the boundary


def test_vtlp_warp_moves_a_band_to_the_band_nearest_the_warped_frequency():
    centres = librosa.mel_frequencies(N_MELS + 2, fmin=0.0, fmax=FMAX, htk=False)[1:-1]  # reference band centres
    x = torch.rand(3, N_MELS, 4, dtype=torch.float64)
    np.testing.assert_allclose(vtlp_warp(x, torch.ones(3)).numpy(), x.numpy(), atol=1e-10)  # alpha = 1: identity
    for k in (5, 12, 20, 27, 33):
        for alpha in (0.9, 0.95, 1.05, 1.1):
            image = torch.zeros(1, N_MELS, 3)
            image[0, k] = 1.0
            target = float(vtlp_frequency(centres[k], alpha))
            nearest = int(np.argmin(np.abs(librosa.hz_to_mel(centres) - librosa.hz_to_mel(target))))
            assert int(vtlp_warp(image, torch.tensor([alpha]))[0, :, 0].argmax()) == nearest, (k, alpha)
    # a pure tone: warping its image puts the peak where the tone at the warped frequency has it
    t = np.arange(WINDOW) / SR
    for f0, alpha in ((700.0, 1.1), (1500.0, 0.9), (3000.0, 1.08)):
        tone = torch.as_tensor(np.sin(2 * np.pi * f0 * t)[None], dtype=torch.float32)
        moved = torch.as_tensor(np.sin(2 * np.pi * float(vtlp_frequency(f0, alpha)) * t)[None], dtype=torch.float32)
        warped = vtlp_warp(log_mel_image(tone), torch.tensor([alpha]))
        assert int(warped[0, :, 50].argmax()) == int(log_mel_image(moved)[0, :, 50].argmax())
    with pytest.raises(ConfigError, match="positive"):
        vtlp_warp(x, torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(ShapeError, match="one factor per image"):
        vtlp_warp(x, torch.ones(2))


def test_speech_augment_vtlp_option_applies_vtlp_warp():
    x = torch.rand(4, N_MELS, 20)
    aug = SpeechAugment(warp=(1.1, 1.1), p_warp=1.0, warp_method="vtlp", freq_masks=0, time_masks=0)
    np.testing.assert_allclose(aug.spec_augment(x).numpy(), vtlp_warp(x, torch.full((4,), 1.1)).numpy())
    with pytest.raises(ConfigError, match="warp_method"):
        SpeechAugment(warp_method="linear")


NINE_WAV = DIGIT_WAV.with_name("nine_espeak_en-us_16k.wav")  # espeak-ng 1.51, voice en-us, "nine"


@pytest.mark.parametrize("snr", [20.0, 30.0, 40.0])
@pytest.mark.parametrize("pad", [0.02, 0.05])
@pytest.mark.parametrize("name", ["seven", "nine"])
def test_word_is_kept_whole_in_a_tightly_trimmed_recording(snr, pad, name):
    """A recording cut tightly around the word (20-50 ms of background noise each side, as the Tux Paint
    clips are) has no stretch of noise: the quietest 40% of frames are the word's nasals and fricatives.
    The former detector took them as the noise and cut the initial and final /n/ of "nine" (65 ms and
    116 ms); the word's true extent (10 ms energy within 40 dB of its peak) must be found within 50 ms."""
    y = load_audio(DIGIT_WAV if name == "seven" else NINE_WAV, SR).astype(np.float64)
    env = np.convolve(y**2, np.ones(160) / 160, "same")
    on = np.flatnonzero(env > env.max() * 1e-4)
    word = y[on[0]:on[-1] + 1]
    p = int(pad * SR)
    x = np.zeros(len(word) + 2 * p)
    x[p:p + len(word)] = word
    x = mix_at_snr(x, colored_noise(len(x), np.random.default_rng(int(snr)), "pink"), snr,
                   speech_power=float(np.mean(word**2)))
    segment = detect_speech(remove_dc(x)[0])
    assert abs(segment.start - pad) < 0.05 and abs(segment.end - (pad + len(word) / SR)) < 0.05, segment


@pytest.mark.parametrize("snr", [40.0, 60.0])
@pytest.mark.parametrize("lead", [0.1, 0.15])
@pytest.mark.parametrize("name", ["seven", "nine"])
def test_short_lead_in_of_quiet_noise_is_not_taken_for_the_word(snr, lead, name):
    """A TTS-like clip: 100-150 ms of faint noise, the word, 100 ms of noise. The former detector returned
    the clip from its first sample (the noise stretch is too short to fill the quietest 40% of frames);
    with the fallback statistics of too small a spread it grew into the noise; both ends within 50 ms."""
    y = load_audio(DIGIT_WAV if name == "seven" else NINE_WAV, SR).astype(np.float64)
    env = np.convolve(y**2, np.ones(160) / 160, "same")
    on = np.flatnonzero(env > env.max() * 1e-4)
    word = y[on[0]:on[-1] + 1]
    a = int(lead * SR)
    x = np.zeros(a + len(word) + SR // 10)
    x[a:a + len(word)] = word
    x = mix_at_snr(x, colored_noise(len(x), np.random.default_rng(int(snr)), "pink"), snr,
                   speech_power=float(np.mean(word**2)))
    segment = detect_speech(remove_dc(x)[0])
    assert abs(segment.start - lead) < 0.05 and abs(segment.end - (lead + len(word) / SR)) < 0.05, segment


def _tone_burst():
    t = np.arange(16000) / 16000
    env = np.where((t > 0.3) & (t < 0.7), np.sin(np.pi * (t - 0.3) / 0.4) ** 2, 0.0)
    return t, env * (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1320 * t))


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0])
def test_spectral_subtraction_attenuates_stationary_noise_by_the_closed_form(snr):
    """Boll / Berouti power subtraction of white noise around a tone burst. Where there is only noise, a bin's
    power is exponential with mean N, so the kept power is E[max(P - alpha N, beta^2 P)] / N =
    beta^2 (1 - (1 + x0) e^-x0) + (x0 + 1 - alpha) e^-x0 with x0 = alpha / (1 - beta^2): -8.6 dB for alpha = 2,
    beta = 0.05. The error against the clean burst falls by more than 7 dB and the burst's shape is kept."""
    from polymodal.data.audio import spectral_subtraction

    t, clean = _tone_burst()
    power = np.mean(clean[(t > 0.3) & (t < 0.7)] ** 2)
    noise = np.random.default_rng(0).standard_normal(len(t)) * np.sqrt(power / 10 ** (snr / 10))
    out = spectral_subtraction(clean + noise)
    assert out.shape == clean.shape
    alpha, beta2 = 2.0, 0.05 ** 2
    x0 = alpha / (1 - beta2)
    expected = 10 * np.log10(beta2 * (1 - (1 + x0) * np.exp(-x0)) + (x0 + 1 - alpha) * np.exp(-x0))
    quiet = (t < 0.25) | (t > 0.75)
    kept = 10 * np.log10(np.sum(out[quiet] ** 2) / np.sum((clean + noise)[quiet] ** 2))
    assert abs(kept - expected) < 0.5, (kept, expected)  # measured -8.6 / -8.4 / -8.8 against -8.6
    before, after = (10 * np.log10(np.sum(e ** 2) / np.sum(clean ** 2)) for e in (noise, out - clean))
    assert after < before - 7.0  # measured 8.3, 8.1 and 8.4 dB better
    middle = (t > 0.35) & (t < 0.65)
    assert np.corrcoef(out[middle], clean[middle])[0, 1] > (0.99 if snr >= 10 else 0.9)


def test_spectral_subtraction_ignores_digital_silence_around_a_word():
    """A prepared word is zero-padded to its window; the zeros are not the noise floor (an estimate of 0 would
    subtract nothing). With 0.5 s of zeros on each side the noisy pauses are still cut by about the closed
    form's 8.6 dB (measured 7.2: the frames that straddle the padding pull the estimate down a little)."""
    from polymodal.data.audio import spectral_subtraction

    t, clean = _tone_burst()
    noise = np.random.default_rng(0).standard_normal(len(t)) * np.sqrt(np.mean(clean[(t > 0.3) & (t < 0.7)] ** 2) / 10)
    pad = np.zeros(8000)
    out = spectral_subtraction(np.r_[pad, clean + noise, pad])[8000:-8000]
    quiet = ((t < 0.25) | (t > 0.75)) & (t > 0.05) & (t < 0.95)
    kept = 10 * np.log10(np.sum(out[quiet] ** 2) / np.sum((clean + noise)[quiet] ** 2))
    assert -9.0 < kept < -6.0, kept
    np.testing.assert_array_equal(spectral_subtraction(np.zeros(1000)), np.zeros(1000))  # all silence: unchanged


def test_spectral_subtraction_without_subtraction_is_the_identity_and_checks_its_input():
    from polymodal.data.audio import spectral_subtraction
    from polymodal.errors import ConfigError, ShapeError

    x = np.random.default_rng(1).standard_normal(16000)
    np.testing.assert_allclose(spectral_subtraction(x, oversubtraction=0.0), x, atol=1e-12)  # STFT round trip
    with pytest.raises(ShapeError, match="has 100 samples, fewer than n_fft = 400"):
        spectral_subtraction(np.zeros(100))
    with pytest.raises(ConfigError, match="oversubtraction >= 0"):
        spectral_subtraction(x, oversubtraction=-1.0)
    with pytest.raises(ConfigError, match="noise_quantile"):
        spectral_subtraction(x, noise_quantile=0.0)
    with pytest.raises(ConfigError, match="NaN"):
        spectral_subtraction(np.full(1000, np.nan))
