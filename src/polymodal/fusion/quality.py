"""Signal-quality measures computed from a modality's raw input, for stream-reliability weighting.

Audio-visual speech recognition weighs each stream by a reliability measure of
its input (e.g. the audio SNR), not only by the classifier's output, which can
be confidently wrong on a corrupted input (Potamianos, Neti, Gravier, Garg &
Senior, "Recent advances in the automatic recognition of audiovisual speech",
Proc. IEEE 2003, Sec. V). These measures are the ``quality`` input of
:class:`~polymodal.fusion.robust.GatedExpertFusion`.

* :func:`estimate_noise_sigma`: the standard deviation of additive white
  Gaussian noise in an image from the median absolute deviation of its
  finest-scale diagonal wavelet coefficients (Donoho & Johnstone, "Ideal
  spatial adaptation by wavelet shrinkage", Biometrika 1994):
  ``sigma = median(|HH_1|) / 0.6745``, with the orthonormal Haar wavelet.
* :func:`spectrogram_snr`: a percentile estimate of the SNR of a log-power
  spectrogram, ``SNR = P_high(e_t) - P_low(e_t)`` (dB) over the frame energies
  ``e_t`` of its sounding frames: loud frames carry speech plus noise, quiet
  ones the noise alone (the idea of NIST's STNR / WADA-free percentile
  estimators; a simplification).
* :class:`MahalanobisScore`: an out-of-distribution score of an encoder's
  features, the Mahalanobis confidence score of Lee, Lee, Lee & Shin ("A simple
  unified framework for detecting out-of-distribution samples and adversarial
  attacks", NeurIPS 2018): class-conditional Gaussians with a shared covariance
  fitted on in-distribution training features, ``M(x) = max_c -(f(x) - mu_c)^T
  Sigma^{-1} (f(x) - mu_c)``. Unlike the input measures above it tells a clean
  input the encoder never learned (speech in another language) from a familiar one.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import pinvh
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from polymodal.core.contract import checked_data
from polymodal.errors import ConfigError, ShapeError

__all__ = ["estimate_noise_sigma", "spectrogram_snr", "MahalanobisScore"]

MAD_TO_SIGMA = 0.6744897501960817  # Phi^{-1}(3/4): median |z| of a standard normal z


def _check_finite(x: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(x.reshape(len(x), -1)).all(dim=1)
    if bad.any():
        raise ShapeError(f"{name} hold NaN or inf in sample(s) {torch.nonzero(bad)[:5, 0].tolist()}")


def estimate_noise_sigma(images) -> torch.Tensor:
    """Donoho's MAD estimate of the additive Gaussian noise level of each image.

    The finest diagonal detail of the orthonormal 2-D Haar transform of
    non-overlapping 2 x 2 blocks ``[[a, b], [c, d]]`` is ``HH = (a - b - c + d) / 2``;
    for i.i.d. noise ``N(0, sigma^2)`` it is ``N(0, sigma^2)`` and nearly free of
    smooth image content, so ``sigma = median(|HH|) / 0.6745`` (Donoho &
    Johnstone, Biometrika 1994, Sec. 4.2). An odd last row/column is dropped.
    scikit-image's ``estimate_sigma`` applies the same rule to the ``db2`` wavelet and leaves
    out coefficients that are exactly 0; here they count (the flat background of a clean image
    then pulls its estimate towards 0, which is what a reliability measure wants).

    Parameters
    ----------
    images : tensor or array ``(N, H, W)`` or ``(N, C, H, W)`` (channels pooled), ``H, W >= 2``.

    Returns
    -------
    float32 tensor ``(N,)``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> noise = 0.3 * torch.randn(2, 256, 256, generator=g)
    >>> [round(v, 2) for v in estimate_noise_sigma(noise).tolist()]
    [0.3, 0.3]
    """
    x = torch.as_tensor(images)
    if x.ndim not in (3, 4) or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ShapeError(f"estimate_noise_sigma expects images (N, H, W) or (N, C, H, W) with H, W >= 2, "
                         f"got {tuple(x.shape)}")
    x = x.to(torch.float64) if not x.is_floating_point() else x
    _check_finite(x, "images")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    hh = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2.0
    return (torch.quantile(hh.abs().reshape(len(x), -1), 0.5, dim=1) / MAD_TO_SIGMA).float()  # mid-point median


def spectrogram_snr(db, low: float = 10.0, high: float = 90.0, floor_db: float | None = None) -> torch.Tensor:
    """Percentile SNR estimate (dB) of log-power spectrograms ``db`` ``(N, F, T)`` in decibels.

    Frame energy ``e_t = 10 log10(mean_f 10^(db[f, t] / 10))``; frames at the floor in every band
    (``db <= floor_db``, e.g. the zero padding around a prepared word) are left out; the estimate is
    ``percentile_high(e_t) - percentile_low(e_t)`` over the rest (0 when fewer than two frames sound).
    Default ``floor_db``: each spectrogram's minimum.

    Examples
    --------
    >>> frames = torch.tensor([[[-60.0, -40.0, -40.0, 0.0, 0.0, -60.0]]])  # 1 band; outer frames: padding
    >>> round(float(spectrogram_snr(frames, low=0, high=100)), 3)
    40.0
    """
    x = torch.as_tensor(db, dtype=torch.float64)
    if x.ndim != 3:
        raise ShapeError(f"spectrogram_snr expects log-power spectrograms (N, F, T) in dB, got {tuple(x.shape)}")
    if not 0.0 <= low < high <= 100.0:
        raise ConfigError(f"need 0 <= low < high <= 100, got low={low}, high={high}")
    _check_finite(x, "db")
    floor = x.amin(dim=(1, 2), keepdim=True) if floor_db is None else torch.full_like(x[:, :1, :1], floor_db)
    energy = 10.0 * torch.log10((10.0 ** (x / 10.0)).mean(dim=1))  # (N, T)
    sounding = (x > floor).any(dim=1)
    out = torch.zeros(len(x), dtype=torch.float32)
    for i in range(len(x)):
        e = energy[i][sounding[i]].numpy()
        if len(e) >= 2:
            out[i] = float(np.percentile(e, high) - np.percentile(e, low))
    return out


class MahalanobisScore(BaseEstimator):
    """Mahalanobis confidence score of features: class-conditional Gaussians with a shared covariance.

    Lee, Lee, Lee & Shin, "A simple unified framework for detecting out-of-distribution samples
    and adversarial attacks", NeurIPS 2018, Eq. (1)-(2), on one feature layer, without their input
    pre-processing and layer ensemble (a simplified variant). ``fit(X, y)`` on in-distribution
    (training) features ``X`` ``(N, D)`` with class labels ``y`` ``(N,)``:

    ``mu_c = mean_{i: y_i = c} x_i``,  ``Sigma = 1/N sum_c sum_{i: y_i = c} (x_i - mu_c)(x_i - mu_c)^T``,

    ``precision_ = Sigma^+`` (pseudo-inverse, as the paper's code through scikit-learn's
    ``EmpiricalCovariance``). Then ``mahalanobis(X)`` ``(N, C)`` is the squared distance
    ``d_c(x) = (x - mu_c)^T Sigma^+ (x - mu_c)`` to every class and ``score_samples(X)`` ``(N,)``
    the confidence ``M(x) = max_c -d_c(x)`` (higher = more in-distribution; threshold it, or feed
    ``log(-M(x))`` to a fusion gate as a reliability measure).

    ``relative=True``: the relative Mahalanobis distance of Ren, Fort, Liu, Roy, Padhy &
    Lakshminarayanan ("A simple fix to Mahalanobis distance for improving near-OOD detection",
    arXiv:2106.09022, 2021, Eq. 4): a class-agnostic background Gaussian ``N(mu_0, Sigma_0)`` is
    fitted on all of ``X`` too and ``score_samples`` is ``-min_c (d_c(x) - d_0(x))``, which cancels
    the part of the distance that every class shares (a shift of the whole domain).

    Parameters
    ----------
    relative : bool, default False
        Score with the relative distance (above); ``mahalanobis`` always returns the plain ``d_c``.

    Attributes
    ----------
    classes_ : (C,) the labels seen in fit.
    means_ : (C, D) class means.
    covariance_ : (D, D) shared within-class covariance; precision_ : (D, D) its pseudo-inverse.
    background_mean_, background_precision_ : (D,), (D, D) with ``relative=True``: mean and
    pseudo-inverse covariance (1/N) of all of ``X``.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [1.0, -1.0], [10, 0], [12, 0], [11, 1], [11, -1]])
    >>> est = MahalanobisScore().fit(X, [0, 0, 0, 0, 1, 1, 1, 1])
    >>> est.means_.tolist(), est.covariance_.tolist()
    ([[1.0, 0.0], [11.0, 0.0]], [[0.5, 0.0], [0.0, 0.5]])
    >>> est.score_samples(np.array([[1.0, 0.0], [6.0, 0.0]])).tolist()  # 0, then -(5^2 / 0.5)
    [-0.0, -50.0]
    """

    def __init__(self, relative: bool = False) -> None:
        self.relative = relative

    def fit(self, X, y) -> "MahalanobisScore":
        X, y = checked_data(self, X, y, dtype=np.float64, y_numeric=False)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n, k = len(X), len(self.classes_)
        if n <= k:
            raise ShapeError(f"MahalanobisScore needs more samples than classes to estimate a covariance, got "
                             f"{n} sample(s) in {k} class(es)")
        self.means_ = np.zeros((k, X.shape[1]))
        np.add.at(self.means_, codes, X)
        self.means_ /= np.bincount(codes, minlength=k)[:, None]
        centred = X - self.means_[codes]
        self.covariance_ = centred.T @ centred / n
        self.precision_ = pinvh(self.covariance_)
        if self.relative:
            self.background_mean_ = X.mean(axis=0)
            whole = X - self.background_mean_
            self.background_precision_ = pinvh(whole.T @ whole / n)
        return self

    def mahalanobis(self, X) -> np.ndarray:
        """Squared Mahalanobis distances ``(N, C)`` of ``X`` ``(N, D)`` to every class mean."""
        check_is_fitted(self)
        X = checked_data(self, X, dtype=np.float64, reset=False)
        diff = X[:, None, :] - self.means_[None]  # (N, C, D)
        return np.maximum(np.einsum("ncd,de,nce->nc", diff, self.precision_, diff), 0.0)

    def score_samples(self, X) -> np.ndarray:
        """The confidence score ``M(x) = max_c -d_c(x)`` ``(N,)`` (Lee et al. 2018, Eq. 2); with
        ``relative=True`` ``max_c -(d_c(x) - d_0(x))`` (Ren et al. 2021, Eq. 4)."""
        d = self.mahalanobis(X)
        if self.relative:
            X = np.asarray(X, dtype=np.float64) - self.background_mean_
            d = d - np.einsum("nd,de,ne->n", X, self.background_precision_, X)[:, None]
        return -d.min(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
