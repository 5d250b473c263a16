"""Reading JSON files with errors that name the file (shared by data and metrics)."""

from __future__ import annotations

import json
import os
from typing import Any

from polymodal.errors import DatasetError

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, what: str) -> Any:
    """``json.load`` of ``path``; an unreadable file or invalid JSON raises
    :class:`DatasetError` naming ``what`` (e.g. ``"caption file"``) and the path."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise DatasetError(f"cannot read {what} {path!r}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{what} {path!r} is not valid JSON: {e}") from None
