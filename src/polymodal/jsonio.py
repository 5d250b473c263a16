"""Reading JSON files with errors that name the file (shared by data and metrics)."""

from __future__ import annotations

import json
import os
from typing import Any

from polymodal.errors import DatasetError

__all__ = ["read_json"]


def _refuse_constant(name: str):
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def read_json(path: str | os.PathLike, what: str) -> Any:
    """``json.load`` of ``path``; an unreadable file or invalid JSON raises
    :class:`DatasetError` naming ``what`` (e.g. ``"caption file"``) and the path, as do
    text that is not UTF-8, nesting too deep for the parser, and NaN/Infinity
    literals (not JSON; Python's reader would accept them silently)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, parse_constant=_refuse_constant)
    except OSError as e:
        raise DatasetError(f"cannot read {what} {path!r}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{what} {path!r} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise DatasetError(f"{what} {path!r} is nested too deeply to read") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{what} {path!r} is not valid JSON: {e}") from None
