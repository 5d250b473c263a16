"""Benchmark suites, robustness evaluation (noisy and missing modalities) and reports."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "RobustnessResult": ".robustness",
    "add_gaussian_noise": ".robustness",
    "curve_auc": ".robustness",
    "format_leaderboard": ".report",
    "leaderboard": ".report",
    "plot_robustness": ".robustness",
    "robustness_curves": ".robustness",
    "write_demo_report": ".report",
})

__all__ = [
    "RobustnessResult", "add_gaussian_noise", "curve_auc", "format_leaderboard", "leaderboard", "plot_robustness",
    "robustness_curves", "write_demo_report",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.benchmarks.robustness import (
        RobustnessResult, add_gaussian_noise, curve_auc, plot_robustness, robustness_curves,
    )
    from polymodal.benchmarks.report import format_leaderboard, leaderboard, write_demo_report
