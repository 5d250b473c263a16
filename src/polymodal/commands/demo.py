"""``polymodal demo``: every fusion method on the bundled mfeat dataset, several seeds, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from polymodal._cli import HelpFormatter, check_output_dir, positive_int

HELP = "all fusion methods on the bundled mfeat dataset, 5 seeds, with a report"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help=HELP, formatter_class=HelpFormatter,
                              description="Train each view alone and early/late/hybrid/intermediate fusion of all six "
                              "mfeat views on several seeds; print a leaderboard and write report.md + PNGs.")
    p.add_argument("--seeds", type=positive_int, default=5, help="number of seeds")
    p.add_argument("--out", type=Path, default=Path("reports/demo"), help="report folder")
    p.add_argument("--workers", type=positive_int, default=None, help="parallel training processes (default: 2 or #cores)")
    p.add_argument("--max-epochs", type=positive_int, default=40, help="epoch limit per model")
    return p


def run(args: argparse.Namespace) -> int:
    from polymodal.benchmarks.demo import run_demo
    from polymodal.benchmarks.report import format_leaderboard, leaderboard

    check_output_dir(args.out, "--out")
    runs, report = run_demo(seeds=args.seeds, out_dir=args.out, workers=args.workers, max_epochs=args.max_epochs)
    print()
    print(format_leaderboard(leaderboard(runs)))
    print(f"\nreport: {report.resolve()}")
    return 0
