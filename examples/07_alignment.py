"""Alignment (tutorial section "translation and alignment"): explicit and implicit
alignment of spoken digits.

Explicit alignment finds which frames of one sequence correspond to which frames
of another; implicit alignment lets a model weigh the frames itself.

1. Dynamic time warping (Sakoe & Chiba, IEEE Trans. ASSP 1978) between MFCCs of
   "seven" spoken by espeak-ng at 120 and 220 words per minute, with a
   Sakoe-Chiba window and the symmetric2 step pattern: the cost matrix with the
   warping path, and DTW / soft-DTW divergence (Cuturi & Blondel, ICML 2017;
   Blondel, Mensch & Vert, AISTATS 2021) to the same and to other words.
2. Canonical time warping (Zhou & De la Torre, NIPS 2009) aligns the MFCCs of
   the slow utterance with the log-mel spectrogram (another feature space, 40
   dimensions) of the fast one; its path is compared with the MFCC-to-MFCC DTW
   path, next to DTW on the mismatched raw features and the uniform path.
3. 1-nearest-neighbour classification of spoken digits: train on 6 espeak-ng
   voices x 3 speaking rates, test on 4 other voices x 3 rates and on the human
   English recordings of Tux Paint (``/usr/share/tuxpaint/stamps/symbols/math``,
   skipped if absent). DTW on the variable-length MFCCs (cost normalised by the
   lengths, :func:`cdist_dtw`), DTW on MFCCs resampled to 40 frames
   (:func:`dtw_knn`, LB_Keogh pruning) and the Euclidean distance on the same
   resampled MFCCs.
4. Implicit alignment: scaled dot-product attention (Vaswani et al., NeurIPS
   2017) of the slow utterance's frames over the fast one's, untrained: how far
   its argmax is from the DTW path.

    python examples/07_alignment.py [--fast] [--out reports/examples/alignment]

Needs Debian's ``espeak-ng``. Writes ``dtw_cost_matrix.png``,
``attention.png``, ``knn_accuracy.png`` and ``results.json``.

Measured (full run; 10 s of work, 16 s wall with imports on 2 shared CPU cores,
7 s CPU):
"seven" 120 vs 220 wpm (73 and 42 frames): DTW normalised cost 1.32 (to "six"
12.6, "eleven" 6.5, "one" 10.9; soft-DTW divergence 105 vs 1126, 551, 1033).
Alignment error against the MFCC DTW path (mean |j - j_ref| in frames): CTW
(MFCC vs log-mel) 0.44, uniform path 1.12, DTW on the raw mismatched features
3.47, argmax of the untrained dot attention 3.99. 1-NN accuracy (180 training
utterances), held-out espeak-ng voices (120 queries): DTW variable length 0.958,
DTW resampled 0.958, Euclidean resampled 0.933; Tux Paint human recordings (20
queries): 0.75, 0.80, 0.70.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.fft import dct  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from polymodal.alignment import (  # noqa: E402
    CTW,
    DotAttention,
    alignment_error,
    cdist_dtw,
    dtw,
    dtw_knn,
    plot_attention,
    plot_cost_matrix,
    soft_dtw_divergence,
    uniform_path,
)
from polymodal.encoders.audio import MelSpectrogram, load_audio  # noqa: E402

SR = 22_050  # espeak-ng's own rate: no resampling for the synthetic speech
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",  # train
          "en-gb-x-gbcwmd", "en-us+f2", "en-us+m3", "en+f4"]  # test
TUXPAINT = Path("/usr/share/tuxpaint/stamps/symbols/math")
WINDOW = ("sakoe_chiba", 20)
RESAMPLED = 40  # frames after resampling to a fixed length

MEL = MelSpectrogram(SR, n_mels=40, log=True)  # 20 ms Hann window, 10 ms hop


def speak(word: str, voice: str, rate: int, folder: Path) -> np.ndarray:
    """espeak-ng's waveform of ``word``, silence trimmed."""
    import librosa

    path = folder / f"{voice}_{rate}_{word}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), word], check=True)
    return librosa.effects.trim(load_audio(path, SR), top_db=30)[0]


def features(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MFCC 1-13, log-mel 40) per frame, each z-scored per utterance: (T, 13), (T, 40)."""
    logmel = MEL(torch.as_tensor(y, dtype=torch.float64)).numpy()  # (40, T)
    mfcc = dct(logmel, type=2, norm="ortho", axis=0)[1:14]

    def z(a):
        return (a.T - a.T.mean(0)) / (a.T.std(0) + 1e-8)

    return z(mfcc), z(logmel)


def resample(x: np.ndarray, length: int = RESAMPLED) -> np.ndarray:
    t = np.linspace(0, len(x) - 1, length)
    return np.stack([np.interp(t, np.arange(len(x)), x[:, k]) for k in range(x.shape[1])], axis=1)


def pair_part(folder: Path, out: Path) -> dict:
    """DTW with a window and step pattern, soft-DTW, CTW and dot attention on one pair."""
    slow, slow_mel = features(speak("seven", "en-us", 120, folder))
    fast, fast_mel = features(speak("seven", "en-us", 220, folder))
    ref = dtw(slow, fast, window=WINDOW, step_pattern="symmetric2", return_path=True, return_cost_matrix=True)
    fig = plot_cost_matrix(ref.local_cost_matrix, ref.path,
                           title='"seven" 120 wpm (x) vs 220 wpm (y): local cost + DTW path')
    fig.savefig(out / "dtw_cost_matrix.png", dpi=100)

    costs = {}
    for word in ("seven", "six", "eleven", "one"):
        other = features(speak(word, "en-us", 220, folder))[0]
        costs[word] = {"dtw_normalized_cost": dtw(slow, other, window=WINDOW, step_pattern="symmetric2").normalized_cost,
                       "soft_dtw_divergence": soft_dtw_divergence(slow, other, gamma=1.0)}

    # CTW: slow MFCCs (13-d) against the fast utterance's log-mel (40-d), another feature space
    ctw = CTW(n_components=3, reg=0.1, window=WINDOW).fit(slow, fast_mel)
    padded = np.hstack([slow, np.zeros((len(slow), fast_mel.shape[1] - slow.shape[1]))])
    raw = dtw(padded, fast_mel, window=WINDOW, return_path=True)
    attention = DotAttention()(torch.as_tensor(slow)[None], torch.as_tensor(fast)[None]).weights[0].numpy()
    att_path = np.c_[np.arange(len(slow)), attention.argmax(1)]
    errors = {"ctw_mfcc_vs_logmel": alignment_error(ctw.path_, ref.path),
              "uniform": alignment_error(uniform_path(len(slow), len(fast)), ref.path),
              "dtw_raw_mismatched_features": alignment_error(raw.path, ref.path),
              "dot_attention_argmax": alignment_error(att_path, ref.path)}
    fig = plot_attention(attention, title="dot attention (slow over fast) + DTW path")
    ax = fig.axes[0]
    ax.plot(ref.path[:, 1], ref.path[:, 0], color="cyan", linewidth=1, label="DTW path")
    ax.plot(ctw.path_[:, 1], ctw.path_[:, 0], color="lime", linewidth=1, linestyle="--", label="CTW path")
    ax.set_xlabel("220 wpm frame")
    ax.set_ylabel("120 wpm frame")
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(out / "attention.png", dpi=100)
    return {"lengths": [len(slow), len(fast)], "dtw_normalized_cost": ref.normalized_cost,
            "distances_from_seven_120": costs, "alignment_error_frames": errors,
            "ctw_n_iter": ctw.n_iter_}


def knn_part(folder: Path, out: Path, fast_mode: bool) -> dict:
    """1-NN spoken-digit classification under DTW and under the Euclidean distance."""
    train_voices, test_voices = (VOICES[:3], VOICES[6:8]) if fast_mode else (VOICES[:6], VOICES[6:])
    train_rates, test_rates = ((110, 240), (150,)) if fast_mode else ((110, 170, 240), (100, 150, 230))

    def corpus(voices, rates):
        seqs, labels = [], []
        for voice in voices:
            for rate in rates:
                for digit, word in enumerate(WORDS):
                    seqs.append(features(speak(word, voice, rate, folder))[0])
                    labels.append(digit)
        return seqs, np.array(labels)

    train, y_train = corpus(train_voices, train_rates)
    test_sets = {"espeak-ng held-out voices": corpus(test_voices, test_rates)}
    if (TUXPAINT / "0.ogg").is_file():
        import librosa

        seqs, labels = [], []
        for digit in range(10):
            for suffix in ("", "_en_GB"):
                y = load_audio(TUXPAINT / f"{digit}{suffix}.ogg", SR)
                seqs.append(features(librosa.effects.trim(y, top_db=30)[0])[0])
                labels.append(digit)
        test_sets["Tux Paint human recordings"] = (seqs, np.array(labels))
    else:
        print(f"Tux Paint recordings not found in {TUXPAINT} (Debian tuxpaint-stamps-default): skipped")

    lengths_train = np.array([len(s) for s in train])
    train_fixed = np.stack([resample(s) for s in train])
    results = {}
    for name, (seqs, y) in test_sets.items():
        lengths = np.array([len(s) for s in seqs])
        D = cdist_dtw(seqs, train, window=WINDOW) ** 2 / (lengths[:, None] + lengths_train[None])
        fixed = np.stack([resample(s) for s in seqs])
        knn = dtw_knn(fixed, train_fixed, k=1, window=("sakoe_chiba", 4))
        euclid = ((fixed[:, None] - train_fixed[None]) ** 2).sum(axis=(2, 3))
        results[name] = {"n_queries": len(y),
                         "dtw_variable_length": float(np.mean(y_train[D.argmin(1)] == y)),
                         "dtw_resampled": float(np.mean(y_train[knn.indices[:, 0]] == y)),
                         "euclidean_resampled": float(np.mean(y_train[euclid.argmin(1)] == y)),
                         "dtw_knn_mean_full_dtw_per_query": float(knn.n_dtw.mean())}
    methods = ["dtw_variable_length", "dtw_resampled", "euclidean_resampled"]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(results)
    for k, (name, r) in enumerate(results.items()):
        ax.bar(np.arange(3) + k * width, [r[m] for m in methods], width, label=f"{name} ({r['n_queries']})")
    ax.axhline(0.1, color="grey", linestyle=":", label="chance")
    ax.set_xticks(np.arange(3) + width * (len(results) - 1) / 2, ["DTW (variable length)", "DTW (resampled)",
                                                                  "Euclidean (resampled)"])
    ax.set_ylabel("1-NN accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"spoken digits, train: {len(train)} espeak-ng utterances")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "knn_accuracy.png", dpi=100)
    plt.close(fig)
    return {"n_train": len(train), "accuracy": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer voices and rates (tests)")
    parser.add_argument("--out", type=Path, default=Path("reports/examples/alignment"))
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit("examples/07_alignment.py needs the espeak-ng program (Debian/Ubuntu: apt-get install espeak-ng)")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=r".*np\.dot\(\) is faster on contiguous arrays")  # numba, compile time
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # one BLAS thread: the products are small and extra threads only wait on a shared machine
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        pair = pair_part(Path(tmp), args.out)
        knn = knn_part(Path(tmp), args.out, args.fast)
    results = {"fast": args.fast, "pair": pair, "knn": knn, "seconds": time.perf_counter() - start}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))

    print(f'"seven" 120 vs 220 wpm: {pair["lengths"]} frames, DTW normalised cost {pair["dtw_normalized_cost"]:.2f}')
    print("\n| from 'seven' @120 to (@220) | DTW normalised cost | soft-DTW divergence |\n|---|---|---|")
    for word, r in pair["distances_from_seven_120"].items():
        print(f"| {word} | {r['dtw_normalized_cost']:.2f} | {r['soft_dtw_divergence']:.1f} |")
    print("\n| alignment vs MFCC DTW path | mean error (frames) |\n|---|---|")
    for name, e in pair["alignment_error_frames"].items():
        print(f"| {name} | {e:.2f} |")
    print(f"\n1-NN spoken digits ({knn['n_train']} training utterances)\n")
    print("| test set | queries | DTW (variable length) | DTW (resampled) | Euclidean (resampled) |\n|---|---|---|---|---|")
    for name, r in knn["accuracy"].items():
        print(f"| {name} | {r['n_queries']} | {r['dtw_variable_length']:.3f} | {r['dtw_resampled']:.3f} | "
              f"{r['euclidean_resampled']:.3f} |")
    print(f"\n{results['seconds']:.1f} s; figures and results.json in {args.out}")


if __name__ == "__main__":
    main()
