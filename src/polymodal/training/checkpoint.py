"""Checkpoint files: atomic writes, safe loading (``weights_only=True``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from polymodal.errors import CheckpointError

__all__ = ["atomic_save", "load_checkpoint_file"]


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then
    ``os.replace``: a crash leaves either the old file or the new one, never a
    truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing code from it (``weights_only=True``).

    Raises :class:`CheckpointError` naming the file when it is missing,
    truncated, corrupted or not a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is corrupted, truncated or not a torch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a polymodal/Lightning checkpoint (no 'state_dict' entry)")
    return checkpoint
