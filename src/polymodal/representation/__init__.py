"""polymodal.representation."""

from polymodal.representation.arithmetic import AnalogyResult, analogy_query, evaluate_analogies
from polymodal.representation.cca import CCA
from polymodal.representation.cca_stats import CCAStats, all_reduce_cca_stats
from polymodal.representation.dcca import DCCA, DCCAE, DCCANetwork, DCCAENetwork
from polymodal.representation.dcca_loss import cca_correlation, cca_loss, sym_inv_sqrt
from polymodal.representation.kcca import KCCA
from polymodal.representation.mcca import GCCA, MCCA
from polymodal.representation.similarity import (
    CLIPLoss,
    CosineEmbedding,
    RankingLoss,
    clip_loss,
    cosine_similarity_matrix,
    ranking_loss,
)
from polymodal.representation.joint import (
    LowRankFusion,
    MLPFusion,
    MultimodalAutoencoder,
    MultiplicativeFusion,
    ProductFusion,
    SumFusion,
    TensorFusion,
)
from polymodal.representation.hashing import (
    CCAITQ,
    ITQResult,
    hamming_distance,
    hamming_search,
    itq,
    mean_average_precision,
    pack_codes,
)
from polymodal.representation.rbm import (
    BernoulliRBM,
    BernoulliRBMNetwork,
    GaussianBernoulliRBM,
    GaussianBernoulliRBMNetwork,
)
from polymodal.representation.rbm_dbn import MultimodalDBN
from polymodal.representation.dbm import MultimodalDBM

__all__ = [
    "AnalogyResult",
    "analogy_query",
    "evaluate_analogies",
    "CCA",
    "CCAStats",
    "all_reduce_cca_stats",
    "DCCA",
    "DCCAE",
    "DCCANetwork",
    "DCCAENetwork",
    "cca_correlation",
    "cca_loss",
    "sym_inv_sqrt",
    "GCCA",
    "KCCA",
    "MCCA",
    "CLIPLoss",
    "CosineEmbedding",
    "RankingLoss",
    "clip_loss",
    "cosine_similarity_matrix",
    "ranking_loss",
    "LowRankFusion",
    "MLPFusion",
    "MultiplicativeFusion",
    "ProductFusion",
    "SumFusion",
    "TensorFusion",
    "MultimodalAutoencoder",
    "BernoulliRBM",
    "GaussianBernoulliRBM",
    "BernoulliRBMNetwork",
    "GaussianBernoulliRBMNetwork",
    "MultimodalDBN",
    "MultimodalDBM",
    "CCAITQ",
    "ITQResult",
    "hamming_distance",
    "hamming_search",
    "itq",
    "mean_average_precision",
    "pack_codes",
]
