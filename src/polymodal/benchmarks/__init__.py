"""Benchmark suites, robustness evaluation (noisy and missing modalities) and reports."""

from polymodal.benchmarks.report import format_leaderboard, leaderboard, write_demo_report
from polymodal.benchmarks.robustness import (
    RobustnessResult,
    add_gaussian_noise,
    curve_auc,
    plot_robustness,
    robustness_curves,
)

__all__ = [
    "RobustnessResult",
    "add_gaussian_noise",
    "curve_auc",
    "format_leaderboard",
    "leaderboard",
    "plot_robustness",
    "robustness_curves",
    "write_demo_report",
]
