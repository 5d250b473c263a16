"""Recording-channel rendering: ``RecordingChannel(..., n_jobs=-1)`` (threads) against ``n_jobs=1``.

The benchmark's audio rendering (``bench_av_digits.py``) sends every augmented training copy through a
random recording channel (equaliser, storage rate, OGG Vorbis / MP3 round trip); that channel is most of
the rendering time. Both runs draw the same channels from the same seed, so the outputs must be identical;
the script checks it and prints both times and their ratio. Input: ``--n`` one-second voiced signals (a
harmonic tone with a syllable envelope, 16 kHz), no dataset needed.

    python benchmarks/bench_channel_threads.py --n 256
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from polymodal.data.channel import RecordingChannel


def voiced(n: int, seed: int = 0, rate: int = 16_000) -> np.ndarray:
    """``(n, rate)`` one-second harmonic tones (f0 90-250 Hz, 8 harmonics) under a 4 Hz syllable envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(rate) / rate
    f0 = rng.uniform(90, 250, (n, 1))
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 9))
    return 0.3 * tone * np.sin(np.pi * 4 * t) ** 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="signals rendered per run")
    parser.add_argument("--jobs", type=int, default=-1, help="threads of the threaded run (-1: one per CPU)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    x, channel = voiced(args.n), RecordingChannel()
    times, outs = {}, {}
    for jobs in (1, args.jobs):
        start = time.perf_counter()
        outs[jobs] = channel(x, np.random.default_rng(7), n_jobs=jobs)
        times[jobs] = time.perf_counter() - start
    print(f"{args.n} one-second signals, {os.cpu_count()} CPUs")
    print(f"n_jobs=1: {times[1]:.2f} s; n_jobs={args.jobs}: {times[args.jobs]:.2f} s; "
          f"ratio {times[1] / times[args.jobs]:.2f}x; identical output: {np.array_equal(outs[1], outs[args.jobs])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
