"""The one small family of errors polymodal raises on bad input (import them
from :mod:`polymodal.errors`, which re-exports this module).

Every class subclasses :class:`ValueError`, so ``except ValueError`` keeps
working, and every message names the modality, the key, the expected and the
actual value where they apply.
"""

from __future__ import annotations

__all__ = [
    "PolymodalError",
    "ModalityError",
    "ShapeError",
    "ConfigError",
    "CheckpointError",
    "DatasetError",
]


class PolymodalError(ValueError):
    """Base class of every error polymodal raises on bad input."""


class ModalityError(PolymodalError):
    """An unknown, missing or inconsistent modality (names it)."""


class ShapeError(PolymodalError):
    """An array or tensor whose shape or values are wrong (expected vs actual)."""


class ConfigError(PolymodalError):
    """An invalid experiment configuration (names the key)."""


class CheckpointError(PolymodalError):
    """A checkpoint file that is missing, unreadable or does not fit the model."""


class DatasetError(PolymodalError):
    """A dataset that is unknown, unavailable here, or whose files are malformed."""
