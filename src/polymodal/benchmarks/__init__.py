"""Benchmark suites, robustness evaluation and reports."""

from polymodal.benchmarks.report import format_leaderboard, leaderboard, write_demo_report

__all__ = ["format_leaderboard", "leaderboard", "write_demo_report"]
