"""Audio front-end and encoders: loading, STFT / log-mel spectrograms, audio CNN.

The acoustic representation of the multimodal tutorial: short-time Fourier
analysis with a 20 ms window and a 10 ms hop, mel filter banks (Stevens,
Volkmann & Newman, JASA 1937; Slaney's Auditory Toolbox normalisation), log
compression and per-utterance mean/variance normalisation::

    X[f, t] = sum_n x[n + t H] w[n] exp(-2 pi i f n / N_fft)      (torch.stft)
    S[m, t] = sum_f M[m, f] |X[f, t]|^p                           (M: librosa mel filters)
    L[m, t] = 10 log10(max(S[m, t], amin))                        (log-mel, dB)
    Z[m, t] = (L[m, t] - mean_t L[m, :]) / (std_t L[m, :] + eps)  (per utterance)

:class:`MelSpectrogram` is a torch module (batched, GPU-capable, padded
batches with ``lengths``) that reproduces ``librosa.feature.melspectrogram``
with the same parameters (Hann window, ``center=True``, zero padding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from polymodal.data.audio import MAX_SAMPLE_RATE, read_audio_file, check_sample_rate as _check_rate  # noqa: F401
from polymodal.encoders.image import ImageInput, _activation
from polymodal.errors import ConfigError, ShapeError
from polymodal.core.registry import register

__all__ = ["load_audio", "mel_filters", "Spectrogram", "MelSpectrogram", "normalize_utterance",
           "AudioCNN", "SpectrogramSequenceEncoder", "ProbabilityEnsemble"]


def load_audio(path: str | os.PathLike, sr: int = 16_000, *, mono: bool = True) -> np.ndarray:
    """Read a WAV/OGG/FLAC file (soundfile) and resample it to ``sr`` Hz (librosa, soxr).

    Parameters
    ----------
    path : file readable by libsndfile.
    sr : int
        Target sample rate in Hz (1000 to 384000).
    mono : bool
        Average the channels.

    Returns
    -------
    ndarray, float32, ``(L,)`` (mono) or ``(channels, L)``, full scale = 1. Values are as
    decoded and resampled, not clipped: lossy decoders (Ogg Vorbis, MP3) and resampling overshoot
    [-1, 1] on loud or clipped recordings (up to 1.5 on some Tux Paint files). For speech use
    :func:`polymodal.data.audio.prepare_speech_file`, which also removes DC and reports clipping.

    Raises :class:`~polymodal.errors.DatasetError` for a missing, unreadable
    or empty file, :class:`~polymodal.errors.ConfigError` for a bad ``sr``.

    >>> import tempfile, soundfile
    >>> f = tempfile.mktemp(suffix=".wav"); soundfile.write(f, np.zeros(800), 8000)
    >>> load_audio(f, sr=16000).shape
    (1600,)
    """
    sr = _check_rate(sr)
    data, rate = read_audio_file(path, dtype="float32")
    data = data.T  # (channels, L)
    if mono:
        data = data.mean(axis=0)
    if rate != sr:
        import librosa

        data = librosa.resample(data, orig_sr=rate, target_sr=sr, res_type="soxr_hq", axis=-1)
    return np.ascontiguousarray(data, dtype=np.float32)


def mel_filters(sr: int, n_fft: int, n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None,
                htk: bool = False, norm: str | None = "slaney") -> np.ndarray:
    """Mel filter bank ``(n_mels, n_fft // 2 + 1)`` from ``librosa.filters.mel``."""
    import librosa

    sr = _check_rate(sr, "sample_rate")
    if fmax is not None and not fmin < fmax <= sr / 2:
        raise ConfigError(f"need fmin < fmax <= sample_rate / 2 = {sr / 2}, got fmin={fmin}, fmax={fmax}")
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)


def _frames(lengths: torch.Tensor, hop: int, n_fft: int, center: bool) -> torch.Tensor:
    if center:
        return lengths // hop + 1
    return torch.clamp((lengths - n_fft) // hop + 1, min=0)


def normalize_utterance(spec: torch.Tensor, lengths: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance, per-band mean/variance normalisation of ``spec`` ``(N, F, T)``.

    Statistics use only the first ``lengths[i]`` frames of utterance ``i``;
    padded frames are set to 0. ``Z = (L - mean_t L) / (std_t L + eps)``
    (population std).

    >>> z = normalize_utterance(torch.tensor([[[1.0, 3.0]]]))
    >>> [round(v, 4) for v in z.flatten().tolist()]
    [-1.0, 1.0]
    """
    if spec.ndim != 3:
        raise ShapeError(f"normalize_utterance expects spec of shape (N, F, T), got {tuple(spec.shape)}")
    n, _, t = spec.shape
    if lengths is None:
        mask = torch.ones(n, 1, t, dtype=spec.dtype, device=spec.device)
    else:
        lengths = torch.as_tensor(lengths, device=spec.device)
        if lengths.shape != (n,) or bool((lengths < 1).any()) or bool((lengths > t).any()):
            raise ShapeError(f"lengths must be (N,) = ({n},) frame counts in [1, {t}], got {lengths.tolist()}")
        mask = (torch.arange(t, device=spec.device)[None] < lengths[:, None]).to(spec.dtype)[:, None]
    count = mask.sum(-1, keepdim=True)
    mean = (spec * mask).sum(-1, keepdim=True) / count
    std = ((((spec - mean) * mask) ** 2).sum(-1, keepdim=True) / count).sqrt()
    return (spec - mean) / (std + eps) * mask


class Spectrogram(nn.Module):
    """STFT power spectrogram ``|X|^power`` ``(N, n_fft // 2 + 1, T)`` of waveforms ``(N, L)``.

    Matches ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length,
    win_length=win_length, window="hann", center=center, pad_mode=pad_mode)) ** power``.

    Parameters
    ----------
    sample_rate : int
    win_ms, hop_ms : float
        Window and hop in milliseconds (20 and 10); or give ``win_length`` /
        ``hop_length`` in samples.
    n_fft : int, optional
        FFT size; the next power of two >= the window by default.
    power : float
        1 = magnitude, 2 = power.
    center : bool
        Pad ``n_fft // 2`` samples on both sides (``pad_mode``: "constant" as
        librosa >= 0.10, or "reflect").

    >>> Spectrogram(16000)(torch.zeros(2, 16000)).shape
    torch.Size([2, 257, 101])
    """

    def __init__(self, sample_rate: int = 16_000, win_ms: float = 20.0, hop_ms: float = 10.0, *,
                 win_length: int | None = None, hop_length: int | None = None, n_fft: int | None = None,
                 power: float = 2.0, center: bool = True, pad_mode: str = "constant") -> None:
        super().__init__()
        self.sample_rate = _check_rate(sample_rate, "sample_rate")
        self.win_length = int(win_length or round(win_ms * self.sample_rate / 1000))
        self.hop_length = int(hop_length or round(hop_ms * self.sample_rate / 1000))
        if self.win_length < 2 or self.hop_length < 1:
            raise ConfigError(f"window ({self.win_length}) must be >= 2 samples and hop ({self.hop_length}) >= 1")
        self.n_fft = int(n_fft or 1 << (self.win_length - 1).bit_length())
        if self.n_fft < self.win_length:
            raise ConfigError(f"n_fft={self.n_fft} must be >= win_length={self.win_length}")
        if pad_mode not in ("constant", "reflect"):
            raise ConfigError(f"pad_mode must be 'constant' or 'reflect', got {pad_mode!r}")
        self.power, self.center, self.pad_mode = float(power), bool(center), pad_mode
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True, dtype=torch.float64),
                             persistent=False)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of frames computed from ``lengths`` samples (no padding involved)."""
        return _frames(torch.as_tensor(lengths), self.hop_length, self.n_fft, self.center)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        squeeze = waveform.ndim == 1
        x = waveform[None] if squeeze else waveform
        if x.ndim != 2:
            raise ShapeError(f"waveform must be (L,) or (N, L), got {tuple(waveform.shape)}")
        if not x.is_floating_point():
            x = x.float()
        if x.shape[-1] < (self.n_fft // 2 + 1 if self.center else self.n_fft):
            raise ShapeError(f"waveform of {x.shape[-1]} samples is shorter than one frame (n_fft={self.n_fft})")
        spec = torch.stft(x, self.n_fft, self.hop_length, self.win_length, self.window.to(x.dtype),
                          center=self.center, pad_mode=self.pad_mode, return_complex=True).abs()
        spec = spec if self.power == 1.0 else spec ** self.power
        return spec[0] if squeeze else spec


class MelSpectrogram(nn.Module):
    """(Log-)mel spectrogram ``(N, n_mels, T)`` of waveforms ``(N, L)``, optionally
    normalised per utterance.

    Without ``log`` and ``normalize`` it equals
    ``librosa.feature.melspectrogram(y=..., sr=sample_rate, n_fft=..., hop_length=...,
    win_length=..., n_mels=..., fmin=..., fmax=..., power=..., center=..., pad_mode=...)``.
    With ``log`` it is ``librosa.power_to_db(S, ref=1.0, amin=amin, top_db=None)``
    (``10 log10``; for ``power=1`` it is ``librosa.amplitude_to_db``, ``20 log10``).

    Parameters
    ----------
    sample_rate, win_ms, hop_ms, win_length, hop_length, n_fft, power, center, pad_mode :
        as :class:`Spectrogram`.
    n_mels, fmin, fmax, htk, norm : mel filter bank (librosa's defaults).
    log : bool
        Log compression in dB.
    normalize : bool
        Per-utterance, per-band mean/variance normalisation over valid frames.

    ``forward(waveform, lengths=None)``; ``lengths`` ``(N,)`` in samples for a
    right-padded batch (frames past the end are zeroed after normalisation).

    >>> MelSpectrogram(16000, n_mels=40, log=True)(torch.zeros(3, 8000)).shape
    torch.Size([3, 40, 51])
    """

    def __init__(self, sample_rate: int = 16_000, win_ms: float = 20.0, hop_ms: float = 10.0, *,
                 win_length: int | None = None, hop_length: int | None = None, n_fft: int | None = None,
                 n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None, htk: bool = False,
                 norm: str | None = "slaney", power: float = 2.0, center: bool = True,
                 pad_mode: str = "constant", log: bool = False, amin: float = 1e-10,
                 normalize: bool = False) -> None:
        super().__init__()
        self.stft = Spectrogram(sample_rate, win_ms, hop_ms, win_length=win_length, hop_length=hop_length,
                                n_fft=n_fft, power=power, center=center, pad_mode=pad_mode)
        fb = mel_filters(sample_rate, self.stft.n_fft, n_mels, fmin, fmax, htk, norm)
        self.register_buffer("filters", torch.as_tensor(fb, dtype=torch.float64), persistent=False)
        self.n_mels, self.log, self.amin, self.normalize = int(n_mels), bool(log), float(amin), bool(normalize)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.stft.frame_lengths(lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        spec = self.stft(waveform)
        mel = torch.matmul(self.filters.to(spec.dtype), spec)
        if self.log:
            scale = 20.0 / self.stft.power  # dB of the magnitude: 10 log10 for power, 20 log10 for magnitude
            mel = scale * torch.log10(torch.clamp(mel, min=self.amin))
        if self.normalize:
            squeeze = mel.ndim == 2
            batch = mel[None] if squeeze else mel
            frames = None if lengths is None else self.frame_lengths(torch.as_tensor(lengths))
            batch = normalize_utterance(batch, frames)
            mel = batch[0] if squeeze else batch
        elif lengths is not None:
            frames = self.frame_lengths(torch.as_tensor(lengths, device=mel.device))
            mask = torch.arange(mel.shape[-1], device=mel.device)[None] < frames[:, None]
            mel = mel * mask[:, None].to(mel.dtype)
        return mel


@register("encoder", "audio_cnn")
class AudioCNN(nn.Module):
    """CNN over spectrogram images ``(N, 1, F, T)``: ``[conv 3x3 -> BN -> act ->
    max-pool 2x2] x len(channels)`` -> global average pooling -> optional linear.

    The 2-D spectrogram CNN of AV-MNIST baselines (Vielzeuf et al., "CentralNet",
    ECCV Workshops 2018; Liang et al., MultiBench, NeurIPS 2021).

    Parameters
    ----------
    in_features : int
        Flattened ``F*T`` (set by the builder).
    image_size : int or (F, T), optional
        Defaults to the square implied by ``in_features`` (112 x 112 for AV-MNIST).
    channels : sequence of int
    out_features : int, optional

    >>> AudioCNN(112 * 112, channels=(8, 16))(torch.zeros(2, 1, 112, 112)).shape
    torch.Size([2, 16])
    """

    def __init__(self, in_features: int | None = None, image_size: int | Sequence[int] | None = None,
                 channels: Sequence[int] = (16, 32, 64), out_features: int | None = None,
                 activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        self.input = ImageInput(in_features, 1, image_size)
        layers: list[nn.Module] = []
        width = 1
        for size in channels:
            layers += [nn.Conv2d(width, int(size), 3, padding=1, bias=False), nn.BatchNorm2d(int(size)),
                       _activation(activation), nn.MaxPool2d(2)]
            width = int(size)
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(width, out_features) if out_features is not None else None
        self.in_features = self.input.in_features
        self.out_features = out_features if out_features is not None else width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.dropout(self.features(self.input(x)).mean(dim=(2, 3)))
        return self.fc(z) if self.fc is not None else z


@register("encoder", "spectrogram_rnn")
class SpectrogramSequenceEncoder(nn.Module):
    """A spectrogram image ``(N, 1, F, T)`` read as a sequence of ``T`` frames of
    ``F`` bands by a recurrent encoder (:class:`~polymodal.encoders.sequence.SequenceEncoder`).

    >>> SpectrogramSequenceEncoder(40 * 50, image_size=(40, 50), hidden=8)(torch.zeros(2, 40, 50)).shape
    torch.Size([2, 8])
    """

    def __init__(self, in_features: int | None = None, image_size: int | Sequence[int] | None = None,
                 hidden: int = 64, cell: str = "gru", num_layers: int = 1, bidirectional: bool = False,
                 output: str = "last") -> None:
        super().__init__()
        from polymodal.encoders.sequence import SequenceEncoder

        self.input = ImageInput(in_features, 1, image_size)
        self.rnn = SequenceEncoder(self.input.image_size[0], hidden=hidden, cell=cell, num_layers=num_layers,
                                   bidirectional=bidirectional, output=output)
        self.in_features = self.input.in_features
        self.out_features = self.rnn.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.input(x)[:, 0].transpose(1, 2))


class ProbabilityEnsemble(nn.Module):
    """Ensemble of ``K`` classifiers averaged in probability, as one classifier that returns log-probabilities.

    ``log p(y | x) = log((1/K) sum_k softmax(z_k(x))_y) = logsumexp_k log_softmax(z_k(x))_y - log K``:
    the mixture of the members' predictive distributions of deep ensembles (Lakshminarayanan, Pritzel &
    Blundell, "Simple and scalable predictive uncertainty estimation using deep ensembles", NeurIPS 2017).
    The output stands where logits did: its softmax is the mean probability, its argmax the ensemble's
    prediction, and a temperature can still be fitted on it.

    Parameters
    ----------
    members : sequence of nn.Module
        Each returns logits ``(N, C)``, or a pair ``(features (N, D_k), logits (N, C))`` (an encoder with its
        classifier); all members return the same kind and the same ``C``.
    features : {"mean", "concat"}
        For pair-returning members: the ensemble's features are the mean of the members' features (all
        ``D_k`` equal; keeps the width ``D`` of one member) or their concatenation (width ``sum_k D_k``).

    ``forward(x)`` returns log-probabilities ``(N, C)``, or ``(features, log-probabilities)`` for
    pair-returning members.

    Examples
    --------
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> x = torch.randn(4, 3)
    >>> mean = (a(x).softmax(1) + b(x).softmax(1)) / 2
    >>> torch.allclose(ProbabilityEnsemble([a, b])(x).exp(), mean)
    True
    """

    def __init__(self, members: Sequence[nn.Module], features: str = "mean") -> None:
        super().__init__()
        if len(members) < 1:
            raise ConfigError("ProbabilityEnsemble needs at least one member")
        if features not in ("mean", "concat"):
            raise ConfigError(f"features must be 'mean' or 'concat', got {features!r}")
        self.members = nn.ModuleList(members)
        self.features = features

    def forward(self, x):
        outs = [m(x) for m in self.members]
        pairs = isinstance(outs[0], (tuple, list))
        if any(isinstance(o, (tuple, list)) != pairs for o in outs):
            raise ShapeError("ProbabilityEnsemble members must all return logits or all (features, logits)")
        logits = [o[1] for o in outs] if pairs else outs
        if any(z.ndim != 2 or z.shape != logits[0].shape for z in logits):
            raise ShapeError(f"members' logits must share one shape (N, C), got {[tuple(z.shape) for z in logits]}")
        logp = torch.logsumexp(torch.stack([torch.log_softmax(z, 1) for z in logits]), 0) - np.log(len(logits))
        if not pairs:
            return logp
        feats = [o[0] for o in outs]
        if self.features == "concat":
            return torch.cat(feats, 1), logp
        if any(h.shape != feats[0].shape for h in feats):
            raise ShapeError(f"features='mean' needs members' features of one shape, got "
                             f"{[tuple(h.shape) for h in feats]}")
        return torch.stack(feats).mean(0), logp
