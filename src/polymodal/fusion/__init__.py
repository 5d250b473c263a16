"""Fusion: model-agnostic (early, late, hybrid, intermediate concat); more in
``kernel``, ``graphical`` and ``sequential`` modules as they land."""

from polymodal.fusion.intermediate import ConcatFusion
from polymodal.fusion.late import COMBINE_RULES, HybridFusion, LateFusion

__all__ = ["COMBINE_RULES", "ConcatFusion", "HybridFusion", "LateFusion"]
