"""Fusion: model-agnostic (early, late, hybrid, intermediate concat); more in
``kernel``, ``graphical`` and ``sequential`` modules as they land."""

from polymodal.fusion.intermediate import ConcatFusion
from polymodal.fusion.late import COMBINE_RULES, HybridFusion, LateFusion
from polymodal.fusion.mkl import MKLClassifier
from polymodal.fusion.robust import (
    CalibratedProductOfExperts, GatedExpertFusion, GatedFusion, expected_calibration_error, fit_temperature,
)
from polymodal.fusion.graphical import (
    HCRF, CoupledHMM, FactorialHMM, HMMClassifier, LatentDynamicCRF, MultiStreamHMM, MultiViewHCRF,
)
from polymodal.fusion.sequential import (
    EarlyFusionLSTM,
    LateFusionLSTM,
    MemoryFusionNetwork,
    MultimodalTransformer,
    MVLSTM,
)
import polymodal.representation.joint  # noqa: F401,E402  (registers sum, product, mlp, tensor, low_rank, multiplicative)

__all__ = ["COMBINE_RULES", "ConcatFusion", "HybridFusion", "LateFusion"]
__all__ += ["MKLClassifier"]
__all__ += ["CalibratedProductOfExperts", "GatedExpertFusion", "GatedFusion", "expected_calibration_error",
            "fit_temperature"]
__all__ += ["EarlyFusionLSTM", "LateFusionLSTM", "MVLSTM", "MemoryFusionNetwork", "MultimodalTransformer"]
__all__ += ["CoupledHMM", "FactorialHMM", "HCRF", "HMMClassifier", "LatentDynamicCRF", "MultiStreamHMM", "MultiViewHCRF"]
