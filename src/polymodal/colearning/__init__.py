"""Co-learning: co-training (parallel data), cross-modal transfer by
distillation (parallel data), zero-shot classification through a coordinated
word-vector space (non-parallel data), concept grounding of word vectors in
images (non-parallel data) and bridging through a pivot modality
(hybrid data)."""

from polymodal.colearning.bridging import BridgeCorrNet, CorrNet, PivotBridge, corrnet_correlation
from polymodal.colearning.cotraining import UNLABELLED, CoTraining
from polymodal.colearning.grounding import GroundedWordVectors, read_word_similarity, visual_word_vectors, \
    word_similarity
from polymodal.colearning.transfer import CrossModalDistillation, distillation_loss
from polymodal.colearning.zeroshot import DeViSE, hinge_rank_loss

__all__ = ["BridgeCorrNet", "CorrNet", "corrnet_correlation", "CoTraining", "CrossModalDistillation", "DeViSE", "GroundedWordVectors", "PivotBridge", "UNLABELLED", "distillation_loss",
           "hinge_rank_loss", "read_word_similarity", "visual_word_vectors", "word_similarity"]
