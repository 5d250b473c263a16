"""Recording-channel simulation: EQ against closed forms and its measured response, band limiting of
tones, codec round trips (length, rate, bounded SNR, scale equivariance, determinism), random channels
(ranges, seeds) and errors on bad input."""

import numpy as np
import pytest

from polymodal.data.channel import (
    CODECS,
    RecordingChannel,
    apply_channel,
    apply_eq,
    band_limit,
    codec_roundtrip,
    design_eq,
    eq_response,
)
from polymodal.errors import ConfigError, ShapeError

SR = 16000


def db(x):
    return 20 * np.log10(np.asarray(x))


def tone(freq, n=SR, rate=SR):
    return np.sin(2 * np.pi * freq * np.arange(n) / rate)


def voiced(n=SR, rate=SR, f0=140.0):
    """A speech-like test signal: harmonics of a gliding f0 with a 1/k spectrum and a syllable envelope."""
    t = np.arange(n) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 30) if k * f0 < rate / 2.2)
    return x * np.sin(np.pi * t / t[-1]) ** 2


def test_eq_matches_closed_forms_at_the_design_points():
    nyq = SR / 2 - 1e-6
    # Butterworth: |H| = 1/sqrt(2) at the cut-off; pass band near 0 dB
    hp = design_eq(SR, highpass_hz=200.0)
    assert db(eq_response(hp, [200.0], SR))[0] == pytest.approx(-10 * np.log10(2), abs=1e-9)
    assert db(eq_response(hp, [4000.0], SR))[0] == pytest.approx(0.0, abs=0.01)
    lp = design_eq(SR, lowpass_hz=4000.0)
    assert db(eq_response(lp, [4000.0], SR))[0] == pytest.approx(-10 * np.log10(2), abs=1e-9)
    assert db(eq_response(lp, [300.0], SR))[0] == pytest.approx(0.0, abs=0.01)
    # high shelf (Audio EQ Cookbook, S = 1): 0 dB at DC, G/2 at f0, G at Nyquist
    shelf = design_eq(SR, shelf_db=-7.0, shelf_hz=1500.0)
    assert db(eq_response(shelf, [1e-6, 1500.0, nyq], SR)) == pytest.approx([0.0, -3.5, -7.0], abs=1e-6)
    # peaking: G at f0, 0 dB at DC and Nyquist
    q, f0 = 2.0, 1000.0
    peak = design_eq(SR, peaks=[(f0, 9.0, q)])
    assert db(eq_response(peak, [1e-6, f0, nyq], SR)) == pytest.approx([0.0, 9.0, 0.0], abs=1e-6)
    assert design_eq(SR).tolist() == [[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]]


def test_measured_response_equals_the_designed_one():
    sos = design_eq(SR, highpass_hz=150.0, lowpass_hz=5000.0, shelf_db=4.0, peaks=[(800.0, -6.0, 1.5),
                                                                                  (2500.0, 5.0, 3.0)])
    n = 1 << 14
    impulse = np.zeros(n)
    impulse[0] = 1.0
    measured = np.abs(np.fft.rfft(apply_eq(impulse, sos)))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    assert np.allclose(measured, eq_response(sos, freqs, SR), rtol=1e-6, atol=1e-9)
    # and on a tone, in steady state: the output amplitude is |H(f)|
    y = apply_eq(tone(1250.0, 2 * SR), sos)[SR:]
    assert np.sqrt(2 * np.mean(y**2)) == pytest.approx(eq_response(sos, [1250.0], SR)[0], rel=1e-3)


@pytest.mark.parametrize("via", [8000, 11025, 12000])
def test_band_limit_keeps_the_band_below_the_storage_nyquist_and_removes_the_rest(via):
    inside, outside = tone(0.35 * via), tone(0.6 * via)
    core = slice(2000, SR - 2000)
    kept = band_limit(inside, SR, via)
    assert kept.shape == inside.shape
    assert db(np.std(kept[core]) / np.std(inside[core])) == pytest.approx(0.0, abs=0.05)
    assert db(np.std(band_limit(outside, SR, via)[core]) / np.std(outside[core])) < -50
    assert np.array_equal(band_limit(inside, SR, SR), inside)


@pytest.mark.parametrize("codec,rate", [("vorbis", 16000), ("vorbis", 11025), ("opus", 16000), ("opus", 12000),
                                        ("mp3", 16000), ("mp3", 8000)])
def test_codec_roundtrip_keeps_length_and_rate_with_bounded_error(codec, rate):
    x = voiced(rate, rate)
    y = codec_roundtrip(x, rate, codec, 0.3)
    assert y.shape == x.shape and y.dtype == np.float64
    snr = 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2))
    assert 10.0 < snr < 80.0  # lossy, but the waveform is kept in time (no delay, no rate change)
    pure = codec_roundtrip(tone(1003.0, rate, rate), rate, codec, 0.3)  # the sample rate is kept: 1003 Hz stays
    assert np.fft.rfftfreq(rate, 1 / rate)[np.argmax(np.abs(np.fft.rfft(pure)))] == 1003.0
    assert np.allclose(codec_roundtrip(3.0 * x, rate, codec, 0.3), 3.0 * y, rtol=0, atol=1e-13)  # scale-equivariant
    assert np.array_equal(codec_roundtrip(x, rate, codec, 0.3), y)  # deterministic


def test_codec_compression_lowers_the_snr_and_silence_stays_silent():
    x = voiced()
    snr = [10 * np.log10(np.sum(x**2) / np.sum((codec_roundtrip(x, SR, "vorbis", c) - x) ** 2)) for c in (0.0, 1.0)]
    assert snr[0] > snr[1] + 5
    assert np.array_equal(codec_roundtrip(np.zeros(1000), SR, "mp3"), np.zeros(1000))


def test_codec_errors_name_the_problem():
    x = voiced(4000)
    with pytest.raises(ConfigError, match="codec must be one of"):
        codec_roundtrip(x, SR, "aac")
    with pytest.raises(ConfigError, match="opus.*sample rates"):
        codec_roundtrip(x, 11025, "opus")
    with pytest.raises(ConfigError, match=r"mp3.*\[0, 0.95\]"):
        codec_roundtrip(x, SR, "mp3", 1.0)
    with pytest.raises(ConfigError, match="compression"):
        codec_roundtrip(x, SR, "vorbis", -0.1)
    with pytest.raises(ShapeError, match="1-D"):
        codec_roundtrip(np.zeros((2, 100)), SR)
    with pytest.raises(ShapeError, match="non-finite"):
        codec_roundtrip(np.array([0.0, np.nan]), SR)
    with pytest.raises(ConfigError, match="sample_rate"):
        codec_roundtrip(x, 16000.5)
    assert set(CODECS) == {"vorbis", "opus", "mp3"}


def test_eq_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="highpass_hz.*Nyquist"):
        design_eq(SR, highpass_hz=9000.0)
    with pytest.raises(ConfigError, match="lowpass_hz.*must exceed"):
        design_eq(SR, highpass_hz=500.0, lowpass_hz=300.0)
    with pytest.raises(ConfigError, match="q must be positive"):
        design_eq(SR, peaks=[(1000.0, 3.0, 0.0)])
    with pytest.raises(ConfigError, match="each peak"):
        design_eq(SR, peaks=[(1000.0, 3.0)])


def test_apply_channel_keeps_length_and_rms_and_is_the_identity_when_empty():
    x = voiced()
    assert np.array_equal(apply_channel(x, SR), x)
    y = apply_channel(x, SR, highpass_hz=250.0, lowpass_hz=3800.0, shelf_db=-5.0, peaks=[(1200.0, 6.0, 1.0)],
                      via_rate=11025, codec="vorbis", compression=0.5)
    assert y.shape == x.shape
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-12)
    # stored at 8 kHz: nothing left above 4 kHz
    z = apply_channel(x + 0.5 * tone(6000.0), SR, via_rate=8000, codec="mp3", compression=0.2)
    spec, f = np.abs(np.fft.rfft(z)), np.fft.rfftfreq(SR, 1 / SR)
    assert spec[f > 4200].max() < 1e-3 * spec.max()


def test_recording_channel_draws_within_its_ranges_and_is_seeded():
    channel = RecordingChannel(highpass_hz=(100.0, 200.0), lowpass_hz=(4000.0, 5000.0), shelf_db=(1.0, 2.0),
                               peaks=(1, 2), peak_hz=(500.0, 900.0), peak_db=(3.0, 4.0), peak_q=(1.0, 1.5),
                               via_rates=(8000, 11025), codecs=("opus", "mp3"), compression=(0.2, 0.4))
    rng = np.random.default_rng(0)
    draws = [channel.draw(rng, SR) for _ in range(300)]
    for d in draws:
        assert d["highpass_hz"] is None or 100.0 <= d["highpass_hz"] <= 200.0
        assert d["lowpass_hz"] is None or 4000.0 <= d["lowpass_hz"] <= 5000.0
        assert 1.0 <= abs(d["shelf_db"]) <= 2.0 and 1 <= len(d["peaks"]) <= 2
        assert all(500 <= f0 <= 900 and 3 <= abs(g) <= 4 and 1 <= q <= 1.5 for f0, g, q in d["peaks"])
        assert d["via_rate"] in (8000, 11025) and d["codec"] in (None, "opus", "mp3", "vorbis")
        assert d["codec"] != "opus" or d["via_rate"] == 8000  # Opus has no 11025 Hz: replaced by Vorbis
        assert 0.2 <= d["compression"] <= 0.4 or d["codec"] is None
    assert {d["codec"] for d in draws} >= {"opus", "mp3", "vorbis", None}
    assert any(d["shelf_db"] < 0 for d in draws) and any(d["shelf_db"] > 0 for d in draws)
    x = np.stack([voiced(4000), voiced(4000, f0=200.0)])
    first = channel(x, np.random.default_rng(5))
    assert first.shape == x.shape
    assert np.array_equal(first, channel(x, np.random.default_rng(5)))
    assert not np.allclose(first, channel(x, np.random.default_rng(6)))
    assert np.array_equal(channel(x[0], np.random.default_rng(5)), first[0])


def test_recording_channel_threads_give_the_same_output_and_random_state():
    """n_jobs > 1 applies the channels in threads; every channel is drawn first, in row order, so the
    output and the generator's state afterwards are those of n_jobs=1 (every codec, with and without
    resampling)."""
    channel = RecordingChannel(codecs=("vorbis", "mp3", "opus"))
    x = np.stack([voiced(4000, f0=100.0 + 10 * i) for i in range(12)])
    serial_rng = np.random.default_rng(3)
    serial = channel(x, serial_rng)
    after = serial_rng.random()
    for n_jobs in (2, -1):
        rng = np.random.default_rng(3)
        assert np.array_equal(channel(x, rng, n_jobs=n_jobs), serial)
        assert rng.random() == after
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ConfigError, match="n_jobs"):
            channel(x, np.random.default_rng(0), n_jobs=bad)


@pytest.mark.parametrize("kwargs,match", [
    ({"p_codec": 1.5}, "p_codec"), ({"highpass_hz": (300.0, 100.0)}, "highpass_hz"),
    ({"lowpass_hz": (0.0, 10.0)}, "lowpass_hz"), ({"codecs": ("aac",)}, "codecs"),
    ({"peaks": (0.5, 2)}, "peaks"), ({"compression": (0.2, 1.2)}, "compression"),
    ({"via_rates": ()}, "via_rates"), ({"shelf_db": 3.0}, "shelf_db")])
def test_recording_channel_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RecordingChannel(**kwargs)
    with pytest.raises(ShapeError, match="batch"):
        RecordingChannel()(np.zeros((1, 2, 3)), np.random.default_rng(0))
