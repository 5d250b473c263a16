"""Per-batch speech augmentation on prepared waveforms (torch), drawn afresh every epoch.

Applied to the 1 s windows of :func:`polymodal.encoders.speech.prepare_speech`
(the word centred in zeros), in this order, each with its own probability:

* speed perturbation (Ko, Peddinti, Povey & Khudanpur, Interspeech 2015):
  resampling by a factor in ``speed`` (pitch, formants and tempo move together,
  i.e. also a vocal-tract-length change), by linear interpolation (aliasing
  lands above the 5 kHz feature band for factors within 0.8-1.25);
* time shift within the window;
* room reverberation: convolution with a synthetic impulse response,
  exponentially decaying Gaussian noise with RT60 in ``rt60`` (a direct path
  plus diffuse tail, a simplification of image-source RIRs);
* gain and clipping: scaled so the peak is ``10^(g/20)`` times full scale,
  ``g`` in ``clip_db``, then clipped to [-1, 1];
* additive white/pink/brown noise at an SNR drawn from ``snr_db`` over the
  word and a random margin around it (matching ``prepare_speech``, which keeps
  the noise only around the detected word); with probability ``p_clean``
  no noise at all.

:meth:`SpeechAugment.features` adds, on the log-mel image, a frequency warp
(vocal-tract-length perturbation, Jaitly & Hinton, ICML Workshops 2013: either
:func:`vtlp_warp`, the paper's piecewise-linear warp of the frequency axis, or
:func:`warp_mel`, a simplified scaling of the mel-row index) and SpecAugment
time and frequency masks (Park et al., Interspeech 2019).
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from polymodal.data.audio import _hz_to_mel, _mel_to_hz
from polymodal.encoders.speech import FMAX, SR, SpeechFeatures
from polymodal.errors import ConfigError, ShapeError

__all__ = ["SpeechAugment", "colored_noise_torch", "warp_mel", "vtlp_warp", "vtlp_frequency"]

VTLP_BOUNDARY = 4800.0  # F_hi of Jaitly & Hinton (2013), in Hz
WARP_METHODS = ("mel", "vtlp")


def colored_noise_torch(n: int, length: int, color: torch.Tensor, generator: torch.Generator | None = None
                        ) -> torch.Tensor:
    """Unit-variance noise ``(n, length)``; ``color[i]`` = 0 white, 1 pink (1/f power), 2 brown (1/f^2)."""
    white = torch.randn(n, length, generator=generator)
    spec = torch.fft.rfft(white, dim=1)
    f = torch.arange(spec.shape[1], dtype=torch.float32).clamp(min=1.0)
    spec = spec / f[None] ** (0.5 * color.float()[:, None])
    x = torch.fft.irfft(spec, length, dim=1)
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.std(dim=1, keepdim=True).clamp(min=1e-12)


class SpeechAugment(nn.Module):
    """Random augmentation of prepared waveforms ``(N, 16000)``; see the module docstring.

    Parameters
    ----------
    speed : (low, high) resampling factors; ``p_speed`` its probability.
    shift_s : maximal time shift in seconds.
    rt60 : (low, high) reverberation times in seconds; ``p_reverb``.
    clip_db : (low, high) overdrive in dB above full scale; ``p_clip``.
    snr_db : (low, high) SNR of the added noise; ``p_clean`` the probability of no noise.
    freq_masks, freq_width, time_masks, time_width : SpecAugment masks (count, maximal width).
    warp : (low, high) frequency-warp factors; ``p_warp``.
    warp_method : ``"mel"`` (:func:`warp_mel`, the default) or ``"vtlp"`` (:func:`vtlp_warp`, the paper's
        piecewise-linear warp in Hz with boundary ``vtlp_boundary``).
    """

    def __init__(self, speed=(0.88, 1.12), p_speed=0.8, shift_s=0.08, rt60=(0.1, 0.7), p_reverb=0.3,
                 clip_db=(3.0, 20.0), p_clip=0.15, snr_db=(-5.0, 35.0), p_clean=0.25, freq_masks=2, freq_width=5,
                 time_masks=2, time_width=8, warp=(0.9, 1.1), p_warp=0.5, warp_method="mel",
                 vtlp_boundary=VTLP_BOUNDARY) -> None:
        super().__init__()
        for name, value in (("p_speed", p_speed), ("p_reverb", p_reverb), ("p_clip", p_clip),
                            ("p_clean", p_clean), ("p_warp", p_warp)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {value}")
        if not 0.5 < speed[0] <= speed[1] < 2.0:
            raise ConfigError(f"speed factors must satisfy 0.5 < low <= high < 2, got {speed}")
        self.speed, self.p_speed, self.shift = speed, p_speed, int(shift_s * SR)
        self.rt60, self.p_reverb, self.clip_db, self.p_clip = rt60, p_reverb, clip_db, p_clip
        self.snr_db, self.p_clean = snr_db, p_clean
        self.freq_masks, self.freq_width, self.time_masks, self.time_width = freq_masks, freq_width, time_masks, \
            time_width
        if warp_method not in WARP_METHODS:
            raise ConfigError(f"warp_method must be one of {WARP_METHODS}, got {warp_method!r}")
        if not 0.0 < warp[0] <= warp[1]:
            raise ConfigError(f"warp factors must satisfy 0 < low <= high, got {warp}")
        self.warp, self.p_warp, self.warp_method, self.vtlp_boundary = warp, p_warp, warp_method, float(vtlp_boundary)
        self.front = SpeechFeatures()

    @staticmethod
    def _uniform(n, bounds, g):
        return bounds[0] + (bounds[1] - bounds[0]) * torch.rand(n, generator=g)

    def forward(self, waveform: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if waveform.ndim != 2:
            raise ShapeError(f"SpeechAugment expects waveforms (N, L), got {tuple(waveform.shape)}")
        g = generator
        x = waveform.float().clone()
        n, length = x.shape
        # speed perturbation (per sample), then re-centre in the window
        factors = torch.where(torch.rand(n, generator=g) < self.p_speed, self._uniform(n, self.speed, g),
                              torch.ones(n))
        for i in torch.nonzero(factors != 1.0).flatten().tolist():
            new = max(16, int(round(length / float(factors[i]))))
            y = F.interpolate(x[i][None, None], size=new, mode="linear", align_corners=False)[0, 0]
            out = torch.zeros(length)
            if new >= length:
                a = (new - length) // 2
                out = y[a:a + length]
            else:
                a = (length - new) // 2
                out[a:a + new] = y
            x[i] = out
        if self.shift > 0:
            shifts = torch.randint(-self.shift, self.shift + 1, (n,), generator=g)
            idx = (torch.arange(length)[None] - shifts[:, None]) % length
            x = torch.gather(x, 1, idx)
        support = x.abs() > 0
        # reverberation
        rev = torch.rand(n, generator=g) < self.p_reverb
        if rev.any():
            k = int(rev.sum())
            rt = self._uniform(k, self.rt60, g)
            ir_len = int(self.rt60[1] * SR)
            t = torch.arange(ir_len, dtype=torch.float32) / SR
            ir = torch.randn(k, ir_len, generator=g) * torch.exp(-6.9078 * t[None] / rt[:, None]) * 0.3
            ir[:, 0] = 1.0
            size = 1 << (length + ir_len - 1).bit_length()
            wet = torch.fft.irfft(torch.fft.rfft(x[rev], size) * torch.fft.rfft(ir, size), size)[:, :length]
            scale = (x[rev].pow(2).mean(1) / wet.pow(2).mean(1).clamp(min=1e-20)).sqrt()
            x[rev] = wet * scale[:, None]
        # gain and clipping
        clip = torch.rand(n, generator=g) < self.p_clip
        if clip.any():
            gain = 10.0 ** (self._uniform(int(clip.sum()), self.clip_db, g) / 20.0)
            peak = x[clip].abs().amax(1).clamp(min=1e-12)
            x[clip] = torch.clamp(x[clip] / peak[:, None] * gain[:, None], -1.0, 1.0)
        # additive noise over the word and a random margin
        noisy = torch.rand(n, generator=g) >= self.p_clean
        if noisy.any():
            k = int(noisy.sum())
            margin = torch.randint(0, int(0.12 * SR), (k,), generator=g)
            sup = support[noisy].float()
            first = torch.argmax(sup, dim=1) - margin
            last = length - 1 - torch.argmax(sup.flip(1), dim=1) + margin
            pos = torch.arange(length)[None]
            region = ((pos >= first[:, None]) & (pos <= last[:, None])).float()
            power = (x[noisy].pow(2) * sup).sum(1) / sup.sum(1).clamp(min=1.0)
            snr = self._uniform(k, self.snr_db, g)
            color = torch.randint(0, 3, (k,), generator=g)
            noise = colored_noise_torch(k, length, color, g) * region
            x[noisy] = x[noisy] + noise * (power / 10.0 ** (snr / 10.0)).sqrt()[:, None]
        return x

    def spec_augment(self, feats: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frequency warp and SpecAugment masks on log-mel images ``(N, M, T)`` (cheap: run it every epoch
        on pre-rendered waveform augmentations)."""
        n, m, t = feats.shape
        warp = torch.where(torch.rand(n, generator=generator) < self.p_warp,
                           self._uniform(n, self.warp, generator), torch.ones(n))
        feats = warp_mel(feats, warp) if self.warp_method == "mel" else vtlp_warp(feats, warp, self.vtlp_boundary)
        pos_f, pos_t = torch.arange(m)[None], torch.arange(t)[None]
        keep = torch.ones_like(feats, dtype=torch.bool)
        for _ in range(self.freq_masks):
            w = torch.randint(0, self.freq_width + 1, (n, 1), generator=generator)
            a = (torch.rand(n, 1, generator=generator) * (m - w + 1)).floor().long()
            keep &= ~((pos_f >= a) & (pos_f < a + w))[:, :, None]
        for _ in range(self.time_masks):
            w = torch.randint(0, self.time_width + 1, (n, 1), generator=generator)
            a = (torch.rand(n, 1, generator=generator) * (t - w + 1)).floor().long()
            keep &= ~((pos_t >= a) & (pos_t < a + w))[:, None, :]
        return feats * keep

    def features(self, waveform: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augmented waveforms -> warped, masked log-mel images ``(N, 40, 101)``."""
        return self.spec_augment(self.front(self.forward(waveform, generator)), generator)


def _interpolate_rows(feats: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """Rows of ``feats`` ``(N, M, T)`` at fractional positions ``src`` ``(N, M)`` (linear, clamped to the edges)."""
    n, m, t = feats.shape
    src = torch.clamp(src.to(feats.dtype), 0, m - 1)
    lo = src.floor().long()
    hi = torch.clamp(lo + 1, max=m - 1)
    frac = (src - lo.to(feats.dtype))[..., None]

    def gather(idx):
        return torch.gather(feats, 1, idx[..., None].expand(-1, -1, t))

    return gather(lo) * (1 - frac) + gather(hi) * frac


def vtlp_frequency(f, alpha, boundary: float = VTLP_BOUNDARY, sample_rate: int = SR) -> torch.Tensor:
    """The VTLP frequency warp of Jaitly & Hinton (ICML Workshops 2013, eq. 1), ``f -> f'`` in Hz.

    With ``S`` the sample rate and ``F_hi`` the boundary frequency (4800 Hz in the paper),
    ``f' = f alpha`` for ``f <= F_hi min(alpha, 1) / alpha``, otherwise
    ``f' = S/2 - (S/2 - F_hi min(alpha, 1)) / (S/2 - F_hi min(alpha, 1) / alpha) (S/2 - f)``:
    piecewise linear, continuous, increasing, ``0 -> 0`` and ``S/2 -> S/2``.
    ``f`` and ``alpha`` broadcast against each other.

    Examples
    --------
    >>> [round(v, 6) for v in vtlp_frequency([1000.0, 6000.0, 8000.0], 1.1).tolist()]
    [1100.0, 6240.0, 8000.0]
    """
    f, alpha = torch.as_tensor(f, dtype=torch.float64), torch.as_tensor(alpha, dtype=torch.float64)
    nyquist, knee = sample_rate / 2.0, boundary * torch.clamp(alpha, max=1.0)
    upper = nyquist - (nyquist - knee) / (nyquist - knee / alpha) * (nyquist - f)
    return torch.where(f <= knee / alpha, f * alpha, upper)


def _vtlp_inverse(g: torch.Tensor, alpha: torch.Tensor, boundary: float, sample_rate: int) -> torch.Tensor:
    nyquist, knee = sample_rate / 2.0, boundary * torch.clamp(alpha, max=1.0)
    lower = nyquist - (nyquist - g) * (nyquist - knee / alpha) / (nyquist - knee)
    return torch.where(g <= knee, g / alpha, lower)


def vtlp_warp(feats: torch.Tensor, alpha: torch.Tensor, boundary: float = VTLP_BOUNDARY, *,
              sample_rate: int = SR, fmax: float = FMAX) -> torch.Tensor:
    """Vocal-tract-length perturbation of log-mel images ``(N, M, T)`` (Jaitly & Hinton, ICML Workshops 2013).

    Energy at frequency ``f`` moves to ``f' = `` :func:`vtlp_frequency` ``(f, alpha[i])`` (the paper's
    piecewise-linear warp with boundary ``F_hi`` = ``boundary``): output row ``m``, whose Slaney-mel band
    centre is ``c_m`` (``M`` bands over 0 - ``fmax`` Hz, as :func:`~polymodal.data.audio.log_mel_image`),
    reads the input at the fractional row of ``warp^{-1}(c_m)``, linearly interpolated between rows;
    frequencies beyond the outermost centres read the edge row. The paper warps the filter-bank centres
    when the features are computed; warping the finished image instead is a cheap approximation (it
    needs no new STFT, so it runs every epoch on pre-rendered features). ``alpha`` ``(N,)``: warp
    factors (paper: uniform in [0.9, 1.1]); ``alpha = 1`` is the identity.

    Examples
    --------
    >>> x = torch.rand(2, 40, 5)
    >>> torch.allclose(vtlp_warp(x, torch.ones(2)), x)
    True
    """
    if feats.ndim != 3:
        raise ShapeError(f"vtlp_warp expects log-mel images (N, M, T), got {tuple(feats.shape)}")
    alpha = torch.as_tensor(alpha, dtype=torch.float64).reshape(-1)
    if alpha.shape[0] != feats.shape[0]:
        raise ShapeError(f"vtlp_warp needs one factor per image: {alpha.shape[0]} factors, {feats.shape[0]} images")
    if bool((alpha <= 0).any()):
        raise ConfigError(f"VTLP warp factors must be positive, got min {float(alpha.min())}")
    n, m, _ = feats.shape
    mel_step = float(_hz_to_mel(fmax)) / (m + 1)
    centres = torch.as_tensor(_mel_to_hz(mel_step * np.arange(1, m + 1)), dtype=torch.float64)
    source_hz = _vtlp_inverse(centres[None], alpha[:, None], boundary, sample_rate)
    rows = torch.as_tensor(_hz_to_mel(source_hz.numpy()), dtype=torch.float64) / mel_step - 1.0
    return _interpolate_rows(feats, rows)


def warp_mel(feats: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
    """Scale the frequency axis of mel images ``(N, M, T)``: row ``m`` reads row ``m / warp[i]``
    (linear interpolation, edge rows repeated) -- vocal-tract-length perturbation on the mel axis, a
    simplification of Jaitly & Hinton (ICML Workshops 2013), which warps the linear frequency axis
    (:func:`vtlp_warp`)."""
    m = feats.shape[1]
    rows = torch.arange(m, dtype=feats.dtype)
    return _interpolate_rows(feats, rows[None] / warp.to(feats.dtype)[:, None])
