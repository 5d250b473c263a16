"""WhisperDigitRecognizer against faster-whisper's own transcribe, side by side on the Tux Paint digit words.

Ours: Whisper tiny.en through CTranslate2 on a 5 s log-mel window, greedy, batched
(:class:`polymodal.encoders.speech_asr.WhisperDigitRecognizer`: ``digits`` parses the transcript,
``digit_log_probs`` reads one decoding step). The peer: ``faster_whisper.WhisperModel.transcribe`` on the same
model and the same prepared words, with its defaults for a single recording (30 s window, beam 5), the
transcript parsed by the same rule. Prints ms per word, the ratio, and per group (English, the other
languages) how often each names the right and a wrong digit.

    python benchmarks/bench_whisper_digits.py          # needs polymodal[asr] and Debian tuxpaint-stamps-default
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

TUX_MATH = Path("/usr/share/tuxpaint/stamps/symbols/math")


def tux_words(root: Path):
    """Prepared Tux Paint digit words, their digits and whether each is English (``N.ogg``, ``N_en_GB.ogg``)."""
    from polymodal.data.audio import prepare_speech, read_audio_file

    words, labels, english = [], [], []
    for f in sorted(root.glob("[0-9]*.ogg")):
        m = re.match(r"^(\d)(?:_(.+))?\.ogg$", f.name)
        if m is None or (m.group(2) or "").startswith("desc"):
            continue
        data, rate = read_audio_file(f)
        words.append(prepare_speech(data.mean(axis=1), rate, warn=False).waveform)
        labels.append(int(m.group(1)))
        english.append((m.group(2) or "en").startswith("en"))
    return words, np.array(labels), np.array(english)


def report(name: str, heard: np.ndarray, labels: np.ndarray, english: np.ndarray, seconds: float) -> float:
    per_word = seconds / len(labels) * 1000
    parts = [f"{group} right {np.mean(heard[m] == labels[m]):.3f}, wrong digit "
             f"{np.mean((heard[m] >= 0) & (heard[m] != labels[m])):.3f}"
             for group, m in (("English", english), ("other languages", ~english))]
    print(f"{name:48s} {per_word:7.1f} ms/word | " + " | ".join(parts))
    return per_word


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tux", type=Path, default=TUX_MATH, help="Tux Paint's math stamps folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.tux.is_dir():
        parser.error(f"no Tux Paint digit recordings at {args.tux} (install Debian tuxpaint-stamps-default)")
    from polymodal.encoders.speech_asr import WhisperDigitRecognizer, parse_digit
    from polymodal.errors import ConfigError

    try:
        ours = WhisperDigitRecognizer(threads=args.threads)  # ConfigError without faster-whisper or the model
    except ConfigError as e:
        parser.error(str(e))
    from faster_whisper import WhisperModel

    words, labels, english = tux_words(args.tux)
    print(f"{len(words)} words ({int(english.sum())} English), Whisper tiny.en from {ours.model_dir}")
    ours.digits(words[:8])  # warm-up
    t = time.perf_counter()
    heard = ours.digits(words)
    ours_ms = report("ours: digits (5 s window, greedy, batched)", heard, labels, english, time.perf_counter() - t)
    t = time.perf_counter()
    lp = ours.digit_log_probs(words)
    report("ours: argmax of digit_log_probs (one step)", lp.argmax(1), labels, english, time.perf_counter() - t)
    peer = WhisperModel(str(ours.model_dir), device="cpu", compute_type="int8", cpu_threads=args.threads)
    t = time.perf_counter()
    texts = []
    for w in words:
        w = (w / max(float(np.abs(w).max()), 1e-9) * 0.9).astype(np.float32)
        segments, _ = peer.transcribe(w, language="en", beam_size=5, without_timestamps=True, vad_filter=False,
                                      condition_on_previous_text=False, temperature=0.0)
        texts.append(" ".join(s.text for s in segments))
    peer_ms = report("faster-whisper transcribe (30 s window, beam 5)",
                     np.array([parse_digit(x) for x in texts]), labels, english, time.perf_counter() - t)
    print(f"ratio (faster-whisper / ours, digits): {peer_ms / ours_ms:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
