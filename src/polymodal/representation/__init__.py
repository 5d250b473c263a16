"""polymodal.representation."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AnalogyResult": ".arithmetic",
    "analogy_query": ".arithmetic",
    "evaluate_analogies": ".arithmetic",
    "CCA": ".cca",
    "CCAStats": ".cca_stats",
    "all_reduce_cca_stats": ".cca_stats",
    "DCCA": ".dcca",
    "DCCAE": ".dcca",
    "DCCANetwork": ".dcca",
    "DCCAENetwork": ".dcca",
    "cca_correlation": ".dcca_loss",
    "cca_loss": ".dcca_loss",
    "sym_inv_sqrt": ".dcca_loss",
    "GCCA": ".mcca",
    "KCCA": ".kcca",
    "MCCA": ".mcca",
    "CLIPLoss": ".similarity",
    "CosineEmbedding": ".similarity",
    "RankingLoss": ".similarity",
    "clip_loss": ".similarity",
    "cosine_similarity_matrix": ".similarity",
    "ranking_loss": ".similarity",
    "LowRankFusion": ".joint",
    "MLPFusion": ".joint",
    "MultiplicativeFusion": ".joint",
    "ProductFusion": ".joint",
    "SumFusion": ".joint",
    "TensorFusion": ".joint",
    "MultimodalAutoencoder": ".joint",
    "MultimodalAutoencoderNetwork": ".joint",
    "BernoulliRBM": ".rbm",
    "GaussianBernoulliRBM": ".rbm",
    "BernoulliRBMNetwork": ".rbm",
    "GaussianBernoulliRBMNetwork": ".rbm",
    "MultimodalDBN": ".rbm_dbn",
    "MultimodalDBNNetwork": ".rbm_dbn",
    "MultimodalDBM": ".dbm",
    "MultimodalDBMNetwork": ".dbm",
    "CCAITQ": ".hashing",
    "ITQResult": ".hashing",
    "hamming_distance": ".hashing",
    "hamming_search": ".hashing",
    "itq": ".hashing",
    "mean_average_precision": ".hashing",
    "pack_codes": ".hashing",
})

__all__ = [
    "AnalogyResult", "analogy_query", "evaluate_analogies", "CCA", "CCAStats", "all_reduce_cca_stats", "DCCA",
    "DCCAE", "DCCANetwork", "DCCAENetwork", "cca_correlation", "cca_loss", "sym_inv_sqrt", "GCCA", "KCCA", "MCCA",
    "CLIPLoss", "CosineEmbedding", "RankingLoss", "clip_loss", "cosine_similarity_matrix", "ranking_loss",
    "LowRankFusion", "MLPFusion", "MultiplicativeFusion", "ProductFusion", "SumFusion", "TensorFusion",
    "MultimodalAutoencoder", "MultimodalAutoencoderNetwork", "BernoulliRBM", "GaussianBernoulliRBM", "BernoulliRBMNetwork",
    "GaussianBernoulliRBMNetwork", "MultimodalDBN", "MultimodalDBNNetwork", "MultimodalDBM", "MultimodalDBMNetwork", "CCAITQ", "ITQResult", "hamming_distance",
    "hamming_search", "itq", "mean_average_precision", "pack_codes",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.representation.arithmetic import AnalogyResult, analogy_query, evaluate_analogies
    from polymodal.representation.cca import CCA
    from polymodal.representation.cca_stats import CCAStats, all_reduce_cca_stats
    from polymodal.representation.dcca import DCCA, DCCAE, DCCANetwork, DCCAENetwork
    from polymodal.representation.dcca_loss import cca_correlation, cca_loss, sym_inv_sqrt
    from polymodal.representation.mcca import GCCA, MCCA
    from polymodal.representation.kcca import KCCA
    from polymodal.representation.similarity import (
        CLIPLoss, CosineEmbedding, RankingLoss, clip_loss, cosine_similarity_matrix, ranking_loss,
    )
    from polymodal.representation.joint import (
        LowRankFusion, MLPFusion, MultiplicativeFusion, ProductFusion, SumFusion, TensorFusion,
        MultimodalAutoencoder, MultimodalAutoencoderNetwork,
    )
    from polymodal.representation.rbm import (
        BernoulliRBM, GaussianBernoulliRBM, BernoulliRBMNetwork, GaussianBernoulliRBMNetwork,
    )
    from polymodal.representation.rbm_dbn import MultimodalDBN, MultimodalDBNNetwork
    from polymodal.representation.dbm import MultimodalDBM, MultimodalDBMNetwork
    from polymodal.representation.hashing import (
        CCAITQ, ITQResult, hamming_distance, hamming_search, itq, mean_average_precision, pack_codes,
    )
