"""Recording-channel simulation: microphone/loudspeaker colouring, band-limited storage and lossy codecs.

Real recordings reach a model through a chain that synthetic speech never
passes: a microphone (and often a loudspeaker) with its own frequency response,
a file stored at a lower sample rate, and a lossy codec. This module simulates
that chain on a waveform, as a data augmentation for speech models in the
spirit of Ko, Peddinti, Povey & Khudanpur (speed perturbation, Interspeech
2015; simulated reverberation and noise, ICASSP 2017): train on the synthetic
audio passed through random channels so that the channel is not a cue.

Steps of :func:`apply_channel`, each optional:

1. equaliser (:func:`design_eq`, applied by :func:`apply_eq`): a Butterworth
   high-pass (order 2, a microphone's or small loudspeaker's bass roll-off), a
   Butterworth low-pass (order 4, a microphone's or anti-aliasing roll-off), a
   high shelf (a spectral tilt: a gain of ``shelf_db`` above ``shelf_hz``,
   0 dB at DC) and peaking filters (resonances of a capsule or a room); the
   shelf and the peaks are the biquads of R. Bristow-Johnson's "Cookbook
   formulae for audio EQ biquad filter coefficients" (W3C Audio EQ Cookbook);
2. storage at another sample rate: resampled to ``via_rate`` and back (soxr,
   high quality), which removes everything above ``via_rate / 2``;
3. a lossy codec round trip at that rate (:func:`codec_roundtrip`): OGG Vorbis,
   OGG Opus or MP3 through libsndfile (``soundfile``), ``compression`` in
   [0, 1] being libsndfile's compression level (0 = best quality).

:class:`RecordingChannel` draws the parameters of the chain at random from
ranges; the codec is slow (5-20 ms per second of audio), so render channel
copies once and reuse them, not on every training step.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from polymodal.data.audio import _resample
from polymodal.errors import ConfigError, ShapeError

__all__ = ["CODECS", "design_eq", "eq_response", "apply_eq", "band_limit", "codec_roundtrip", "apply_channel",
           "RecordingChannel"]

# name -> (libsndfile format, subtype, sample rates the codec accepts; None = any)
CODECS: dict[str, tuple[str, str, tuple[int, ...] | None]] = {
    "vorbis": ("OGG", "VORBIS", None),
    "opus": ("OGG", "OPUS", (8000, 12000, 16000, 24000, 48000)),
    "mp3": ("MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
}
MP3_MAX_COMPRESSION = 0.95  # libsndfile 1.2 refuses MP3 compression level 1.0


def _signal(x, name: str = "waveform") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array (L,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ShapeError(f"{name} holds non-finite values (NaN or inf)")
    return x


def _rate(sample_rate, name: str = "sample_rate") -> int:
    if isinstance(sample_rate, bool) or not float(sample_rate).is_integer() or not 1000 <= sample_rate <= 384_000:
        raise ConfigError(f"{name} must be an integer number of Hz in [1000, 384000], got {sample_rate!r}")
    return int(sample_rate)


def _frequency(f: float, sample_rate: int, name: str) -> float:
    if not 0.0 < float(f) < sample_rate / 2:
        raise ConfigError(f"{name} must lie strictly between 0 and the Nyquist frequency {sample_rate / 2:g} Hz, "
                          f"got {f}")
    return float(f)


def _peaking(f0: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    a, w0 = 10.0 ** (gain_db / 40.0), 2.0 * np.pi * f0 / sample_rate
    alpha = np.sin(w0) / (2.0 * q)
    b = [1.0 + alpha * a, -2.0 * np.cos(w0), 1.0 - alpha * a]
    den = [1.0 + alpha / a, -2.0 * np.cos(w0), 1.0 - alpha / a]
    return np.array(b + den) / den[0]


def _high_shelf(f0: float, gain_db: float, sample_rate: int) -> np.ndarray:
    a, w0 = 10.0 ** (gain_db / 40.0), 2.0 * np.pi * f0 / sample_rate
    cos, two_sqrt_a_alpha = np.cos(w0), np.sqrt(a) * np.sin(w0) * np.sqrt(2.0)  # shelf slope S = 1
    b = [a * ((a + 1) + (a - 1) * cos + two_sqrt_a_alpha), -2 * a * ((a - 1) + (a + 1) * cos),
         a * ((a + 1) + (a - 1) * cos - two_sqrt_a_alpha)]
    den = [(a + 1) - (a - 1) * cos + two_sqrt_a_alpha, 2 * ((a - 1) - (a + 1) * cos),
           (a + 1) - (a - 1) * cos - two_sqrt_a_alpha]
    return np.array(b + den) / den[0]


def design_eq(sample_rate: int, *, highpass_hz: float | None = None, lowpass_hz: float | None = None,
              shelf_db: float = 0.0, shelf_hz: float = 1000.0, peaks=(), highpass_order: int = 2,
              lowpass_order: int = 4) -> np.ndarray:
    """Second-order sections ``(K, 6)`` (scipy's ``sos`` layout) of a channel equaliser.

    The cascade of: a Butterworth high-pass of order ``highpass_order`` at ``highpass_hz`` (``|H| = 1/sqrt(2)``
    at the cut-off), a Butterworth low-pass of order ``lowpass_order`` at ``lowpass_hz`` (``scipy.signal.butter``,
    bilinear transform with pre-warping), a high shelf of ``shelf_db`` at ``shelf_hz`` (gain ``shelf_db`` at
    the Nyquist frequency, ``shelf_db / 2`` at ``shelf_hz``, 0 dB at DC; shelf slope 1) and one peaking
    filter per ``(f0_hz, gain_db, q)`` in ``peaks`` (gain ``gain_db`` at ``f0_hz``, 0 dB at DC and Nyquist,
    bandwidth ``f0 / q``); shelf and peaks follow Bristow-Johnson's Audio EQ Cookbook. A ``None`` cut-off,
    a 0 dB shelf and no peaks give the identity section.

    Examples
    --------
    >>> sos = design_eq(16000, highpass_hz=200.0, peaks=[(1000.0, 6.0, 1.0)])
    >>> sos.shape
    (2, 6)
    >>> round(float(20 * np.log10(eq_response(sos, [1000.0], 16000)[0])), 1)  # peak, a little high-pass loss
    6.0
    """
    from scipy.signal import butter

    rate = _rate(sample_rate)
    sections = []
    if highpass_hz is not None:
        sections.append(butter(highpass_order, _frequency(highpass_hz, rate, "highpass_hz"), "highpass", fs=rate,
                               output="sos"))
    if lowpass_hz is not None:
        if highpass_hz is not None and lowpass_hz <= highpass_hz:
            raise ConfigError(f"lowpass_hz ({lowpass_hz}) must exceed highpass_hz ({highpass_hz})")
        sections.append(butter(lowpass_order, _frequency(lowpass_hz, rate, "lowpass_hz"), "lowpass", fs=rate,
                               output="sos"))
    if shelf_db != 0.0:
        sections.append(_high_shelf(_frequency(shelf_hz, rate, "shelf_hz"), float(shelf_db), rate)[None])
    for peak in peaks:
        if len(peak) != 3:
            raise ConfigError(f"each peak is (f0_hz, gain_db, q), got {peak!r}")
        f0, gain, q = peak
        if not q > 0:
            raise ConfigError(f"peak q must be positive, got {q}")
        sections.append(_peaking(_frequency(f0, rate, "peak f0_hz"), float(gain), float(q), rate)[None])
    if not sections:
        return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    return np.concatenate(sections)


def eq_response(sos: np.ndarray, freqs, sample_rate: int) -> np.ndarray:
    """``|H(f)|`` of second-order sections at the frequencies ``freqs`` (Hz): ``scipy.signal.sosfreqz``."""
    from scipy.signal import sosfreqz

    _, h = sosfreqz(np.asarray(sos, dtype=np.float64), worN=np.asarray(freqs, dtype=np.float64), fs=_rate(sample_rate))
    return np.abs(h)


def apply_eq(x, sos: np.ndarray) -> np.ndarray:
    """``x`` ``(L,)`` filtered by the second-order sections ``sos`` (causal, ``scipy.signal.sosfilt``)."""
    from scipy.signal import sosfilt

    return sosfilt(np.asarray(sos, dtype=np.float64), _signal(x))


def _fit_length(y: np.ndarray, length: int) -> np.ndarray:
    return y[:length] if len(y) >= length else np.pad(y, (0, length - len(y)))


def band_limit(x, sample_rate: int, via_rate: int) -> np.ndarray:
    """``x`` resampled to ``via_rate`` and back to ``sample_rate`` (soxr, high quality; same length): the
    spectrum above ``min(sample_rate, via_rate) / 2`` is removed, the band below kept."""
    x, rate, via = _signal(x), _rate(sample_rate), _rate(via_rate, "via_rate")
    if via == rate:
        return x.copy()
    return _fit_length(_resample(_resample(x, rate, via), via, rate), len(x))


def codec_roundtrip(x, sample_rate: int, codec: str = "vorbis", compression: float = 0.5) -> np.ndarray:
    """``x`` ``(L,)`` encoded with a lossy codec and decoded again (libsndfile through ``soundfile``, in memory).

    ``codec``: ``"vorbis"`` (OGG Vorbis, any rate), ``"opus"`` (OGG Opus, 8/12/16/24/48 kHz) or ``"mp3"``
    (MPEG-1/2 layer III, the MPEG rates; ``compression`` at most 0.95). ``compression`` in [0, 1] is
    libsndfile's compression level (0: best quality / highest bit rate). The signal is scaled to a peak of
    0.9 before encoding and scaled back after, so the round trip is scale-equivariant and never clips; the
    output has the input's length and sample rate (libsndfile decodes these codecs without added delay).
    """
    import soundfile

    x, rate = _signal(x), _rate(sample_rate)
    if codec not in CODECS:
        raise ConfigError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
    fmt, subtype, rates = CODECS[codec]
    if rates is not None and rate not in rates:
        raise ConfigError(f"codec {codec!r} supports the sample rates {rates}, got {rate}")
    limit = MP3_MAX_COMPRESSION if codec == "mp3" else 1.0
    if not 0.0 <= compression <= limit:
        raise ConfigError(f"compression for codec {codec!r} must be in [0, {limit}], got {compression}")
    peak = float(np.abs(x).max())
    if peak == 0.0:
        return x.copy()
    buffer = io.BytesIO()
    soundfile.write(buffer, x * (0.9 / peak), rate, format=fmt, subtype=subtype, compression_level=float(compression))
    buffer.seek(0)
    y, _ = soundfile.read(buffer, dtype="float64")
    return _fit_length(y, len(x)) * (peak / 0.9)


def apply_channel(x, sample_rate: int, *, highpass_hz: float | None = None, lowpass_hz: float | None = None,
                  shelf_db: float = 0.0, shelf_hz: float = 1000.0, peaks=(), via_rate: int | None = None,
                  codec: str | None = None, compression: float = 0.5) -> np.ndarray:
    """``x`` ``(L,)`` through a recording channel: :func:`design_eq` equaliser, then storage at ``via_rate``
    (resampled there, through ``codec`` at that rate if given, and back; :func:`band_limit`,
    :func:`codec_roundtrip`), then scaled to the input's RMS. Same length and rate as the input.

    Examples
    --------
    >>> x = np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
    >>> y = apply_channel(x, 16000, highpass_hz=100.0, via_rate=8000, codec="vorbis", compression=0.3)
    >>> y.shape, bool(abs(np.sqrt(np.mean(y ** 2)) - np.sqrt(np.mean(x ** 2))) < 1e-9)
    ((8000,), True)
    """
    x, rate = _signal(x), _rate(sample_rate)
    y = apply_eq(x, design_eq(rate, highpass_hz=highpass_hz, lowpass_hz=lowpass_hz, shelf_db=shelf_db,
                              shelf_hz=shelf_hz, peaks=peaks))
    via = rate if via_rate is None else _rate(via_rate, "via_rate")
    if codec is not None:
        low = y if via == rate else _resample(y, rate, via)
        low = codec_roundtrip(low, via, codec, compression)
        y = low if via == rate else _fit_length(_resample(low, via, rate), len(x))
    elif via != rate:
        y = band_limit(y, rate, via)
    power_in, power_out = float(np.mean(x**2)), float(np.mean(y**2))
    return y * np.sqrt(power_in / power_out) if power_out > 0 else y


def _range(value, name: str, positive: bool = False) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a (low, high) pair, got {value!r}") from None
    if not low <= high or (positive and low <= 0):
        raise ConfigError(f"{name} must satisfy {'0 < ' if positive else ''}low <= high, got {value!r}")
    return low, high


class RecordingChannel:
    """Random recording channels (:func:`apply_channel`) with parameters drawn from ranges.

    Per draw: with probability ``p_highpass`` a high-pass cut-off log-uniform in ``highpass_hz``; with
    probability ``p_lowpass`` a low-pass cut-off log-uniform in ``lowpass_hz``; a shelf gain uniform in
    ``shelf_db`` (its sign random when ``symmetric``); ``n`` peaking filters, ``n`` uniform in
    ``peaks`` (inclusive), each at a centre log-uniform in ``peak_hz``, gain uniform in ``peak_db`` (sign
    random when ``symmetric``) and q log-uniform in ``peak_q``; a storage rate from ``via_rates``
    (uniformly; the signal's own rate means no resampling); with probability ``p_codec`` a codec from
    ``codecs`` at a compression level uniform in ``compression`` (MP3 capped at 0.95). The defaults
    simulate microphones, small loudspeakers and stored files (Vorbis/MP3 at 8-22 kHz); pass other
    ranges for a held-out family of channels. A data augmentation in the spirit of Ko et al.
    (Interspeech 2015; ICASSP 2017), simplified to a parametric channel.

    Examples
    --------
    >>> channel = RecordingChannel()
    >>> x = np.random.default_rng(0).normal(size=(2, 4000))
    >>> channel(x, np.random.default_rng(1)).shape
    (2, 4000)
    """

    def __init__(self, *, highpass_hz=(80.0, 300.0), p_highpass: float = 0.8, lowpass_hz=(3500.0, 7500.0),
                 p_lowpass: float = 0.6, shelf_db=(0.0, 6.0), peaks=(0, 2), peak_hz=(200.0, 5000.0),
                 peak_db=(2.0, 6.0), peak_q=(0.7, 2.0), symmetric: bool = True,
                 via_rates=(8000, 11025, 16000, 22050), codecs=("vorbis", "mp3"), p_codec: float = 0.9,
                 compression=(0.0, 0.9)) -> None:
        for name, p in (("p_highpass", p_highpass), ("p_lowpass", p_lowpass), ("p_codec", p_codec)):
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {p}")
        self.highpass_hz = _range(highpass_hz, "highpass_hz", positive=True)
        self.lowpass_hz = _range(lowpass_hz, "lowpass_hz", positive=True)
        self.peak_hz, self.peak_q = _range(peak_hz, "peak_hz", True), _range(peak_q, "peak_q", True)
        self.shelf_db, self.peak_db = _range(shelf_db, "shelf_db"), _range(peak_db, "peak_db")
        low, high = _range(peaks, "peaks")
        if low < 0 or not low.is_integer() or not high.is_integer():
            raise ConfigError(f"peaks must be a (low, high) pair of counts >= 0, got {peaks!r}")
        self.peaks = (int(low), int(high))
        self.compression = _range(compression, "compression")
        if not 0.0 <= self.compression[0] <= self.compression[1] <= 1.0:
            raise ConfigError(f"compression levels must lie in [0, 1], got {compression!r}")
        unknown = [c for c in codecs if c not in CODECS]
        if unknown or not codecs:
            raise ConfigError(f"codecs must be a non-empty subset of {sorted(CODECS)}, got {codecs!r}")
        if not via_rates:
            raise ConfigError("via_rates must name at least one sample rate")
        self.via_rates = tuple(_rate(r, "via_rates") for r in via_rates)
        self.codecs, self.p_codec, self.p_highpass, self.p_lowpass = tuple(codecs), p_codec, p_highpass, p_lowpass
        self.symmetric = bool(symmetric)

    @staticmethod
    def _log_uniform(rng, bounds):
        return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))

    def draw(self, rng: np.random.Generator, sample_rate: int) -> dict[str, Any]:
        """Keyword arguments of :func:`apply_channel` for one random channel (cut-offs and peaks kept below
        the Nyquist frequency of ``sample_rate``; a codec that cannot run at the drawn rate is replaced by
        Vorbis)."""
        rate, nyquist = _rate(sample_rate), sample_rate / 2

        def sign():
            return -1.0 if self.symmetric and rng.random() < 0.5 else 1.0

        hp = self._log_uniform(rng, self.highpass_hz) if rng.random() < self.p_highpass else None
        lp = self._log_uniform(rng, self.lowpass_hz) if rng.random() < self.p_lowpass else None
        hp = hp if hp is None or hp < 0.9 * nyquist else None
        lp = lp if lp is None or (lp < 0.95 * nyquist and (hp is None or lp > hp)) else None
        shelf = sign() * float(rng.uniform(*self.shelf_db))
        peaks = []
        for _ in range(int(rng.integers(self.peaks[0], self.peaks[1] + 1))):
            f0 = min(self._log_uniform(rng, self.peak_hz), 0.9 * nyquist)
            peaks.append((f0, sign() * float(rng.uniform(*self.peak_db)), self._log_uniform(rng, self.peak_q)))
        via = int(self.via_rates[int(rng.integers(len(self.via_rates)))])
        codec, compression = None, 0.0
        if rng.random() < self.p_codec:
            codec = self.codecs[int(rng.integers(len(self.codecs)))]
            compression = float(rng.uniform(*self.compression))
            rates = CODECS[codec][2]
            if rates is not None and via not in rates:
                codec = "vorbis"
            if codec == "mp3":
                compression = min(compression, MP3_MAX_COMPRESSION)
        return {"highpass_hz": hp, "lowpass_hz": lp, "shelf_db": shelf, "peaks": tuple(peaks),
                "via_rate": None if via == rate else via, "codec": codec, "compression": compression}

    def __call__(self, x, rng: np.random.Generator, sample_rate: int = 16_000, n_jobs: int = 1) -> np.ndarray:
        """``x`` ``(L,)`` or ``(N, L)``, each row through its own random channel (float64 out).

        ``n_jobs``: threads that apply the channels (-1: one per CPU). Every channel is drawn from ``rng``
        first, in row order, so the output and ``rng``'s state do not depend on ``n_jobs``; the codecs
        (libsndfile) and filters release the GIL, so threads run them in parallel."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2):
            raise ShapeError(f"RecordingChannel expects a waveform (L,) or a batch (N, L), got shape {x.shape}")
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or not (n_jobs == -1 or n_jobs >= 1):
            raise ConfigError(f"n_jobs must be -1 (every CPU) or a count >= 1, got {n_jobs!r}")
        rows = x[None] if x.ndim == 1 else x
        draws = [self.draw(rng, sample_rate) for _ in rows]
        workers = min(len(rows), (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                out = np.stack(list(pool.map(lambda i: apply_channel(rows[i], sample_rate, **draws[i]),
                                             range(len(rows)))))
        else:
            out = np.stack([apply_channel(row, sample_rate, **d) for row, d in zip(rows, draws)])
        return out[0] if x.ndim == 1 else out
