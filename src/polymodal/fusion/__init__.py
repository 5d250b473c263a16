"""Fusion: model-agnostic (early, late, hybrid, intermediate concat); more in
``kernel``, ``graphical`` and ``sequential`` modules as they land."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "COMBINE_RULES": ".late",
    "ConcatFusion": ".intermediate",
    "HybridFusion": ".late",
    "LateFusion": ".late",
    "MKLClassifier": ".mkl",
    "CalibratedProductOfExperts": ".robust",
    "ContaminatedProductOfExperts": ".robust",
    "GatedExpertFusion": ".robust",
    "GatedFusion": ".robust",
    "GroupDRO": ".robust",
    "expected_calibration_error": ".robust",
    "fit_temperature": ".robust",
    "outlier_exposure_loss": ".robust",
    "top_class_log_odds": ".robust",
    "estimate_noise_sigma": ".quality",
    "spectrogram_snr": ".quality",
    "MahalanobisScore": ".quality",
    "EarlyFusionLSTM": ".sequential",
    "LateFusionLSTM": ".sequential",
    "MVLSTM": ".sequential",
    "MemoryFusionNetwork": ".sequential",
    "MultimodalTransformer": ".sequential",
    "CoupledHMM": ".graphical",
    "FactorialHMM": ".graphical",
    "HCRF": ".graphical",
    "HMMClassifier": ".graphical",
    "LatentDynamicCRF": ".graphical",
    "MultiStreamHMM": ".graphical",
    "MultiViewHCRF": ".graphical",
})

__all__ = [
    "COMBINE_RULES", "ConcatFusion", "HybridFusion", "LateFusion", "MKLClassifier", "CalibratedProductOfExperts",
    "ContaminatedProductOfExperts", "GatedExpertFusion", "GatedFusion", "GroupDRO", "expected_calibration_error",
    "fit_temperature", "estimate_noise_sigma", "outlier_exposure_loss", "spectrogram_snr", "MahalanobisScore",
    "top_class_log_odds", "EarlyFusionLSTM", "LateFusionLSTM", "MVLSTM", "MemoryFusionNetwork",
    "MultimodalTransformer", "CoupledHMM", "FactorialHMM", "HCRF", "HMMClassifier", "LatentDynamicCRF",
    "MultiStreamHMM", "MultiViewHCRF",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.fusion.late import COMBINE_RULES, HybridFusion, LateFusion
    from polymodal.fusion.intermediate import ConcatFusion
    from polymodal.fusion.mkl import MKLClassifier
    from polymodal.fusion.quality import MahalanobisScore, estimate_noise_sigma, spectrogram_snr
    from polymodal.fusion.robust import (
        CalibratedProductOfExperts, ContaminatedProductOfExperts, GatedExpertFusion, GatedFusion, GroupDRO,
        expected_calibration_error, fit_temperature, outlier_exposure_loss, top_class_log_odds,
    )
    from polymodal.fusion.sequential import (
        EarlyFusionLSTM, LateFusionLSTM, MVLSTM, MemoryFusionNetwork, MultimodalTransformer,
    )
    from polymodal.fusion.graphical import (
        CoupledHMM, FactorialHMM, HCRF, HMMClassifier, LatentDynamicCRF, MultiStreamHMM, MultiViewHCRF,
    )
