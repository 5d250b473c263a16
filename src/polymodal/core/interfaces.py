"""Declared interfaces of the parts a :class:`~polymodal.training.MultimodalModel`
composes, so the engine asks a part's class what it is instead of probing
instance attributes.

* :class:`DecisionLevelFusion`: a fusion that makes the decision itself
  (late, hybrid): called as ``fusion(features, present)`` it returns a
  :class:`~polymodal.core.outputs.ModelOutput` (fused and per-branch logits),
  takes no head and declares no ``out_features``. Every other fusion is
  feature-level: it returns a ``(N, d)`` tensor and sets ``out_features = d``.
* :class:`LengthsEncoder`: an encoder of padded sequences whose ``forward``
  takes ``lengths=`` (``(N,)`` valid steps per sample).

Both are plain mixins (no torch import), inherited next to ``nn.Module``;
they set the class attribute (``decision_level = True`` /
``takes_lengths = True``) that a class may also declare itself. The engine
reads the class, never an instance attribute set at run time.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["DecisionLevelFusion", "LengthsEncoder", "is_decision_level", "takes_lengths"]


class DecisionLevelFusion:
    """Mixin declaring a decision-level fusion (returns a ``ModelOutput``; no head)."""

    decision_level: ClassVar[bool] = True


class LengthsEncoder:
    """Mixin declaring an encoder whose ``forward(x, lengths=...)`` takes ``(N,)`` lengths."""

    takes_lengths: ClassVar[bool] = True


def is_decision_level(fusion: Any) -> bool:
    """Whether ``fusion``'s class declares ``decision_level = True`` (:class:`DecisionLevelFusion`)."""
    return getattr(type(fusion), "decision_level", False) is True


def takes_lengths(encoder: Any) -> bool:
    """Whether ``encoder``'s class declares ``takes_lengths = True`` (:class:`LengthsEncoder`)."""
    return getattr(type(encoder), "takes_lengths", False) is True
