"""Tux Paint captioning report: most-frequent baseline, retrieval, Show-and-Tell, Show-Attend-Tell.

Usage: python benchmarks/bench_captioning_tuxpaint.py [OUT_DIR] [--max-epochs N] [--threads T]
Writes OUT_DIR/report.md (default reports/captioning) and prints the test table.
"""

import sys

from polymodal.benchmarks.captioning import captioning_report_cli

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not argv or argv[0].startswith("-"):
        argv = ["reports/captioning"] + argv
    sys.exit(captioning_report_cli(argv))
