"""Input handling shared by the sequential fusion models."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from polymodal.encoders.sequence import PaddedSequence, check_lengths
from polymodal.errors import ModalityError, ShapeError

__all__ = ["gather_sequences", "freeze_padded"]


def gather_sequences(
    features: Mapping[str, torch.Tensor | PaddedSequence],
    in_features: Mapping[str, int],
    present: Mapping[str, torch.Tensor] | None,
    *,
    aligned: bool,
    model: str,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Validate per-modality padded sequences; return ``(values, lengths)``.

    ``values[m]`` is ``(N, T_m, d_m)`` with a missing modality (``present[m]``
    False) zeroed; ``lengths[m]`` is ``(N,)`` int64 on the values' device.
    ``aligned=True`` also requires every modality to have the same padded size
    and the same length per sample (word-aligned sequences).
    """
    if not isinstance(features, Mapping):
        raise ModalityError(f"{model}: expected a dict modality -> (N, T, d) tensor, got {type(features).__name__}")
    extra = [m for m in features if m not in in_features]
    if extra:
        raise ModalityError(f"{model}: unknown modality {extra[0]!r}; built for {list(in_features)}")
    present = dict(present or {})
    unknown = [m for m in present if m not in in_features]
    if unknown:
        raise ModalityError(f"{model}: present mask for unknown modality {unknown[0]!r}; built for {list(in_features)}")
    missing = [m for m in in_features if m not in features]
    if missing:
        raise ModalityError(f"{model}: modality {missing[0]!r} is missing from the input (got {sorted(features)})")
    values, lengths = {}, {}
    for m, d in in_features.items():
        feature = features[m]
        x, n = (feature.values, feature.lengths) if isinstance(feature, PaddedSequence) else (feature, None)
        lengths[m] = check_lengths(x, n, f"{model}: modality {m!r}").to(x.device)
        if x.shape[-1] != d:
            raise ShapeError(f"{model}: modality {m!r} must have {d} features per step, got {x.shape[-1]}")
        if m in present:
            p = present[m]
            if p.shape != (x.shape[0],):
                raise ShapeError(f"{model}: present[{m!r}] must have shape ({x.shape[0]},), got {tuple(p.shape)}")
            x = x * p.to(x.dtype)[:, None, None]
        values[m] = x
    sizes = {m: int(x.shape[0]) for m, x in values.items()}
    if len(set(sizes.values())) > 1:
        raise ShapeError(f"{model}: modalities have different batch sizes: {sizes}")
    if aligned:
        steps = {m: int(x.shape[1]) for m, x in values.items()}
        if len(set(steps.values())) > 1:
            raise ShapeError(
                f"{model} needs aligned sequences, but the padded lengths differ: {steps}; "
                "align them first (or use the Multimodal Transformer, 'mult', for unaligned sequences)"
            )
        names = list(lengths)
        for m in names[1:]:
            if not torch.equal(lengths[m], lengths[names[0]]):
                i = int((lengths[m] != lengths[names[0]]).nonzero()[0, 0])
                raise ShapeError(
                    f"{model} needs aligned sequences: sample {i} has {int(lengths[names[0]][i])} steps in "
                    f"{names[0]!r} but {int(lengths[m][i])} in {m!r}"
                )
    return values, lengths


def freeze_padded(new: torch.Tensor, old: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """``new`` where ``active`` (N,) else ``old``: a state stops changing after its sequence ends."""
    return torch.where(active[:, None], new, old)
