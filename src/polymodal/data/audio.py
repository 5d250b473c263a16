"""Speech front-end for isolated words: one function from a recording to model input.

Lightning-free and model-free, so that both the dataset builder
(:mod:`polymodal.data.av_digits_build`) and the encoders
(:mod:`polymodal.encoders.speech`, which re-exports these names) use the same
code. :func:`prepare_speech` (and :func:`prepare_speech_file`) turn any
recording of one spoken word into the fixed-length waveform the AV-digits
models consume; :func:`speech_features` turns a batch of those waveforms into
the log-mel image.

Steps of :func:`prepare_speech`:

1. mono, float64, resampled to 16 kHz (soxr); a rate below 10 kHz warns (no
   information above its Nyquist frequency, unlike the training speech);
2. DC removal: subtract the mean, then a 2nd-order Butterworth high-pass at
   60 Hz (zero phase), so a constant offset or hum below 60 Hz never reaches
   the features;
3. clipping check: the share of samples on flat runs at the signal's peak
   (``|x| >= 0.999 max|x|`` on three or more consecutive samples); above 0.1% a
   :class:`ClippingWarning` names the fraction;
4. voice-activity detection (:func:`detect_speech`): a per-band SNR detector
   in the spirit of Sohn, Kim & Sung ("A statistical model-based voice
   activity detector", IEEE Signal Processing Letters 1999), simplified: the
   noise power of each of 24 mel bands is a low percentile of that band over
   the recording, a frame's score is its mean positive band SNR in dB
   (``s_t = mean_b max(0, 10 log10(P_bt / N_b))``), frames above an adaptive
   threshold form segments, segments closer than 200 ms merge, and the segment
   with the largest score mass is the word. A recording trimmed tightly around
   the word (as the Tux Paint clips are) has no stretch of noise: when the
   quietest 40% of frames are not stationary (score std > 1.5 dB) the threshold
   statistics come from the quietest 10% (std floored at 2 dB), so weak parts of the word (the /n/ of
   "nine", the final /ks/ of "six") are not taken for noise and cut;
5. the word (plus a 60 ms margin each side, 10 ms raised-cosine tapers) is
   scaled to unit RMS and centred in a 1.0 s window of zeros (a word longer
   than 0.96 s is time-compressed to fit, a documented simplification).

The model feature (:func:`speech_features`) is a 40-band log-mel image (0-5
kHz, 25 ms Hann windows, 512-point FFT, 10 ms hop: 40 x 101), in dB relative
to the utterance maximum, floored at -60 dB and scaled to [0, 1]
(:func:`log_mel_image`). With 40 bands over 0-5 kHz every band has its own
peak FFT bin (the former 112 bands drew 66 rows from at most 2 bins).
Two optional steps, off by default: pre-emphasis of the waveform
(:func:`pre_emphasis`) and per-utterance, per-band mean/variance
normalisation over the frames that hold sound (:func:`utterance_cmvn`).
Measured together on the AV-digits audio expert (2 seeds, 12 epochs;
pre-emphasis 0.97, CMVN over the sound frames) they lowered accuracy on the
validation voices from 0.929 to 0.906 (held-out test voices 0.912 -> 0.936,
real English 0.900 both), so by the validation rule the default feature is
the plain log-mel image. The PCEN image (:func:`pcen_image`, ``front="pcen"``)
was measured too (seed 0, 20 epochs, constant learning rate): validation voices
0.942 -> 0.905, held-out test voices 0.914 -> 0.930, real English 0.900 ->
0.850; not kept.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from polymodal.errors import ConfigError, DatasetError, ShapeError

__all__ = ["SR", "WINDOW_SECONDS", "WINDOW", "N_MELS", "FMAX", "N_FRAMES", "PRE_EMPHASIS", "ClippingWarning",
           "SilenceWarning", "SpeechSegment", "PreparedSpeech", "check_sample_rate", "detect_speech", "remove_dc",
           "clipped_fraction", "spectral_subtraction", "prepare_speech", "prepare_speech_file", "read_audio_file",
           "pre_emphasis", "log_mel_image", "utterance_cmvn",
           "speech_features", "slaney_mel_filters", "FEATURE_PRE_EMPHASIS", "FEATURE_CMVN", "pcen",
           "pcen_image", "FRONT_END_REVISION"]

# Bumped whenever prepare_speech gives another output for the same recording. A dataset built with
# another revision holds training speech that no longer matches what prepare_speech makes of new
# recordings (av_digits warns when it loads one). 1: until session 8; 2: session 9's word detection in
# tightly trimmed recordings (noise statistics from the quietest 10% of frames when the quietest 40%
# are not stationary noise).
FRONT_END_REVISION = 2

SR = 16_000
WINDOW_SECONDS = 1.0
WINDOW = int(SR * WINDOW_SECONDS)
N_MELS = 40
FMAX = 5_000.0
N_FFT, WIN_LENGTH, HOP = 512, 400, 160
N_FRAMES = WINDOW // HOP + 1
TOP_DB = 60.0
PRE_EMPHASIS = 0.97
CMVN_FLOOR = 0.02
FEATURE_PRE_EMPHASIS = 0.0  # the default feature: no pre-emphasis, no CMVN (see the module docstring)
FEATURE_CMVN = False
MARGIN_S = 0.06
TAPER_S = 0.01
CLIP_WARN = 1e-3
MAX_SAMPLE_RATE = 384_000


def check_sample_rate(sr, name: str = "sr") -> int:
    """``sr`` as an int; :class:`~polymodal.errors.ConfigError` unless it is a whole number of Hz in
    [1000, 384000]. An integral float (``16000.0``, as some readers return it) is accepted; ``16000.5`` is not."""
    integral = isinstance(sr, (int, np.integer)) or (isinstance(sr, (float, np.floating)) and float(sr).is_integer())
    if isinstance(sr, bool) or not integral or not 1_000 <= int(sr) <= MAX_SAMPLE_RATE:
        raise ConfigError(f"{name} must be an integer sample rate in [1000, {MAX_SAMPLE_RATE}] Hz, got {sr!r}")
    return int(sr)


class ClippingWarning(UserWarning):
    """The recording is clipped (flat runs at its peak); the share of clipped samples is in the message."""


class SilenceWarning(UserWarning):
    """The recording holds no signal (every sample equal): its model input is all zeros, the input a
    missing recording gets."""


@dataclass(frozen=True)
class SpeechSegment:
    """Where :func:`detect_speech` found the word: ``start``/``end`` in seconds of the input."""

    start: float
    end: float
    threshold_db: float
    peak_db: float


@dataclass
class PreparedSpeech:
    """Output of :func:`prepare_speech`.

    ``waveform``: float32 ``(16000,)`` at 16 kHz, the word at unit RMS centred
    in 1 s of zeros; ``start``/``end``: the detected word in seconds of the
    input; ``clipped_fraction``: share of clipped samples; ``dc_offset``: the
    mean that was removed; ``speech_span``: (first, last) sample of the word
    inside ``waveform``; ``stretch``: time-compression applied (1.0 = none).
    """

    waveform: np.ndarray
    start: float
    end: float
    clipped_fraction: float
    dc_offset: float
    speech_span: tuple[int, int]
    stretch: float = 1.0

    def features(self) -> torch.Tensor:
        """The model input ``(1, 40, 101)`` of this word (see :func:`speech_features`)."""
        return speech_features(self.waveform[None])[0][None]


def _as_mono(waveform, name: str = "waveform") -> np.ndarray:
    raw = np.asarray(waveform)
    if raw.dtype.kind in "bcmMVSU":
        raise ConfigError(f"{name} must hold real-valued samples, got dtype {raw.dtype}"
                          + (" (pass the real part, or abs(), yourself)" if raw.dtype.kind == "c" else ""))
    try:
        x = raw.astype(np.float64)
    except (TypeError, ValueError) as error:  # an object array of something other than real numbers
        raise ConfigError(f"{name} must hold real-valued samples, got dtype {raw.dtype} ({error})") from None
    if x.ndim == 2:
        x = x.mean(axis=0 if x.shape[0] <= 8 and x.shape[0] < x.shape[1] else 1)
    if x.ndim != 1:
        raise ShapeError(f"{name} must be (L,) samples or (channels, L), got shape {np.shape(waveform)}")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{name} holds NaN or infinite samples")
    return x


@lru_cache(maxsize=8)
def _highpass(cutoff: float, sample_rate: int) -> np.ndarray:
    from scipy.signal import butter

    return butter(2, cutoff, "highpass", fs=sample_rate, output="sos")


def remove_dc(x: np.ndarray, sample_rate: int = SR, cutoff: float = 60.0) -> tuple[np.ndarray, float]:
    """``x`` minus its mean, then zero-phase 2nd-order Butterworth high-pass at ``cutoff`` Hz; returns the
    filtered signal and the removed mean."""
    from scipy.signal import sosfiltfilt

    offset = float(np.mean(x))
    y = x - offset
    if len(y) > 30:
        y = sosfiltfilt(_highpass(float(cutoff), int(sample_rate)), y)
    return y, offset


def spectral_subtraction(waveform, *, oversubtraction: float = 2.0, floor: float = 0.05,
                         noise_quantile: float = 0.2, n_fft: int = 400, hop: int = 160) -> np.ndarray:
    """Stationary noise removed by power spectral subtraction (S. F. Boll, "Suppression of acoustic noise in
    speech using spectral subtraction", IEEE TASSP 1979) with over-subtraction and a spectral floor (M. Berouti,
    R. Schwartz and J. Makhoul, ICASSP 1979): per STFT bin ``|S|^2 = max(|X|^2 - alpha N, beta^2 |X|^2)``, the
    noisy phase kept, where ``N`` is the mean power per frequency of the ``noise_quantile`` share of frames
    with the least energy (the pauses around a word; frames of digital silence, e.g. zero padding, left out),
    ``alpha = oversubtraction``, ``beta = floor``. Hann window ``n_fft`` (25 ms at 16 kHz), hop ``hop``; the
    output has the input's length. ``oversubtraction=0`` returns the input (up to the STFT round trip), and so
    does an input of digital silence only. Written by hand: the textbook rule is a few lines on
    ``torch.stft``, and the libraries that offer denoising (e.g. noisereduce) implement spectral gating, a
    different rule."""
    x = _as_mono(waveform)
    if len(x) < n_fft:
        raise ShapeError(f"spectral_subtraction: the waveform has {len(x)} samples, fewer than n_fft = {n_fft}")
    if oversubtraction < 0 or not 0 <= floor <= 1 or not 0 < noise_quantile <= 1:
        raise ConfigError(f"spectral_subtraction needs oversubtraction >= 0, 0 <= floor <= 1 and "
                          f"0 < noise_quantile <= 1; got {oversubtraction}, {floor}, {noise_quantile}")
    t = torch.as_tensor(x, dtype=torch.float64)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(t, n_fft, hop, window=window, return_complex=True)
    power = spec.abs() ** 2
    energy = power.sum(0)
    active = torch.nonzero(energy > 1e-12 * energy.max()).flatten()  # digital silence (padding) is not noise
    if len(active) == 0:
        return x.copy()
    quiet = active[torch.argsort(energy[active])[:max(1, int(noise_quantile * len(active)))]]
    noise = power[:, quiet].mean(1, keepdim=True)
    gain = torch.clamp(1.0 - oversubtraction * noise / power.clamp(min=1e-30), min=floor ** 2).sqrt()
    return torch.istft(spec * gain, n_fft, hop, window=window, length=len(t)).numpy()


def clipped_fraction(x: np.ndarray, level: float = 0.999, run: int = 3) -> float:
    """Share of samples on flat runs (``run`` or more consecutive samples of one sign) at
    ``|x| >= level * max|x|``.

    Clipping flattens the waveform at the converter's limit; natural speech
    almost never holds its peak (to 0.1%) for three samples. Lossy codecs turn
    the plateaus into ripples that this test can miss.
    """
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak <= 0:
        return 0.0
    at_peak = np.abs(x) >= level * peak
    flagged = np.zeros(len(x), dtype=bool)
    for sign in (1.0, -1.0):
        mask = at_peak & (np.sign(x) == sign)
        edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if b - a >= run:
                flagged[a:b] = True
    return float(flagged.mean())


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, linear)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * 200.0 / 3)


def slaney_mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-style mel filter bank ``(n_mels, n_fft // 2 + 1)`` with area normalisation (Slaney,
    Auditory Toolbox, 1998); equal to ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax)`` without importing librosa (whose import compiles numba code)."""
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]


_VAD_FILTERS = slaney_mel_filters(SR, 512, 32, 100.0, 7600.0)
_VAD_WINDOW = np.hanning(401)[:-1]  # periodic Hann, 25 ms


def _band_powers(x: np.ndarray) -> np.ndarray:
    """Mel band powers (24 bands, 100-5000 Hz, 25 ms Hann frames, 10 ms hop, centred) ``(24, T)``."""
    padded = np.pad(x, (200, 200))
    n = 1 + max(0, (len(padded) - 400) // 160)
    if len(padded) < 400:
        padded = np.pad(padded, (0, 400 - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, 400)[::160][:n] * _VAD_WINDOW
    spec = np.abs(np.fft.rfft(frames, n=512, axis=1)) ** 2
    return _VAD_FILTERS @ spec.T


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    import soxr

    return soxr.resample(x, rate, target, quality="HQ")


def detect_speech(x: np.ndarray, sample_rate: int = SR, *, noise_percentile: float = 15.0,
                  merge_gap: float = 0.2, high_sigmas: float = 6.0, low_sigmas: float = 2.5,
                  relative_threshold: float = 0.1, bridge_gap: float = 0.12,
                  quiet_sd_max: float = 1.5) -> SpeechSegment:
    """Find the word in a recording ``x`` ``(L,)`` at ``sample_rate`` Hz (16 kHz expected).

    Per-band SNR detector with hysteresis (a simplification of Sohn et al.,
    IEEE SPL 1999): ``N_b`` = the ``noise_percentile`` percentile of band
    ``b`` over frames (at least -70 dB below the band's peak), frame score
    ``s_t = mean_b max(0, 10 log10(P_bt / N_b))`` smoothed over 5 frames.
    With ``mu``, ``sd`` the mean and standard deviation of the scores of the
    quietest 40% of frames (the noise; if their ``sd`` exceeds ``quiet_sd_max`` dB
    they are not stationary noise but weak speech, as in a recording trimmed
    tightly around the word, and the quietest 10%, at least 5 frames, are
    used instead, their ``sd`` floored at 2 dB), frames above
    ``max(mu + high_sigmas sd, relative_threshold max_t s_t)`` seed segments
    (seeds closer than ``merge_gap`` seconds join); the seed segment with the
    largest excess score ``sum (s_t - high)`` is the word, extended on both
    sides while ``s_t > mu + low_sigmas sd`` and across gaps shorter than
    ``bridge_gap`` seconds to frames above the middle threshold (the closure
    before a final /ks/ or /t/). A recording with no frame above
    the threshold returns the whole input.
    """
    x = _as_mono(x, "x")
    if sample_rate != SR:
        raise ConfigError(f"detect_speech works at {SR} Hz, got sample_rate={sample_rate}; resample first "
                          "(prepare_speech does)")
    hop = 160
    power = _band_powers(x)
    peak_band = power.max(axis=1, keepdims=True)
    noise = np.maximum(np.percentile(power, noise_percentile, axis=1, keepdims=True), peak_band * 1e-7)
    noise = np.maximum(noise, 1e-20)
    snr = 10.0 * np.log10(np.maximum(power, 1e-30) / noise)
    top = np.sort(np.maximum(snr, 0.0), axis=0)[-max(1, len(snr) // 3):]  # the best third of the bands
    score = np.convolve(top.mean(axis=0), np.ones(5) / 5, mode="same")
    quiet = np.sort(score)[: max(1, int(0.4 * len(score)))]
    mu, sd = float(quiet.mean()), max(float(quiet.std()), 0.5)
    if sd > quiet_sd_max:  # a tightly trimmed recording: its quietest 40% hold nasals and fricatives
        quiet = np.sort(score)[: max(5, int(0.1 * len(score)))]
        mu, sd = float(quiet.mean()), max(float(quiet.std()), 2.0)  # 5 frames underestimate the spread
    peak = float(score.max())
    high = max(mu + high_sigmas * sd, relative_threshold * peak)
    low = min(high, mu + low_sigmas * sd)
    active = score > high
    if not active.any():
        return SpeechSegment(0.0, len(x) / SR, high, peak)
    idx = np.flatnonzero(active)
    breaks = np.flatnonzero(np.diff(idx) > int(round(merge_gap * SR / hop)))
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    mass = [np.clip(score[a:b + 1] - high, 0, None).sum() for a, b in zip(starts, ends)]
    best = int(np.argmax(mass))
    first, last = int(starts[best]), int(ends[best])
    bridge = int(round(bridge_gap * SR / hop))
    mid = min(high, mu + 0.5 * (high_sigmas + low_sigmas) * sd)
    grown = True
    while grown:  # grow over the low threshold, and across short gaps to parts above the middle threshold
        grown = False
        while first > 0 and score[first - 1] > low:
            first, grown = first - 1, True
        while last < len(score) - 1 and score[last + 1] > low:
            last, grown = last + 1, True
        before = score[max(0, first - bridge):first]
        if len(before) and before.max() > mid:
            first, grown = max(0, first - bridge) + int(np.argmax(before > mid)), True
        after = score[last + 1:last + 1 + bridge]
        if len(after) and after.max() > mid:
            last, grown = last + 1 + int(np.flatnonzero(after > mid)[-1]), True
    start = max(0.0, (first * hop - hop / 2) / SR)
    end = min(len(x) / SR, (last * hop + hop / 2) / SR)
    return SpeechSegment(float(start), float(end), float(high), peak)


def prepare_speech(waveform, sample_rate: int, *, warn: bool = True) -> PreparedSpeech:
    """Turn a recording of one spoken word into model input (see the module docstring for the steps).

    Parameters
    ----------
    waveform : array ``(L,)`` or ``(channels, L)``, any scale.
    sample_rate : int (or a float holding a whole number), Hz (1000 to 384000).
    warn : bool
        Emit :class:`ClippingWarning` (clipped share > 0.1%), :class:`SilenceWarning` (every sample equal)
        and a low-rate warning (< 10 kHz).

    Returns
    -------
    :class:`PreparedSpeech` (its ``waveform`` goes to :func:`speech_features`).
    """
    rate = check_sample_rate(sample_rate, "sample_rate")
    x = _as_mono(waveform)
    if len(x) < rate // 50:
        raise ShapeError(f"waveform of {len(x)} samples is shorter than 20 ms at {rate} Hz")
    clipped, silent = clipped_fraction(x), bool(np.ptp(x) == 0)
    if warn and silent:
        warnings.warn("recording is silent (every sample equal): its model input is all zeros, as for a missing "
                      "recording", SilenceWarning, stacklevel=2)
    elif warn and clipped > CLIP_WARN:
        warnings.warn(f"recording is clipped: {clipped:.1%} of samples sit on flat runs at the peak",
                      ClippingWarning, stacklevel=2)
    if warn and rate < 10_000:
        warnings.warn(f"sample rate {rate} Hz holds nothing above {rate / 2:g} Hz; the models were trained on "
                      f"speech up to {FMAX:g} Hz", UserWarning, stacklevel=2)
    if rate != SR:
        x = _resample(x, rate, SR)
    x, offset = remove_dc(x)
    segment = detect_speech(x)
    a = max(0, int(round((segment.start - MARGIN_S) * SR)))
    b = min(len(x), int(round((segment.end + MARGIN_S) * SR)))
    word = x[a:b].copy()
    taper = min(int(TAPER_S * SR), len(word) // 2)
    if taper > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(taper) / taper)
        word[:taper] *= ramp
        word[-taper:] *= ramp[::-1]
    stretch = 1.0
    limit = WINDOW - int(0.04 * SR)
    if len(word) > limit:
        stretch = limit / len(word)
        word = np.interp(np.linspace(0, len(word) - 1, limit), np.arange(len(word)), word)
    rms = float(np.sqrt(np.mean(word**2)))
    word = word / rms if rms > 0 else word
    out = np.zeros(WINDOW)
    first = (WINDOW - len(word)) // 2
    out[first:first + len(word)] = word
    return PreparedSpeech(out.astype(np.float32), segment.start, segment.end, clipped, offset,
                          (first, first + len(word)), stretch)


def read_audio_file(path: str | os.PathLike, dtype: str = "float64") -> tuple[np.ndarray, int]:
    """``(samples (L, channels), sample_rate)`` of an audio file (WAV/OGG/FLAC, libsndfile), as
    decoded (not clipped, not resampled). :class:`~polymodal.errors.DatasetError` for a missing,
    unreadable or empty file."""
    import soundfile

    if not os.path.isfile(path):
        raise DatasetError(f"audio file not found: {path}")
    try:
        data, rate = soundfile.read(str(path), dtype=dtype, always_2d=True)
    except Exception as error:  # soundfile raises LibsndfileError / RuntimeError
        raise DatasetError(f"cannot read audio file {path}: {error}") from None
    if data.shape[0] == 0:
        raise DatasetError(f"audio file {path} is empty (0 samples)")
    return data, int(rate)


def prepare_speech_file(path: str | os.PathLike, *, warn: bool = True) -> PreparedSpeech:
    """:func:`prepare_speech` of an audio file (WAV/OGG/FLAC, libsndfile) read at its own sample rate,
    channels averaged, decoded values not clipped. :class:`~polymodal.errors.DatasetError` for a missing,
    unreadable or empty file."""
    data, rate = read_audio_file(path)
    return prepare_speech(data.mean(axis=1), rate, warn=warn)


def pre_emphasis(x, coef: float = PRE_EMPHASIS):
    """First-order pre-emphasis along the last axis: ``y[0] = x[0]``, ``y[n] = x[n] - coef x[n-1]``,
    i.e. ``scipy.signal.lfilter([1, -coef], [1], x)``; numpy array or torch tensor in, the same out.

    A +6 dB/octave tilt above ``f ~ (1 - coef) SR / (2 pi)`` (80 Hz for 0.97 at 16 kHz) that lifts the
    weak high-frequency consonants (/s/, /f/, /v/) towards the vowels before the -60 dB floor of
    :func:`log_mel_image` (Rabiner & Schafer, "Digital Processing of Speech Signals", 1978, sec. 8.8).

    Examples
    --------
    >>> pre_emphasis(np.array([1.0, 1.0, 0.0]), 0.5).tolist()
    [1.0, 0.5, -0.5]
    """
    if not 0.0 <= coef < 1.0:
        raise ConfigError(f"pre-emphasis coefficient must be in [0, 1), got {coef}")
    if coef == 0.0:
        return x
    if isinstance(x, torch.Tensor):
        return torch.cat([x[..., :1], x[..., 1:] - coef * x[..., :-1]], dim=-1)
    x = np.asarray(x)
    return np.concatenate([x[..., :1], x[..., 1:] - coef * x[..., :-1]], axis=-1)


@lru_cache(maxsize=4)
def _mel_basis(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    window = torch.hann_window(WIN_LENGTH, periodic=True, dtype=torch.float64).to(dtype)
    filters = torch.as_tensor(slaney_mel_filters(SR, N_FFT, N_MELS, 0.0, FMAX), dtype=dtype)
    return window, filters


def log_mel_image(waveform: torch.Tensor) -> torch.Tensor:
    """Log-mel image ``(N, 40, 101)`` in [0, 1] of 1 s waveforms ``(N, 16000)`` (float tensor).

    ``L = 10 log10(max(M |STFT|^2, 1e-10))`` (40 Slaney mel bands 0-5 kHz, 25 ms Hann window, 512-point
    FFT, 10 ms hop, centred with zero padding; equal to ``librosa.power_to_db(librosa.feature.melspectrogram(
    ...))`` with these parameters), then ``clip((L - max L + 60) / 60, 0, 1)`` per utterance; row 0 is the
    lowest band.
    """
    if waveform.ndim != 2:
        raise ShapeError(f"speech features expect waveforms (N, L), got {tuple(waveform.shape)}")
    x = waveform if waveform.is_floating_point() else waveform.float()
    if x.dtype == torch.float16:
        x = x.float()
    window, filters = _mel_basis(x.dtype)
    spec = torch.stft(x, N_FFT, HOP, WIN_LENGTH, window, center=True, pad_mode="constant",
                      return_complex=True).abs() ** 2
    db = 10.0 * torch.log10(torch.clamp(torch.matmul(filters, spec), min=1e-10))
    db = db - db.amax(dim=(1, 2), keepdim=True)
    return torch.clamp((db + TOP_DB) / TOP_DB, 0.0, 1.0)


def pcen(energy: torch.Tensor, *, time_constant: float = 0.4, frame_rate: float = SR / HOP, gain: float = 0.98,
         bias: float = 2.0, power: float = 0.5, eps: float = 1e-6) -> torch.Tensor:
    """Per-channel energy normalisation of filter-bank energies ``(..., T)`` (time last).

    Wang, Getreuer, Hughes, Lyon & Saurous, "Trainable frontend for robust and far-field keyword
    spotting", ICASSP 2017, eqs. (1)-(2): a first-order IIR low-pass ``M`` of each channel's energy
    ``E`` divides ``E`` (automatic gain control), then a root compression::

        M[t] = (1 - s) M[t - 1] + s E[t]
        PCEN[t] = (E[t] / (eps + M[t])^gain + bias)^power - bias^power

    with the smoothing coefficient ``s`` of ``librosa.pcen`` (time constant ``T = time_constant *
    frame_rate`` frames, ``s = (sqrt(1 + 4 T^2) - 1) / (2 T^2)``) and librosa's initial state (the
    filter's steady state for a unit input, ``M[-1] = 1``); so the result equals
    ``librosa.pcen(E, sr=frame_rate * hop, hop_length=hop, gain=..., bias=..., power=..., time_constant=...,
    eps=..., max_size=1)``. ``power > 0`` and ``bias > 0`` (the paper's setting).

    Examples
    --------
    >>> out = pcen(torch.zeros(1, 2, 5))
    >>> float(out.abs().max())
    0.0
    """
    if not (power > 0 and bias > 0 and time_constant > 0 and frame_rate > 0 and eps > 0 and gain >= 0):
        raise ConfigError(f"pcen needs power, bias, time_constant, frame_rate, eps > 0 and gain >= 0, got "
                          f"power={power}, bias={bias}, time_constant={time_constant}, frame_rate={frame_rate}, "
                          f"eps={eps}, gain={gain}")
    if energy.ndim < 1 or energy.shape[-1] < 1:
        raise ShapeError(f"pcen expects energies (..., T) with T >= 1, got {tuple(energy.shape)}")
    if bool((energy < 0).any()):
        raise ConfigError("pcen expects non-negative filter-bank energies")
    frames = time_constant * frame_rate
    s = (np.sqrt(1.0 + 4.0 * frames ** 2) - 1.0) / (2.0 * frames ** 2)
    smooth = torch.empty_like(energy)
    m = torch.ones_like(energy[..., 0])
    for t in range(energy.shape[-1]):
        m = (1.0 - s) * m + s * energy[..., t]
        smooth[..., t] = m
    agc = torch.exp(-gain * (np.log(eps) + torch.log1p(smooth / eps)))
    return bias ** power * torch.expm1(power * torch.log1p(energy * agc / bias))


def pcen_image(waveform: torch.Tensor) -> torch.Tensor:
    """PCEN image ``(N, 40, 101)`` of 1 s waveforms ``(N, 16000)``: :func:`pcen` of the 40-band Slaney mel
    magnitude spectrogram (the bands and frames of :func:`log_mel_image`, ``|STFT|`` not ``|STFT|^2``)
    scaled by ``2^31``, as librosa's documentation applies it to float audio (its example: ``pcen(S *
    2**31)`` of a ``power=1`` mel spectrogram); default PCEN parameters of :func:`pcen`."""
    if waveform.ndim != 2:
        raise ShapeError(f"speech features expect waveforms (N, L), got {tuple(waveform.shape)}")
    x = waveform.float() if not waveform.is_floating_point() or waveform.dtype == torch.float16 else waveform
    window, filters = _mel_basis(x.dtype)
    spec = torch.stft(x, N_FFT, HOP, WIN_LENGTH, window, center=True, pad_mode="constant",
                      return_complex=True).abs()
    return pcen(torch.matmul(filters, spec) * 2.0 ** 31)


def utterance_cmvn(image: torch.Tensor, floor: float = CMVN_FLOOR) -> torch.Tensor:
    """Per-utterance, per-band mean/variance normalisation of log-mel images ``(N, M, T)`` over the
    frames that hold sound.

    A frame holds sound when some band is above the image's floor (``> 0``: the zeros around the word
    in a prepared window are exactly 0). With ``A`` those frames, per band ``m``:
    ``mu_m = mean_{t in A} x[m, t]``, ``s_m = std_{t in A} x[m, t]`` (population),
    ``z[m, t] = (x[m, t] - mu_m) / (s_m + floor)`` for ``t in A`` and 0 elsewhere. Cepstral mean and
    variance normalisation (Viikki & Laurila, Speech Communication 1998) applied to log-mel bands, as
    Kaldi's ``apply-cmvn`` per utterance, restricted to the voiced window so that the silence padding
    does not set the statistics; ``floor`` keeps near-constant bands from being blown up. It removes a
    fixed spectral tilt per band (microphone, channel, voice), which the max-normalised image keeps.
    An image with no sound frame stays 0.

    Examples
    --------
    >>> z = utterance_cmvn(torch.tensor([[[0.0, 0.2, 0.6]]]), floor=0.0)
    >>> [round(v, 4) + 0.0 for v in z.flatten().tolist()]
    [0.0, -1.0, 1.0]
    """
    if image.ndim != 3:
        raise ShapeError(f"utterance_cmvn expects images (N, M, T), got {tuple(image.shape)}")
    if floor < 0:
        raise ConfigError(f"floor must be >= 0, got {floor}")
    active = (image.amax(dim=1, keepdim=True) > 0).to(image.dtype)
    count = active.sum(dim=2, keepdim=True).clamp(min=1.0)
    mean = (image * active).sum(dim=2, keepdim=True) / count
    centred = (image - mean) * active
    std = (centred.pow(2).sum(dim=2, keepdim=True) / count).sqrt()
    return centred / (std + floor) if floor > 0 else centred / std.clamp(min=1e-12)


def speech_features(waveforms, *, pre_emphasis_coef: float = FEATURE_PRE_EMPHASIS,
                    cmvn: bool = FEATURE_CMVN, front: str = "log_mel") -> torch.Tensor:
    """The model input of prepared 1 s waveforms ``(N, 16000)`` (numpy or torch): float32 ``(N, 40, 101)``,
    by default the [0, 1] log-mel image :func:`log_mel_image`; with ``pre_emphasis_coef > 0`` the waveform
    is pre-emphasised first (:func:`pre_emphasis`), with ``cmvn`` the image is normalised per utterance
    (:func:`utterance_cmvn`); ``front="pcen"`` uses the PCEN image :func:`pcen_image` instead of the
    log-mel image."""
    if front not in FRONTS:
        raise ConfigError(f"front must be one of {sorted(FRONTS)}, got {front!r}")
    x = waveforms if isinstance(waveforms, torch.Tensor) else torch.as_tensor(np.asarray(waveforms))
    if x.ndim != 2:
        raise ShapeError(f"speech_features expects waveforms (N, L), got {tuple(x.shape)}")
    if not len(x):
        return torch.zeros(0, N_MELS, x.shape[1] // HOP + 1)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 512):
            image = FRONTS[front](pre_emphasis(x[i:i + 512].float(), pre_emphasis_coef))
            out.append(utterance_cmvn(image) if cmvn else image)
    return torch.cat(out)


FRONTS = {"log_mel": log_mel_image, "pcen": pcen_image}
