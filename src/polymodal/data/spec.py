"""Modality specifications: what each modality of a dataset is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polymodal.errors import ShapeError

__all__ = ["ModalitySpec", "MODALITY_KINDS"]

ModalityKind = Literal["vector", "image", "audio", "text", "sequence"]
MODALITY_KINDS: tuple[str, ...] = ("vector", "image", "audio", "text", "sequence")


@dataclass(frozen=True)
class ModalitySpec:
    """Describes one modality.

    Parameters
    ----------
    name : str
        Modality name, the key used in every ``dict[str, Tensor]``.
    kind : {"vector", "image", "audio", "text", "sequence"}
        What the values are. ``"sequence"``, ``"audio"`` and ``"text"`` may vary
        in length along their first axis (padded by :func:`collate`).
    shape : tuple of int
        Per-sample shape; ``None`` marks a variable-length axis, e.g.
        ``(None, 74)`` for COVAREP frames.
    rate : float, optional
        Sample rate (audio, Hz) or frame rate (sequences, frames/s).

    Examples
    --------
    >>> ModalitySpec("pix", "vector", (240,)).dim
    240
    """

    name: str
    kind: ModalityKind
    shape: tuple[int | None, ...]
    rate: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in MODALITY_KINDS:
            raise ShapeError(
                f"modality {self.name!r}: kind must be one of {MODALITY_KINDS}, got {self.kind!r}"
            )
        object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def variable_length(self) -> bool:
        """Whether the first axis varies between samples."""
        return len(self.shape) > 0 and self.shape[0] is None

    @property
    def dim(self) -> int:
        """Size of the last (feature) axis."""
        if not self.shape or self.shape[-1] is None:
            raise ShapeError(f"modality {self.name!r} has no fixed feature size (shape {self.shape})")
        return int(self.shape[-1])
