"""Sequential neural fusion: early/late-fusion LSTMs, MV-LSTM, Memory Fusion
Network and the Multimodal Transformer (all registered by name)."""

from polymodal.fusion.sequential.lstm import EarlyFusionLSTM, LateFusionLSTM
from polymodal.fusion.sequential.mfn import MemoryFusionNetwork
from polymodal.fusion.sequential.mult import CrossmodalTransformer, MultimodalTransformer
from polymodal.fusion.sequential.mvlstm import MVLSTM, MVLSTM_TOPOLOGIES, MVLSTMCell

__all__ = [
    "CrossmodalTransformer",
    "EarlyFusionLSTM",
    "LateFusionLSTM",
    "MVLSTM",
    "MVLSTMCell",
    "MVLSTM_TOPOLOGIES",
    "MemoryFusionNetwork",
    "MultimodalTransformer",
]
