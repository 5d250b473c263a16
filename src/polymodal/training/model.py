"""`MultimodalModel`: encoders per modality, a fusion, a head - composed, not hand-wired."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.core.errors import ModalityError, ShapeError
from polymodal.core.interfaces import is_decision_level, takes_lengths
from polymodal.core.outputs import ModelOutput
from polymodal.data.batch import Batch

__all__ = ["MultimodalModel", "ModelOutput"]


class MultimodalModel(nn.Module):
    """``head(fusion({m: encoder_m(x_m)}))`` over a dict of modalities.

    Parameters
    ----------
    encoders : dict[str, nn.Module]
        One encoder per modality; each maps ``(N, ...)`` to ``(N, d_m)`` and
        has an ``out_features`` attribute; an encoder whose class declares
        :class:`~polymodal.core.interfaces.LengthsEncoder` also gets the
        batch's ``lengths`` of its modality.
    fusion : nn.Module
        Called as ``fusion(features, present)`` with ``features`` the dict of
        encoder outputs and ``present`` a dict of ``(N,)`` bool masks. Returns
        a ``(N, d)`` tensor (feature-level fusion) or, if its class declares
        :class:`~polymodal.core.interfaces.DecisionLevelFusion`, a
        :class:`~polymodal.core.outputs.ModelOutput` (then ``head=None``).
    head : nn.Module, optional
        Maps the fused ``(N, d)`` representation to ``(N, n_outputs)``.
    input_shapes : dict[str, tuple], optional
        Per-sample input shape of each modality, checked at every call so a
        wrong feature size gets a clear error.

    Examples
    --------
    >>> from polymodal.encoders import MLP
    >>> from polymodal.fusion import ConcatFusion
    >>> enc = {"a": MLP(4, 8, hidden=[]), "b": MLP(3, 8, hidden=[])}
    >>> model = MultimodalModel(enc, ConcatFusion({"a": 8, "b": 8}), MLP(16, 2, hidden=[]))
    >>> model({"a": torch.zeros(5, 4), "b": torch.zeros(5, 3)}).logits.shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        fusion: nn.Module,
        head: nn.Module | None = None,
        input_shapes: Mapping[str, tuple[int | None, ...]] | None = None,
    ) -> None:
        super().__init__()
        if not encoders:
            raise ModalityError("MultimodalModel needs at least one encoder")
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fusion = fusion
        self.head = head
        self.decision_level = is_decision_level(fusion)
        if self.decision_level and head is not None:
            raise ValueError(f"{type(fusion).__name__} makes decisions itself; use head=None")
        self.input_shapes = {m: tuple(s) for m, s in (input_shapes or {}).items()}

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def _check(self, inputs: Mapping[str, torch.Tensor]) -> None:
        for m in inputs:
            if m not in self.encoders:
                raise ModalityError(f"unknown modality {m!r}: this model was built for {self.modalities}")
        for m in self.encoders:
            if m not in inputs:
                raise ModalityError(
                    f"modality {m!r} is missing from the input (got {sorted(inputs)}); "
                    "to score without it, pass zeros and present[m] = False"
                )
            expected = self.input_shapes.get(m)
            actual = tuple(inputs[m].shape[1:])
            if expected is not None and (
                len(expected) != len(actual) or any(e is not None and e != a for e, a in zip(expected, actual))
            ):
                raise ShapeError(
                    f"modality {m!r}: expected per-sample shape {expected}, got {actual} "
                    f"(input tensor of shape {tuple(inputs[m].shape)})"
                )

    def forward(
        self, batch: Batch | Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None
    ) -> ModelOutput:
        if isinstance(batch, Batch):
            inputs, present, lengths = batch.inputs, batch.present, batch.lengths
        else:
            inputs, present, lengths = batch, dict(present or {}), {}
        self._check(inputs)
        unknown = [m for m in present if m not in self.encoders]
        if unknown:
            raise ModalityError(f"present mask for unknown modality {unknown[0]!r}: this model was built for {self.modalities}")
        features = {}
        for m, encoder in self.encoders.items():
            if m in lengths and takes_lengths(encoder):
                features[m] = encoder(inputs[m], lengths=lengths[m])
            else:
                features[m] = encoder(inputs[m])
        fused = self.fusion(features, present)
        if self.decision_level:
            return fused
        return ModelOutput(self.head(fused) if self.head is not None else fused)

    def n_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
