"""Unimodal encoders, registered by name for configs.

- vectors: :class:`MLP`, :class:`Identity`
- images: :class:`LeNet`, :class:`ResNetCNN`, :class:`SmoothMaxPool2d`
- classic visual descriptors (sklearn transformers): :class:`HOGDescriptor`, :class:`LBPHistogram`,
  :class:`GaborFilterBank`, :class:`EdgeOrientationHistogram` (Sobel / Canny), :class:`BagOfVisualWords`
  (SIFT), :class:`FlowHistogram` (optical flow, :func:`optical_flow`)
- audio: :func:`load_audio`, :class:`Spectrogram`, :class:`MelSpectrogram`, :class:`AudioCNN`,
  :class:`SpectrogramSequenceEncoder`; spoken words: :func:`prepare_speech` (file:
  :func:`prepare_speech_file`), :class:`SpeechFeatures`, :class:`SpeechAugment`
- text: :class:`BagOfWords`, :class:`WordVectors`, :class:`EmbeddingEncoder`, :func:`train_skipgram`
- sequences: :class:`RNNEncoder`, :class:`GRUEncoder`, :class:`LSTMEncoder`, :class:`SequenceSteps`
- autoencoders: :class:`TiedAutoencoder`, :class:`DenoisingAutoencoder`, :class:`StackedAutoencoder`
"""

from polymodal.encoders.audio import (
    AudioCNN,
    MelSpectrogram,
    Spectrogram,
    SpectrogramSequenceEncoder,
    load_audio,
    mel_filters,
    normalize_utterance,
)
from polymodal.encoders.autoencoder import (
    NOISE_TYPES,
    DenoisingAutoencoder,
    StackedAutoencoder,
    TiedAutoencoder,
    corrupt,
)
from polymodal.encoders.bovw import BagOfVisualWords, SIFTFeatures, sift
from polymodal.encoders.descriptors import GaborFilterBank, HOGDescriptor, LBPHistogram, lbp_n_bins
from polymodal.encoders.edges import EdgeOrientationHistogram, image_gradients
from polymodal.encoders.image import LeNet, ResidualBlock, ResNetCNN, SmoothMaxPool2d, smooth_max_pool2d
from polymodal.encoders.mlp import ACTIVATIONS, MLP, Identity
from polymodal.encoders.optical_flow import FlowHistogram, optical_flow
from polymodal.encoders.speech import (
    ClippingWarning,
    PreparedSpeech,
    SpeechFeatures,
    detect_speech,
    prepare_speech,
    prepare_speech_file,
    speech_features,
)
from polymodal.encoders.speech_augment import SpeechAugment
from polymodal.encoders.sequence import (
    GRUEncoder,
    LSTMEncoder,
    PaddedSequence,
    RNNEncoder,
    SequenceEncoder,
    SequenceSteps,
)
from polymodal.encoders.text import (
    BagOfWords,
    EmbeddingEncoder,
    WordVectors,
    load_glove_wheel,
    read_glove,
    tokenize,
    train_skipgram,
)

__all__ = [
    "ACTIVATIONS", "AudioCNN", "BagOfVisualWords", "BagOfWords", "EdgeOrientationHistogram", "FlowHistogram",
    "SIFTFeatures", "image_gradients", "optical_flow", "sift", "DenoisingAutoencoder", "EmbeddingEncoder", "GRUEncoder",
    "GaborFilterBank", "HOGDescriptor", "Identity", "LBPHistogram", "LSTMEncoder", "LeNet", "MLP",
    "MelSpectrogram", "NOISE_TYPES", "PaddedSequence", "RNNEncoder",
    "ResNetCNN", "ResidualBlock", "SequenceEncoder", "SequenceSteps", "SmoothMaxPool2d", "Spectrogram",
    "SpectrogramSequenceEncoder", "StackedAutoencoder", "TiedAutoencoder", "WordVectors", "corrupt",
    "lbp_n_bins", "load_audio", "load_glove_wheel", "mel_filters", "normalize_utterance", "read_glove",
    "smooth_max_pool2d",
    "tokenize", "train_skipgram",
]
__all__ += ["ClippingWarning", "PreparedSpeech", "SpeechAugment", "SpeechFeatures", "detect_speech", "prepare_speech",
            "prepare_speech_file", "speech_features"]
