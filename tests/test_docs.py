"""The documentation site: it builds with `mkdocs build --strict` (so a missing
API reference fails), every ```python block in docs/ runs, and the CLI page
covers every subcommand.

A code block is skipped only when the line right before it is
``<!-- not-runnable: reason -->`` with a non-empty reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*not-runnable:(.*?)-->")
_DOC_PLUGINS = ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material")


def _missing_doc_tools() -> list[str]:
    missing = []
    for name in _DOC_PLUGINS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


_MISSING_DOC_TOOLS = _missing_doc_tools()
needs_mkdocs = pytest.mark.skipif(
    bool(_MISSING_DOC_TOOLS),
    reason="docs tools not installed (pip install -c constraints.txt mkdocs mkdocs-material "
    "'mkdocstrings[python]'); missing: " + ", ".join(_MISSING_DOC_TOOLS),
)


def _code_blocks():
    """(page, line, marker reason or None, code) for every ```python block under docs/."""
    blocks = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = [ln for ln in text[: match.start()].splitlines() if ln.strip()]
            marker = _MARKER.fullmatch(before[-1].strip()) if before else None
            reason = marker.group(1).strip() if marker else None
            blocks.append((page.relative_to(ROOT).as_posix(), line, reason, match.group(1)))
    return blocks


BLOCKS = _code_blocks()
RUNNABLE = [b for b in BLOCKS if b[2] is None]


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@needs_mkdocs
def test_site_builds_strict(tmp_path):
    proc = _mkdocs_build(CONFIG, tmp_path / "site")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    api = tmp_path / "site" / "api"
    # the API pages really contain the generated reference, not just the `:::` line
    for page, name in [("alignment", "polymodal.alignment.CTW"), ("colearning", "polymodal.colearning.PivotBridge"),
                       ("fusion", "polymodal.fusion.MKLClassifier"), ("alignment", "polymodal.alignment.dtw.dtw")]:
        html = (api / page / "index.html").read_text(encoding="utf-8")
        assert f'id="{name}"' in html, f"{name} missing from api/{page}"


@needs_mkdocs
def test_strict_build_fails_on_missing_reference(tmp_path):
    """The reference check is live: a link to a Python name that does not exist
    fails the strict build, while doctest output like ``[0][0]`` (which the
    hook in docs/_hooks ignores) does not count as a reference."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(
        "# t\n\nSee [nothing][polymodal.alignment.no_such_function].\n\n"
        "Output: wv.most_similar('a')[0][0]\n\n::: polymodal.colearning.PivotBridge\n",
        encoding="utf-8",
    )
    text = CONFIG.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^nav:.*?(?=^\S)", "", text)
    for hook in ("autorefs_filter.py", "rst_docstrings.py", "mathjax_local.py"):
        text = text.replace(f"docs/_hooks/{hook}", str(DOCS / "_hooks" / hook))
    text = text.replace("docs_dir: docs", f"docs_dir: {docs}").replace("paths: [src]", f"paths: [{ROOT / 'src'}]")
    config = tmp_path / "mkdocs.yml"
    config.write_text(text, encoding="utf-8")
    proc = _mkdocs_build(config, tmp_path / "site")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "polymodal.alignment.no_such_function" in out
    assert "target '0'" not in out


def test_every_block_is_runnable_or_has_a_reason():
    assert RUNNABLE, "no runnable python block in docs/"
    for page, line, reason, _ in BLOCKS:
        assert reason is None or reason, f"{page}:{line}: not-runnable marker without a reason"


@pytest.mark.parametrize("page,line,reason,code", RUNNABLE, ids=[f"{b[0]}:{b[1]}" for b in RUNNABLE])
def test_docs_code_block_runs(page, line, reason, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    exec(compile(code, f"{page}:{line}", "exec"), {"__name__": "__docs__"})


def test_cli_page_covers_every_command():
    from polymodal.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in sub.choices if f"## `polymodal {name}`" not in text]
    assert not missing, f"docs/cli.md has no section for: {missing}"


def _load_hook(name: str):
    """Import ``docs/_hooks/<name>.py`` (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, DOCS / "_hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rst_docstring_conversion():
    """docs/_hooks/rst_docstrings.py: reST math, roles, a bare doctest and prose
    after a parameter list become Markdown / NumPy sections (exact output)."""
    if importlib.util.find_spec("griffe") is None:
        pytest.skip("griffe (installed with mkdocstrings[python]) is not installed")
    module = _load_hook("rst_docstrings")
    doc = (
        "Sum of :math:`x` via :class:`~polymodal.fusion.LateFusion`:\n\n"
        ".. math:: z = a\n          + b\n\n"
        "Parameters\n----------\nx : int\n    The value.\n\n"
        "Output: ``(N, d)``.\n\n>>> 1 + 1\n2"
    )
    assert module.convert(doc) == (
        "Sum of $x$ via `polymodal.fusion.LateFusion`:\n\n$$\nz = a\n+ b\n$$\n\n"
        "Parameters\n----------\nx : int\n    The value.\n\nNotes\n-----\n"
        "Output: ``(N, d)``.\n\nExamples\n--------\n>>> 1 + 1\n2"
    )


@pytest.mark.parametrize("local", [False, True])
def test_mathjax_loads_locally_when_fetched(tmp_path, local):
    """The hook swaps the CDN address for the vendored copy exactly when that copy exists."""
    hook = _load_hook("mathjax_local")
    if local:
        path = tmp_path / hook.LOCAL
        path.parent.mkdir(parents=True)
        path.write_text("// mathjax")
    config = {"docs_dir": str(tmp_path), "extra_javascript": ["javascripts/mathjax.js", hook.CDN]}
    out = hook.on_config(config)
    assert out["extra_javascript"] == ["javascripts/mathjax.js", hook.LOCAL if local else hook.CDN]
    assert hook.CDN in (ROOT / "mkdocs.yml").read_text()  # the fallback stays in the config
