"""Lightning's checkpoint I/O routed through polymodal's atomic writes and safe loads.

Kept apart from :mod:`polymodal.training.checkpoint` so that saving and loading
checkpoints does not import Lightning.
"""

from __future__ import annotations

from typing import Any

from lightning.fabric.plugins import TorchCheckpointIO

from polymodal.training.checkpoint import atomic_save, load_checkpoint_file

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O with atomic writes and safe loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location=map_location or "cpu")
