"""Collation of samples into a :class:`Batch`, padding variable-length modalities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from polymodal.core.errors import ModalityError, ShapeError
from polymodal.data.batch import Batch

__all__ = ["collate", "pad_sequences"]


def pad_sequences(
    sequences: Sequence[torch.Tensor], padding_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad ``(T_i, ...)`` tensors to ``(N, T_max, ...)``.

    Returns ``(padded, lengths, mask)`` with ``mask[i, t]`` True for ``t < T_i``.

    >>> p, lengths, mask = pad_sequences([torch.ones(2, 3), torch.ones(4, 3)])
    >>> tuple(p.shape), lengths.tolist(), mask.sum(1).tolist()
    ((2, 4, 3), [2, 4], [2, 4])
    """
    if len(sequences) == 0:
        raise ShapeError("pad_sequences needs at least one sequence, got none")
    for i, s in enumerate(sequences):
        if not isinstance(s, torch.Tensor) or s.dim() == 0:
            raise ShapeError(f"sequences[{i}] must be a tensor (T_i, ...); got "
                             f"{type(s).__name__}{' of 0 dimensions' if isinstance(s, torch.Tensor) else ''}")
        if s.shape[1:] != sequences[0].shape[1:]:
            raise ShapeError(f"sequences[{i}] has frames of shape {tuple(s.shape[1:])}, sequences[0] has "
                             f"{tuple(sequences[0].shape[1:])}; only the first axis (time) may differ")
    lengths = torch.tensor([int(s.shape[0]) for s in sequences], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=padding_value)
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return padded, lengths, mask


def collate(samples: Sequence[dict[str, Any]]) -> Batch:
    """Stack samples from :class:`MultimodalDataset` into a :class:`Batch`.

    Modalities whose per-sample first axis differs are padded (with ``lengths``
    and ``mask``); others are stacked.
    """
    if len(samples) == 0:
        raise ShapeError("collate needs at least one sample, got none")
    for i, s in enumerate(samples):
        if not isinstance(s, dict) or not isinstance(s.get("inputs"), dict):
            raise ShapeError(f"samples[{i}] must be a MultimodalDataset item, a dict with 'inputs' (modality -> "
                             f"tensor), 'present' and 'id'; got {type(s).__name__} with keys "
                             f"{sorted(s) if isinstance(s, dict) else '-'}")
    names = list(samples[0]["inputs"])
    for i, s in enumerate(samples):
        if set(s["inputs"]) != set(names):
            raise ModalityError(f"samples[{i}] has modalities {sorted(s['inputs'])}, samples[0] has {sorted(names)}")
    inputs, lengths, mask, present = {}, {}, {}, {}
    for m in names:
        values = [s["inputs"][m] for s in samples]
        if values[0].ndim >= 1 and len({v.shape for v in values}) > 1:
            inputs[m], lengths[m], mask[m] = pad_sequences(values)
        else:
            inputs[m] = torch.stack(values)
        flags = [s["present"].get(m, True) for s in samples]
        if not all(flags):
            present[m] = torch.tensor(flags, dtype=torch.bool)
    target = torch.stack([s["target"] for s in samples]) if "target" in samples[0] else None
    return Batch(inputs, target, lengths, mask, present, [s["id"] for s in samples])
