"""Every docstring example in ``src/polymodal`` runs in the default test run, and
every docstring uses the numpy-doc ``Examples`` heading (the docs site renders a
singular ``Example`` heading as one run-on paragraph instead of code).

Modules are imported by name from the source tree, so a new module's examples
are run without anyone adding it to a list.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

import polymodal
from package_walk import module_names

SRC = Path(polymodal.__file__).resolve().parent
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    return sorted(module_names())


def _own_doctests(module) -> list[doctest.DocTest]:
    """Docstring examples defined in ``module`` itself (not in what it re-exports)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    source = Path(module.__file__).resolve()
    tests = []
    for test in finder.find(module, module.__name__):
        if test.examples and test.filename and Path(test.filename).resolve() == source:
            tests.append(test)
    return tests


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{name} needs an optional dependency: {exc}")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    failures = []
    for test in _own_doctests(module):
        np.random.seed(0)
        runner = doctest.DocTestRunner(optionflags=_FLAGS)
        report: list[str] = []
        result = runner.run(test, out=report.append)
        if result.failed:
            failures.append(f"{test.name}:\n" + "".join(report))
    assert not failures, "\n".join(failures)


_SINGULAR_HEADING = re.compile(r"^(\s*)Example\n\1-{7}\s*$", re.M)


def test_docstrings_use_the_examples_heading():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in _SINGULAR_HEADING.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            offenders.append(f"{path.relative_to(SRC.parent)}:{line}")
    assert not offenders, "use the numpy-doc heading 'Examples' (plural): " + ", ".join(offenders)
