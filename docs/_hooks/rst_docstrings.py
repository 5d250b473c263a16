"""Griffe extension: render the package's reST-flavoured docstrings in MkDocs.

The docstrings are NumPy style with a few reStructuredText constructs that
Markdown does not know. Before the NumPy parser sees a docstring this rewrites:

- ``.. math:: ...`` (and its indented continuation) -> a ``$$ ... $$`` block;
- ``:math:`x``` -> ``$x$`` (both rendered by pymdownx.arithmatex + MathJax);
- ``:class:`X```, ``:func:``, ``:meth:``, ``:attr:``, ``:mod:`` -> ```X```;
- a doctest (``>>>``) at the top level of a docstring with no ``Examples``
  section gets an ``Examples`` heading, so it is shown as code instead of being
  read as part of the parameter list.

Only the rendered text changes; the source docstrings are untouched.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|obj|exc|data):`~?([^`]+)`")
_INLINE_MATH = re.compile(r":math:`([^`]+)`")
_EXAMPLES = re.compile(r"^Examples?\n-{3,}$", re.M)


def _math_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(".. math::"):
            indent = line[: len(line) - len(stripped)]
            body = [stripped[len(".. math::"):].strip()]
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
                body.append(lines[i].strip())
                i += 1
            while body and not body[-1]:
                body.pop()
            out += [indent + "$$", *(indent + b for b in body if b), indent + "$$", ""]
            continue
        out.append(line)
        i += 1
    return out


def _add_examples_heading(lines: list[str]) -> list[str]:
    text = "\n".join(lines)
    if _EXAMPLES.search(text):
        return lines
    for i, line in enumerate(lines):
        if line.startswith(">>>"):
            return [*lines[:i], "Examples", "--------", *lines[i:]]
    return lines


_LIST_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Raises", "Warns"}
_SECTIONS = _LIST_SECTIONS | {"Returns", "Yields", "Examples", "Example", "Notes", "References", "See Also", "Methods"}
_PARAM_LINE = re.compile(r"^\**[A-Za-z_]\w*(, \**[A-Za-z_]\w*)*( : .*)?$")


def _close_list_sections(lines: list[str]) -> list[str]:
    """Underline bare section names; start a Notes section where prose follows a parameter list."""
    out: list[str] = []
    section = None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        underlined = bool(re.fullmatch(r"-{3,}", nxt.strip()))
        if line.strip() in _SECTIONS and not line.startswith(" "):
            section = line.strip()
            out.append(line)
            if not underlined:
                out.append("-" * len(section))
            continue
        if (section in _LIST_SECTIONS and line.strip() and not line.startswith(" ")
                and (not out or not out[-1].strip()) and not _PARAM_LINE.match(line)
                and not re.fullmatch(r"-{3,}", line.strip())):
            out += ["Notes", "-----"]
            section = "Notes"
        out.append(line)
    return out


def convert(doc: str) -> str:
    lines = _add_examples_heading(_close_list_sections(_math_blocks(doc.splitlines())))
    text = "\n".join(lines)
    text = _INLINE_MATH.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", text)


class RstDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:  # noqa: ARG002 - griffe hook signature
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
