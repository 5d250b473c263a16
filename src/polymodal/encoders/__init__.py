"""Unimodal encoders, registered by name for configs.

- vectors: :class:`MLP`, :class:`Identity`
- images: :class:`LeNet`, :class:`ResNetCNN`, :class:`SmoothMaxPool2d`
- classic visual descriptors (sklearn transformers): :class:`HOGDescriptor`, :class:`LBPHistogram`,
  :class:`GaborFilterBank`, :class:`EdgeOrientationHistogram` (Sobel / Canny), :class:`BagOfVisualWords`
  (SIFT), :class:`FlowHistogram` (optical flow, :func:`optical_flow`)
- audio: :func:`load_audio`, :class:`Spectrogram`, :class:`MelSpectrogram`, :class:`AudioCNN`,
  :class:`SpectrogramSequenceEncoder`, :class:`ProbabilityEnsemble` (deep ensembles); spoken words: :func:`prepare_speech` (file:
  :func:`prepare_speech_file`), :class:`SpeechFeatures`, :class:`SpeechAugment`,
  :class:`TemplateVerifier` (DTW keyword verification against stored examples), :class:`WhisperDigitRecognizer`
  (a pretrained English recogniser's digit, an independent check on a spoken-digit classifier; ``polymodal[asr]``)
- text: :class:`BagOfWords`, :class:`WordVectors`, :class:`EmbeddingEncoder`, :func:`train_skipgram`
- sequences: :class:`RNNEncoder`, :class:`GRUEncoder`, :class:`LSTMEncoder`, :class:`SequenceSteps`
- autoencoders: :class:`TiedAutoencoder`, :class:`DenoisingAutoencoder`, :class:`StackedAutoencoder`
"""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AudioCNN": ".audio",
    "BagOfVisualWords": ".bovw",
    "BagOfWords": ".text",
    "EdgeOrientationHistogram": ".edges",
    "FlowHistogram": ".optical_flow",
    "SIFTFeatures": ".bovw",
    "image_gradients": ".edges",
    "optical_flow": ".optical_flow",
    "sift": ".bovw",
    "DenoisingAutoencoder": ".autoencoder",
    "EmbeddingEncoder": ".text",
    "GRUEncoder": ".sequence",
    "GaborFilterBank": ".descriptors",
    "HOGDescriptor": ".descriptors",
    "Identity": ".mlp",
    "LBPHistogram": ".descriptors",
    "LSTMEncoder": ".sequence",
    "LeNet": ".image",
    "MLP": ".mlp",
    "MelSpectrogram": ".audio",
    "NOISE_TYPES": ".autoencoder",
    "PaddedSequence": ".sequence",
    "ProbabilityEnsemble": ".audio",
    "RNNEncoder": ".sequence",
    "ResNetCNN": ".image",
    "ResidualBlock": ".image",
    "SequenceEncoder": ".sequence",
    "SequenceSteps": ".sequence",
    "SmoothMaxPool2d": ".image",
    "Spectrogram": ".audio",
    "SpectrogramSequenceEncoder": ".audio",
    "StackedAutoencoder": ".autoencoder",
    "TiedAutoencoder": ".autoencoder",
    "TiedAutoencoderNetwork": ".autoencoder",
    "DenoisingAutoencoderNetwork": ".autoencoder",
    "StackedAutoencoderNetwork": ".autoencoder",
    "WordVectors": ".text",
    "corrupt": ".autoencoder",
    "lbp_n_bins": ".descriptors",
    "load_audio": ".audio",
    "load_glove_wheel": ".text",
    "mel_filters": ".audio",
    "normalize_utterance": ".audio",
    "read_glove": ".text",
    "smooth_max_pool2d": ".image",
    "tokenize": ".text",
    "train_skipgram": ".text",
    "ClippingWarning": ".speech",
    "SilenceWarning": ".speech",
    "PreparedSpeech": ".speech",
    "SpeechAugment": ".speech_augment",
    "SpeechFeatures": ".speech",
    "detect_speech": ".speech",
    "prepare_speech": ".speech",
    "prepare_speech_file": ".speech",
    "speech_features": ".speech",
    "TemplateVerifier": ".speech_verify",
    "word_cepstra": ".speech_verify",
    "WhisperDigitRecognizer": ".speech_asr",
})

__all__ = [
    "AudioCNN", "BagOfVisualWords", "BagOfWords", "EdgeOrientationHistogram", "FlowHistogram",
    "SIFTFeatures", "image_gradients", "optical_flow", "sift", "DenoisingAutoencoder", "EmbeddingEncoder",
    "GRUEncoder", "GaborFilterBank", "HOGDescriptor", "Identity", "LBPHistogram", "LSTMEncoder", "LeNet", "MLP",
    "MelSpectrogram", "NOISE_TYPES", "PaddedSequence", "ProbabilityEnsemble", "RNNEncoder", "ResNetCNN", "ResidualBlock",
    "SequenceEncoder", "SequenceSteps", "SmoothMaxPool2d", "Spectrogram", "SpectrogramSequenceEncoder",
    "StackedAutoencoder", "TiedAutoencoder", "TiedAutoencoderNetwork", "DenoisingAutoencoderNetwork",
    "StackedAutoencoderNetwork", "WordVectors", "corrupt", "lbp_n_bins", "load_audio",
    "load_glove_wheel", "mel_filters", "normalize_utterance", "read_glove", "smooth_max_pool2d", "tokenize",
    "train_skipgram", "ClippingWarning", "SilenceWarning", "PreparedSpeech", "SpeechAugment", "SpeechFeatures",
    "detect_speech", "prepare_speech", "prepare_speech_file", "speech_features", "TemplateVerifier", "word_cepstra",
    "WhisperDigitRecognizer",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.encoders.audio import (
        AudioCNN, MelSpectrogram, ProbabilityEnsemble, Spectrogram, SpectrogramSequenceEncoder, load_audio,
        mel_filters, normalize_utterance,
    )
    from polymodal.encoders.bovw import BagOfVisualWords, SIFTFeatures, sift
    from polymodal.encoders.text import (
        BagOfWords, EmbeddingEncoder, WordVectors, load_glove_wheel, read_glove, tokenize, train_skipgram,
    )
    from polymodal.encoders.edges import EdgeOrientationHistogram, image_gradients
    from polymodal.encoders.optical_flow import FlowHistogram, optical_flow
    from polymodal.encoders.autoencoder import (
        DenoisingAutoencoder, NOISE_TYPES, StackedAutoencoder, TiedAutoencoder, TiedAutoencoderNetwork,
        DenoisingAutoencoderNetwork, StackedAutoencoderNetwork, corrupt,
    )
    from polymodal.encoders.sequence import (
        GRUEncoder, LSTMEncoder, PaddedSequence, RNNEncoder, SequenceEncoder, SequenceSteps,
    )
    from polymodal.encoders.descriptors import GaborFilterBank, HOGDescriptor, LBPHistogram, lbp_n_bins
    from polymodal.encoders.mlp import Identity, MLP
    from polymodal.encoders.image import LeNet, ResNetCNN, ResidualBlock, SmoothMaxPool2d, smooth_max_pool2d
    from polymodal.encoders.speech import (
        ClippingWarning, PreparedSpeech, SilenceWarning, SpeechFeatures, detect_speech, prepare_speech,
        prepare_speech_file, speech_features,
    )
    from polymodal.encoders.speech_augment import SpeechAugment
    from polymodal.encoders.speech_verify import TemplateVerifier, word_cepstra
    from polymodal.encoders.speech_asr import WhisperDigitRecognizer
