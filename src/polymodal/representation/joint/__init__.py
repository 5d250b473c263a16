"""Joint representations: all modalities projected into one space.

Fusion layers over ``dict[str, Tensor]`` registered by name (``sum``,
``product``, ``mlp``, ``tensor``, ``low_rank``, ``multiplicative``; ``concat``
lives in :mod:`polymodal.fusion.intermediate`) and the multimodal
autoencoder of Ngiam et al. (2011).
"""

from polymodal.representation.joint.autoencoder import MultimodalAutoencoder, MultimodalAutoencoderNetwork
from polymodal.representation.joint.elementwise import MLPFusion, ProductFusion, SumFusion
from polymodal.representation.joint.multiplicative import MultiplicativeFusion
from polymodal.representation.joint.tensor import LowRankFusion, TensorFusion, outer_product_fusion

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
