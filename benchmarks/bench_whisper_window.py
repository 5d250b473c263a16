"""Whisper's log-mel window for the AV-digits ASR score, chosen on validation words only.

``benchmarks/bench_av_digits.py --contamination-scores asr`` scores each word with Whisper tiny.en's digit
log-probabilities (:meth:`polymodal.encoders.speech_asr.WhisperDigitRecognizer.digit_log_probs`, the larger of
the word's and its spectral-subtraction copy's, as ``--asr-denoise`` does). The encoder's cost grows with the
window (``window_s``); a prepared word lasts 1 s. This script runs each window side by side on words the
benchmark never tests:

- English: the FSDD training speakers' unused takes (real voices, 8 kHz), clean and under the validation grid's
  noise (``VALID_TAKES_NOISE``: white / pink at 20 / 10 dB, on the validation grid's own random stream), and the
  synthetic held-out voices of the AV-digits build;
- foreign: the build's synthetic held-out languages (``OOD_VALID_LANGUAGES``).

Per window and English set: digit accuracy of the argmax, the mean log-probability of the right digit, and the
AUROC of ``max_c log P(c)`` English against foreign (the score's job: telling a digit word from another
language's word); and ms per hearing, with its ratio to the first window's. No Tux Paint (test) word is
used.

    python benchmarks/bench_whisper_window.py              # 5, 3 and 2 s; about 3 minutes on 2 cores
    python benchmarks/bench_whisper_window.py --windows 5 4 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def validation_words(data: Path, fsdd: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """``({set: (prepared waveforms, digits)}, foreign waveforms)``: the English validation sets and the
    held-out languages' words, as ``bench_av_digits.py`` draws them."""
    import bench_av_digits as av

    from polymodal.data.av_digits import load_av_digits_speech
    from polymodal.data.fsdd import load_fsdd

    manifest = json.loads((data / "manifest.json").read_text())
    valid, ood = load_av_digits_speech("valid", data), load_av_digits_speech("ood", data)
    held = np.isin(av.speaker_languages(manifest, ood["speakers"]), av.OOD_VALID_LANGUAGES)
    takes, digits, _ = load_fsdd(fsdd, speakers=list(av.FSDD_TRAIN_SPEAKERS), split="test")
    rng = np.random.default_rng(2027)  # the validation grid's stream for these takes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sets = {"FSDD takes, clean": (av.prepared_waveforms(takes), np.asarray(digits))}
        for name in av.VALID_TAKES_NOISE:
            sets[f"FSDD takes, {name}"] = (av.prepared_waveforms(av.audio_condition(name, takes, 1, rng)[0]),
                                           np.asarray(digits))
    sets["synthetic held-out voices"] = (np.asarray(valid["waveforms"]), np.asarray(valid["labels"]))
    return sets, np.asarray(ood["waveforms"])[held]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=float, nargs="+", default=[5.0, 3.0, 2.0], metavar="SECONDS")
    parser.add_argument("--data", type=Path, default=None, help="the AV-digits build (default: its cache folder)")
    parser.add_argument("--fsdd", type=Path, default=None, help="FSDD recordings (default: its cache folder)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from polymodal.data.av_digits import av_digits_dir
    from polymodal.data.fsdd import fsdd_dir
    from polymodal.encoders.speech_asr import WhisperDigitRecognizer
    from polymodal.errors import ConfigError

    data, fsdd = args.data or av_digits_dir(), args.fsdd or fsdd_dir()
    if not (data / "manifest.json").is_file():
        parser.error(f"no AV-digits build at {data}: run `polymodal datasets build av-digits --out {data}`")
    if not fsdd.is_dir():
        parser.error(f"no FSDD recordings at {fsdd}: `python -c 'from polymodal.data import download_fsdd; "
                     "download_fsdd()'` (or pass --fsdd DIR)")
    try:
        recognizers = {w: WhisperDigitRecognizer(window_s=w, threads=args.threads) for w in args.windows}
    except ConfigError as e:
        parser.error(str(e))
    import bench_av_digits as av  # benchmarks/ is on sys.path: this script's own folder
    import torch

    sets, foreign = validation_words(data, fsdd)
    print(f"validation words: {', '.join(f'{k} {len(v[1])}' for k, v in sets.items())}; held-out languages "
          f"{len(foreign)} ({', '.join(av.OOD_VALID_LANGUAGES)})")
    print("| window | set | accuracy | mean log P(right digit) | AUROC vs held-out languages | ms per hearing |")
    print("|---|---|---|---|---|---|")
    ms_per_window = {}
    for window, asr in recognizers.items():
        t, hearings = time.perf_counter(), 2 * (len(foreign) + sum(len(y) for _, y in sets.values()))
        lp_foreign = av.asr_log_probs(asr, foreign, denoise=True)
        rows = {name: (av.asr_log_probs(asr, w, denoise=True), y) for name, (w, y) in sets.items()}
        ms = ms_per_window[window] = (time.perf_counter() - t) / hearings * 1000
        for name, (lp, y) in rows.items():
            print(f"| {window:g} s | {name} | {np.mean(lp.argmax(1) == y):.3f} | "
                  f"{lp[np.arange(len(y)), y].mean():+.3f} | "
                  f"{av.detection_auroc(torch.as_tensor(lp.max(1)), torch.as_tensor(lp_foreign.max(1))):.3f} | "
                  f"{ms:.1f} |",
                  flush=True)
    first = args.windows[0]
    print(f"\ntime per hearing against the {first:g} s window: "
          + ", ".join(f"{w:g} s {ms / ms_per_window[first]:.2f}x" for w, ms in ms_per_window.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
