"""Unimodal encoders (registered by name for configs)."""

from polymodal.encoders.audio import (
    AudioCNN,
    MelSpectrogram,
    Spectrogram,
    SpectrogramSequenceEncoder,
    load_audio,
    mel_filters,
    normalize_utterance,
)
from polymodal.encoders.image import LeNet, ResidualBlock, ResNetCNN, SmoothMaxPool2d, smooth_max_pool2d
from polymodal.encoders.mlp import ACTIVATIONS, MLP, Identity
from polymodal.encoders.sequence import (
    GRUEncoder,
    LSTMEncoder,
    PaddedSequence,
    RNNEncoder,
    SequenceEncoder,
    SequenceSteps,
)

__all__ = ["ACTIVATIONS", "Identity", "MLP"]
__all__ += ["GRUEncoder", "LSTMEncoder", "PaddedSequence", "RNNEncoder", "SequenceEncoder", "SequenceSteps"]
__all__ += ["LeNet", "ResidualBlock", "ResNetCNN", "SmoothMaxPool2d", "smooth_max_pool2d"]
__all__ += ["AudioCNN", "MelSpectrogram", "Spectrogram", "SpectrogramSequenceEncoder", "load_audio", "mel_filters",
            "normalize_utterance"]
from polymodal.encoders.text import (  # noqa: E402
    BagOfWords,
    EmbeddingEncoder,
    WordVectors,
    load_glove_wheel,
    read_glove,
    tokenize,
    train_skipgram,
)

__all__ += ["BagOfWords", "EmbeddingEncoder", "WordVectors", "load_glove_wheel", "read_glove", "tokenize",
            "train_skipgram"]
