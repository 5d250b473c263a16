"""Speech front-end for isolated words, as a torch module (the functions live in :mod:`polymodal.data.audio`).

:func:`prepare_speech` / :func:`prepare_speech_file` (resampling, DC removal,
clipping check, voice-activity detection, the word centred in 1 s) and
:func:`speech_features` (40-band log-mel image; optional pre-emphasis and
per-utterance CMVN) are defined in the model-free :mod:`polymodal.data.audio`, which the
dataset builder uses too, and re-exported here (``polymodal.encoders.prepare_speech``
is the documented path). :class:`SpeechFeatures` wraps :func:`speech_features`
as an ``nn.Module`` for model pipelines.
"""

from __future__ import annotations

import torch
from torch import nn

from polymodal.data.audio import (
    FEATURE_CMVN,
    FEATURE_PRE_EMPHASIS,
    FMAX,
    N_MELS,
    PRE_EMPHASIS,
    SR,
    WINDOW,
    WINDOW_SECONDS,
    ClippingWarning,
    PreparedSpeech,
    SilenceWarning,
    SpeechSegment,
    clipped_fraction,
    detect_speech,
    log_mel_image,
    pre_emphasis,
    prepare_speech,
    prepare_speech_file,
    remove_dc,
    slaney_mel_filters,
    speech_features,
    utterance_cmvn,
)
from polymodal.errors import ShapeError

__all__ = ["SR", "WINDOW_SECONDS", "N_MELS", "FMAX", "ClippingWarning", "SilenceWarning", "SpeechSegment",
           "PreparedSpeech", "detect_speech", "remove_dc", "clipped_fraction", "prepare_speech", "prepare_speech_file",
           "SpeechFeatures", "speech_features", "slaney_mel_filters", "pre_emphasis", "log_mel_image",
           "utterance_cmvn", "WINDOW", "PRE_EMPHASIS"]


class SpeechFeatures(nn.Module):
    """Model input ``(N, 40, 101)`` of prepared 1 s waveforms ``(N, 16000)``: :func:`speech_features`,
    by default the [0, 1] log-mel image :func:`log_mel_image`; ``pre_emphasis_coef > 0`` pre-emphasises
    the waveform first, ``cmvn`` applies :func:`utterance_cmvn` to the image.

    >>> SpeechFeatures()(torch.zeros(2, 16000)).shape
    torch.Size([2, 40, 101])
    """

    def __init__(self, pre_emphasis_coef: float = FEATURE_PRE_EMPHASIS, cmvn: bool = FEATURE_CMVN) -> None:
        super().__init__()
        pre_emphasis(torch.zeros(1, 2), pre_emphasis_coef)  # validates the coefficient
        self.pre_emphasis_coef, self.cmvn = float(pre_emphasis_coef), bool(cmvn)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.ndim != 2:
            raise ShapeError(f"SpeechFeatures expects waveforms (N, L), got {tuple(waveform.shape)}")
        image = log_mel_image(pre_emphasis(waveform.float(), self.pre_emphasis_coef))
        return utterance_cmvn(image) if self.cmvn else image
