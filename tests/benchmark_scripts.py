"""The scripts in ``benchmarks/`` (not a package), imported by the tests in ``tests/benchmarks/``."""

import importlib
import sys
from contextlib import contextmanager
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextmanager
def benchmark_script(name: str):
    """``benchmarks/<name>.py`` imported, with ``benchmarks/`` on ``sys.path`` until the block ends
    (the scripts import each other lazily)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
