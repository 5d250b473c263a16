"""Shared input checks and present-mask helpers of the joint fusion layers."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.errors import ConfigError, ModalityError, ShapeError

__all__ = ["JointFusion"]


def check_features(features: Mapping[str, torch.Tensor], in_features: Mapping[str, int], name: str) -> int:
    """Check a fusion layer's input ``{modality: (N, d_m) tensor}`` against ``in_features`` and return N.

    A non-dict, an unknown or a missing modality is a :class:`ModalityError`; a
    non-tensor, non-float, wrongly shaped tensor, differing batch sizes or an empty
    batch a :class:`ShapeError` naming the modality."""
    modalities = list(in_features)
    if not isinstance(features, Mapping):
        raise ModalityError(f"{name}: expected a dict modality -> (N, d) tensor, got {type(features).__name__}")
    for m in features:
        if m not in in_features:
            raise ModalityError(f"{name}: unknown modality {m!r}; this layer was built for {modalities}")
    n = None
    for m, d in in_features.items():
        if m not in features:
            raise ModalityError(
                f"{name}: modality {m!r} is missing from the features (got {sorted(features)}); "
                "pass zeros and present[m] = False for a missing modality"
            )
        h = features[m]
        if not isinstance(h, torch.Tensor) or not h.is_floating_point():
            what = f"dtype {h.dtype}" if isinstance(h, torch.Tensor) else type(h).__name__
            raise ShapeError(f"{name}: modality {m!r} expected a floating-point torch.Tensor, got {what}")
        if h.dim() != 2 or h.shape[1] != d:
            raise ShapeError(
                f"{name}: modality {m!r} expected features of shape (N, {d}), got {tuple(h.shape)}"
            )
        if n is None:
            n = h.shape[0]
        elif h.shape[0] != n:
            raise ShapeError(f"{name}: modality {m!r} has {h.shape[0]} samples, expected {n} like the others")
    if n == 0:
        raise ShapeError(f"{name}: empty batch (N = 0 samples)")
    return n


class JointFusion(nn.Module):
    """Base class: holds ``in_features`` (modality -> size) and checks inputs.

    Subclasses implement :meth:`fuse` on checked features and a complete
    present dict (one ``(N,)`` bool tensor per modality).
    """

    def __init__(self, in_features: Mapping[str, int], modality_dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ConfigError(f"modality_dropout: expected a value in [0, 1), got {modality_dropout!r}")
        self.modality_dropout = float(modality_dropout)
        if not in_features:
            raise ConfigError("in_features: a joint fusion layer needs at least one modality, got {}")
        for m, d in in_features.items():
            if not isinstance(d, int) or isinstance(d, bool) or d < 1:
                raise ConfigError(f"in_features[{m!r}]: expected a positive int size, got {d!r}")
        self.in_features = dict(in_features)
        self.modalities = list(self.in_features)

    def _checked(
        self, features: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        name = type(self).__name__
        n = check_features(features, self.in_features, name)
        present = dict(present or {})
        for m in present:
            if m not in self.in_features:
                raise ModalityError(f"{name}: present mask for unknown modality {m!r}; built for {self.modalities}")
        full = {}
        for m in self.in_features:
            h = features[m]
            p = present.get(m)
            if p is None:
                p = torch.ones(n, dtype=torch.bool, device=h.device)
            elif tuple(p.shape) != (n,):
                raise ShapeError(f"{name}: present[{m!r}] expected shape ({n},), got {tuple(p.shape)}")
            full[m] = p.to(torch.bool)
        return dict(features), full

    def forward(
        self, features: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        features, present = self._checked(features, present)
        if self.training and self.modality_dropout > 0 and len(self.modalities) > 1:
            present = self._drop_modalities(present)
        return self.fuse(features, present)

    def _drop_modalities(self, present: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training-time modality dropout: each modality of each sample is
        marked absent with probability ``modality_dropout``; one is always kept."""
        first = next(iter(present.values()))
        n, k = first.shape[0], len(self.modalities)
        keep = torch.rand(n, k, device=first.device) >= self.modality_dropout
        none_kept = ~keep.any(dim=1)
        forced = torch.randint(k, (n,), device=first.device)
        keep[none_kept, forced[none_kept]] = True
        return {m: present[m] & keep[:, i] for i, m in enumerate(self.modalities)}

    def fuse(self, features: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def _masked(h: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """``h`` with the rows of absent samples set to zero (``h`` itself when every sample is present on the
        CPU: the same values and gradient without a multiply and its backward; on a GPU the multiply stays,
        since testing the mask would wait for the device, and so it does while tracing or exporting, where a
        branch on the mask's values cannot be captured)."""
        if p.device.type == "cpu" and not (torch.jit.is_tracing() or torch.compiler.is_compiling()) and bool(p.all()):
            return h
        return h * p[:, None].to(h.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={getattr(self, 'out_features', '?')}"
