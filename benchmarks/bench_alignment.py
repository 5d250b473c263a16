"""Alignment benchmark with known ground truth on real sensor recordings.

BasicMotions (accelerometer -> gyroscope, and accelerometer -> accelerometer
as in the CTW papers' protocol) and Daphnet S06R02E0 (ankle / thigh / trunk
accelerometers, three sequences): a random monotone time warp, a random
linear map and noise dimensions are applied to the non-reference modality;
each method's alignment error (mean absolute frame distance from the true
path) is averaged per seed. tslearn's ``ctw_path`` is timed in the same
process as the peer.

Data: ``--basicmotions DIR_OR_WHEEL`` (or env POLYMODAL_BASICMOTIONS), e.g.
``pip download --no-deps aeon==1.6.0 -d wheels``; Daphnet is read from
``--daphnet`` / POLYMODAL_DAPHNET, else from the same wheel if it is one.

    python benchmarks/bench_alignment.py --basicmotions wheels/aeon-1.6.0-py3-none-any.whl

``--synthetic N`` adds N seeds of a three-sequence synthetic setting (the
GCTW papers' kind): a 2-D latent curve shown by three sequences of lengths
90/110/100 with 2/4/5 features (random linear maps), each under its own
random smooth monotone warp, noise 0.05; both GCTW warpings, pairwise error
against the true warps and CPU seconds per problem.

GCTW appears twice: "GCTW" is the published warp model (monotone basis warps
by Gauss-Newton, ``GCTW(warping="gauss_newton")``), "GCTW (DTW to mean)" the
DTW-based variant (``warping="dtw_to_mean"``). Measured (``--synthetic 8``):
Gauss-Newton 1.23 +- 0.29 frames (0.91 CPU s), DTW to mean 1.91 +- 0.48
(0.13 CPU s); on the real-sensor settings (5 seeds) see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path


def synthetic_table(n_seeds: int) -> str:
    """Both GCTW warpings on :func:`polymodal.data.sequences_synthetic.make_warped_sequences`:
    mean pairwise error (frames of the second sequence, against the true warps) and CPU seconds."""
    import numpy as np

    from polymodal.alignment import GCTW
    from polymodal.data.sequences_synthetic import make_warped_sequences

    def err(path, wa, wb):
        j_true = np.interp(wa, wb, np.arange(len(wb)))
        mean_j = np.bincount(path[:, 0], weights=path[:, 1]) / np.bincount(path[:, 0])
        return float(np.abs(mean_j - j_true).mean())

    rows = {"GCTW (Gauss-Newton basis warps)": "gauss_newton", "GCTW (DTW to mean)": "dtw_to_mean"}
    GCTW().fit(make_warped_sequences(0)[0])  # compile the DTW kernels before timing
    out = {name: ([], []) for name in rows}
    for seed in range(n_seeds):
        seqs, ws = make_warped_sequences(seed)
        for name, warping in rows.items():
            t = time.process_time()
            g = GCTW(warping=warping).fit(seqs)
            out[name][1].append(time.process_time() - t)
            pairs = [(0, 1), (0, 2), (1, 2)]
            out[name][0].append(np.mean([err(g.pairwise_path(a, b), ws[a], ws[b]) for a, b in pairs]))
    lines = [f"### synthetic, 3 sequences (lengths 90/110/100, dims 2/4/5), {n_seeds} seeds\n",
             "| method | alignment error (frames) | CPU s per problem |", "|---|---|---|"]
    for name, (e, sec) in out.items():
        lines.append(f"| {name} | {np.mean(e):.2f} +- {np.std(e):.2f} | {np.mean(sec):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--basicmotions", default=None, help="folder with BasicMotions_*.ts or aeon wheel")
    p.add_argument("--daphnet", default=None, help="S06R02E0.csv, its folder or aeon wheel")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--per-seed", type=int, default=6, help="BasicMotions recordings per seed (Daphnet: half)")
    p.add_argument("--noise-dims", type=int, default=2)
    p.add_argument("--strength", type=float, default=0.7, help="warp strength in [0, 1)")
    p.add_argument("--out", default="reports/bench_alignment")
    p.add_argument("--synthetic", type=int, default=0, help="seeds of the synthetic three-sequence setting")
    p.add_argument("--methods", nargs="*", default=None,
                   help="subset of polymodal.benchmarks.alignment.METHODS (default: all), e.g. "
                        "'GCTW' 'GCTW (DTW to mean)'")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # tiny networks: OpenMP threads only add barrier waits on a shared machine
    from polymodal.benchmarks.alignment import (load_basic_motions, load_daphnet, plot_errors, plot_example,
                                                run_alignment_benchmark, summary_table)
    from polymodal.errors import DatasetError

    if args.synthetic:
        print(synthetic_table(args.synthetic))
    try:
        bm = load_basic_motions(args.basicmotions)
    except DatasetError as e:
        sys.exit(f"error: BasicMotions: {e}")
    dsrc = args.daphnet or os.environ.get("POLYMODAL_DAPHNET")
    bsrc = args.basicmotions or os.environ.get("POLYMODAL_BASICMOTIONS")
    if dsrc is None and bsrc and Path(bsrc).is_file() and zipfile.is_zipfile(bsrc):
        dsrc = bsrc
    daphnet = None
    if dsrc is None:
        print("Daphnet not given (--daphnet or POLYMODAL_DAPHNET): the three-sequence settings are skipped")
    else:
        try:
            daphnet = load_daphnet(dsrc)
        except DatasetError as e:
            print(f"Daphnet not available ({e}): the three-sequence settings are skipped")

    t0 = time.perf_counter()
    rec = run_alignment_benchmark(bm, daphnet, seeds=tuple(range(args.seeds)), per_seed=args.per_seed,
                                  noise_dims=args.noise_dims, strength=args.strength, methods=args.methods)
    total = time.perf_counter() - t0
    table = summary_table(rec.rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_errors(rec.rows).savefig(out / "alignment_errors.png", dpi=110)
    plot_example(*rec.example).savefig(out / "alignment_example.png", dpi=110)
    (out / "alignment_rows.json").write_text(json.dumps(rec.rows, indent=1))
    (out / "alignment.md").write_text(f"# Alignment benchmark\n\n{table}\n")
    print(f"\n{args.seeds} seeds, {args.per_seed} BasicMotions recordings per seed, noise dims "
          f"{args.noise_dims}, warp strength {args.strength}; total {total:.0f} s\n")
    print(table)
    print(f"\nfiles: {out / 'alignment.md'}, {out / 'alignment_errors.png'}, {out / 'alignment_example.png'}")


if __name__ == "__main__":
    main()
