"""Joint representations: all modalities projected into one space.

Fusion layers over ``dict[str, Tensor]`` registered by name (``sum``,
``product``, ``mlp``, ``tensor``, ``low_rank``, ``multiplicative``; ``concat``
lives in :mod:`polymodal.fusion.intermediate`) and the multimodal
autoencoder of Ngiam et al. (2011).
"""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

# lazy (PEP 562): a fusion layer's module does not import the autoencoder's scikit-learn
__getattr__, __dir__ = lazy_exports(__name__, {
    "MultimodalAutoencoder": ".autoencoder", "MultimodalAutoencoderNetwork": ".autoencoder",
    "MLPFusion": ".elementwise", "ProductFusion": ".elementwise", "SumFusion": ".elementwise",
    "MultiplicativeFusion": ".multiplicative",
    "LowRankFusion": ".tensor", "TensorFusion": ".tensor", "outer_product_fusion": ".tensor",
})

__all__ = [
    "LowRankFusion",
    "MLPFusion",
    "MultimodalAutoencoder",
    "MultimodalAutoencoderNetwork",
    "MultiplicativeFusion",
    "ProductFusion",
    "SumFusion",
    "TensorFusion",
    "outer_product_fusion",
]

if TYPE_CHECKING:  # static analysers see the eager imports
    from polymodal.representation.joint.autoencoder import MultimodalAutoencoder, MultimodalAutoencoderNetwork
    from polymodal.representation.joint.elementwise import MLPFusion, ProductFusion, SumFusion
    from polymodal.representation.joint.multiplicative import MultiplicativeFusion
    from polymodal.representation.joint.tensor import LowRankFusion, TensorFusion, outer_product_fusion
