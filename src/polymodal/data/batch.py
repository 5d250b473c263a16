"""The :class:`Batch` that every model and the engine consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from polymodal.errors import ModalityError

__all__ = ["Batch"]


@dataclass
class Batch:
    """A mini-batch of several modalities.

    Attributes
    ----------
    inputs : dict[str, Tensor]
        Modality name -> tensor of shape ``(N, ...)``; variable-length
        modalities are padded to ``(N, T_max, ...)``.
    target : Tensor, optional
        ``(N,)`` class indices, ``(N, k)`` regression targets or multilabel 0/1.
    lengths : dict[str, Tensor]
        For padded modalities: ``(N,)`` true lengths.
    mask : dict[str, Tensor]
        For padded modalities: ``(N, T_max)`` bool, True at real (non-padding) steps.
    present : dict[str, Tensor]
        Modality name -> ``(N,)`` bool, False where the modality is missing for
        that sample (its values are then zeros and must be ignored). Absent key
        means "present for every sample".
    ids : list, optional
        Sample identifiers.
    """

    inputs: dict[str, torch.Tensor]
    target: torch.Tensor | None = None
    lengths: dict[str, torch.Tensor] = field(default_factory=dict)
    mask: dict[str, torch.Tensor] = field(default_factory=dict)
    present: dict[str, torch.Tensor] = field(default_factory=dict)
    ids: list[Any] | None = None

    def __len__(self) -> int:
        first = next(iter(self.inputs.values()))
        return int(first.shape[0])

    def __getitem__(self, modality: str) -> torch.Tensor:
        try:
            return self.inputs[modality]
        except KeyError:
            raise ModalityError(
                f"unknown modality {modality!r}; this batch has {sorted(self.inputs)}"
            ) from None

    @property
    def modalities(self) -> list[str]:
        return list(self.inputs)

    def present_mask(self, modality: str) -> torch.Tensor:
        """``(N,)`` bool mask of samples where ``modality`` is present."""
        if modality in self.present:
            return self.present[modality]
        return torch.ones(len(self), dtype=torch.bool, device=self[modality].device)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """Move every tensor to ``device`` (Lightning calls this)."""

        def move(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in d.items()}

        return Batch(
            inputs=move(self.inputs),
            target=None if self.target is None else self.target.to(device, non_blocking=non_blocking),
            lengths=move(self.lengths),
            mask=move(self.mask),
            present=move(self.present),
            ids=self.ids,
        )

    def drop(self, modality: str) -> "Batch":
        """A copy in which ``modality`` is missing for every sample (zeros, present=False)."""
        x = self[modality]
        inputs = dict(self.inputs)
        inputs[modality] = torch.zeros_like(x)
        present = dict(self.present)
        present[modality] = torch.zeros(len(self), dtype=torch.bool, device=x.device)
        return Batch(inputs, self.target, dict(self.lengths), dict(self.mask), present, self.ids)
