"""Co-learning: co-training (parallel data), cross-modal transfer by
distillation (parallel data), zero-shot classification through a coordinated
word-vector space (non-parallel data), concept grounding of word vectors in
images (non-parallel data) and bridging through a pivot modality
(hybrid data)."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BridgeCorrNet": ".bridging",
    "CorrNet": ".bridging",
    "CorrNetNetwork": ".bridging",
    "corrnet_correlation": ".bridging",
    "CoTraining": ".cotraining",
    "CrossModalDistillation": ".transfer",
    "DeViSE": ".zeroshot",
    "GroundedWordVectors": ".grounding",
    "PivotBridge": ".bridging",
    "pivot_views": ".bridging",
    "UNLABELLED": ".cotraining",
    "distillation_loss": ".transfer",
    "hinge_rank_loss": ".zeroshot",
    "read_word_similarity": ".grounding",
    "visual_word_vectors": ".grounding",
    "word_similarity": ".grounding",
})

__all__ = [
    "BridgeCorrNet", "CorrNet", "CorrNetNetwork", "corrnet_correlation", "CoTraining", "CrossModalDistillation", "DeViSE",
    "GroundedWordVectors", "PivotBridge", "pivot_views", "UNLABELLED", "distillation_loss", "hinge_rank_loss",
    "read_word_similarity", "visual_word_vectors", "word_similarity",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.colearning.bridging import (
        BridgeCorrNet, CorrNet, CorrNetNetwork, corrnet_correlation, PivotBridge, pivot_views,
    )
    from polymodal.colearning.cotraining import CoTraining, UNLABELLED
    from polymodal.colearning.transfer import CrossModalDistillation, distillation_loss
    from polymodal.colearning.zeroshot import DeViSE, hinge_rank_loss
    from polymodal.colearning.grounding import (
        GroundedWordVectors, read_word_similarity, visual_word_vectors, word_similarity,
    )
