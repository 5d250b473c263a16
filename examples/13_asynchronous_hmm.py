"""Asynchronous HMM (tutorial sections "fusion: graphical" and "alignment"):
two streams at different rates, fused by one hidden chain that also learns
their alignment.

The asynchronous HMM (Bengio, NIPS 2002), :class:`polymodal.fusion.graphical.AsynchronousHMM`:
one hidden chain over the frames of the long (fast) stream; at every step the
state emits the long frame and, with a learned state-dependent probability
``e_q``, also the next frame of the short (slow) stream. EM runs over the
joint (long time, short index, state) lattice, so the model never needs the
streams resampled to one rate; Viterbi returns the state path *and* which long
frame emitted each short frame.

Task (synthetic, seeded): the long stream (T = 40) shows a piecewise-constant
symbol (segments of 3-6 frames); the short stream shows a class-dependent
function of the symbol (class 0: the same sign, class 1: the opposite) at
T/2 random sorted times, i.e. half rate with jitter. Neither stream alone
carries the class: only the pairing across streams does. The baseline is the
state-synchronous :class:`~polymodal.fusion.graphical.MultiStreamHMM` given
the short stream repeated to the long length (the naive upsampling it needs);
jitter makes that pairing wrong near segment boundaries.

    python examples/13_asynchronous_hmm.py [--fast] [--out reports/examples/async_hmm]

Writes ``alignment.png`` (one test sequence: both streams and the decoded
emission times) and ``results.json``.

Measured (full run, 40 train / 200 test sequences per class, 2 states per
class model): asynchronous HMM 0.958, MultiStreamHMM on the repeated short
stream 0.848; learned emission probabilities 0.499 / 0.501 (half rate); every
decoded (long, short) pair of the plotted sequence has matching signs. On real
data see ``benchmarks/bench_graphical.py --tasks basicmotions_async``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from polymodal.data.sequences_synthetic import make_two_rate_sequences, repeat_short_stream
from polymodal.fusion.graphical import AsynchronousHMM, HMMClassifier, MultiStreamHMM


def plot_alignment(x, s, result, out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    ax.plot(np.arange(len(x)), x[:, 0], "-o", ms=3, label="long stream")
    ax.plot(result.emitted_at, s[:, 0] + 0.1, "s", ms=5, label="short stream at its decoded long frame")
    for t in result.emitted_at:
        ax.axvline(t, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("long-stream frame")
    ax.set_title("asynchronous HMM: Viterbi alignment of the short stream")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer sequences (tests)")
    parser.add_argument("--out", default="reports/examples/async_hmm")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_train, n_test = (15, 50) if args.fast else (40, 200)
    Xtr, ytr = make_two_rate_sequences(n_train, rng)
    Xte, yte = make_two_rate_sequences(n_test, rng)

    async_clf = HMMClassifier(AsynchronousHMM(2, n_iter=20)).fit(Xtr, ytr)
    acc_async = float(np.mean(async_clf.predict(Xte) == yte))
    sync_clf = HMMClassifier(MultiStreamHMM(2, n_iter=20)).fit(repeat_short_stream(Xtr), ytr)
    acc_sync = float(np.mean(sync_clf.predict(repeat_short_stream(Xte)) == yte))

    model = async_clf.models_[0]  # class 0: same sign in both streams
    x, s = Xte[0]
    result = model.decode([x, s])
    plot_alignment(x, s, result, out / "alignment.png")
    same_sign = float(np.mean(np.sign(x[result.emitted_at, 0]) == np.sign(s[:, 0])))

    results = {"fast": args.fast, "accuracy": {"AsynchronousHMM": acc_async,
                                               "MultiStreamHMM (short stream repeated)": acc_sync},
               "emitprob_class0": model.emitprob_.tolist(),
               "decoded_pairs_with_matching_sign": same_sign}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"test accuracy: asynchronous HMM {acc_async:.3f}, MultiStreamHMM (repeated short stream) {acc_sync:.3f}")
    print(f"class-0 model: emission probabilities {np.round(model.emitprob_, 3).tolist()}; "
          f"decoded pairs with matching sign {same_sign:.2f}")
    print(f"files: {out / 'alignment.png'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
