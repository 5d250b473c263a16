"""Collation of samples into a :class:`Batch`, padding variable-length modalities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

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
    lengths = torch.tensor([int(s.shape[0]) for s in sequences], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=padding_value)
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return padded, lengths, mask


def collate(samples: Sequence[dict[str, Any]]) -> Batch:
    """Stack samples from :class:`MultimodalDataset` into a :class:`Batch`.

    Modalities whose per-sample first axis differs are padded (with ``lengths``
    and ``mask``); others are stacked.
    """
    names = list(samples[0]["inputs"])
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
