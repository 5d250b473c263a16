"""MkDocs hook: keep `--strict` failing on real missing references only.

Some docstrings show doctest output such as ``[0][0]`` or ``[-1.0, 1.0]``
outside a code block; Markdown reads it as a reference link and mkdocs-autorefs
warns that the "target" ``0`` cannot be found. Such targets are not Python
names, so they cannot be API references: this hook drops exactly those
warnings. A missing target that is a (dotted) Python name, e.g.
``polymodal.alignment.nonexistent``, still fails the strict build.
"""

from __future__ import annotations

import logging
import re

_TARGET = re.compile(r"Could not find cross-reference target '([^']*)'")
_PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LOGGER = "mkdocs.plugins.mkdocs_autorefs._internal.plugin"


class _LiteralTargetFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        match = _TARGET.search(record.getMessage())
        return match is None or bool(_PYTHON_NAME.match(match.group(1)))


def on_startup(command, dirty):  # noqa: ARG001 - MkDocs hook signature
    logger = logging.getLogger(_LOGGER)
    if not any(isinstance(f, _LiteralTargetFilter) for f in logger.filters):
        logger.addFilter(_LiteralTargetFilter())
