"""Feature cache (`polymodal extract`): cached features equal the frozen encoder's output;
re-extraction is skipped when nothing changed and redone when the encoder, its
preprocessing or the data change; a training config names the cache as its dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

tf = pytest.importorskip("transformers")

from polymodal.cli import main  # noqa: E402
from polymodal.data import load_dataset  # noqa: E402
from polymodal.errors import DatasetError  # noqa: E402
from polymodal.training import fit  # noqa: E402
from polymodal.training.feature_cache import extract_features  # noqa: E402
from polymodal.core.registry import build  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "a the cat dog sat on mat".split()


def _bert(folder, seed):
    torch.manual_seed(seed)
    tf.BertModel(tf.BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=16)).save_pretrained(folder)
    tf.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def setup(tmp_path):
    bert = _bert(tmp_path / "bert", 0)
    enc = build("encoder", {"name": "hf_text", "model": bert, "max_length": 8})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    texts = [f"{rng.choice(['a', 'the'])} {['cat', 'dog'][label]} sat on {rng.choice(['a', 'the'])} mat" for label in y]
    np.savez(tmp_path / "d.npz", text=enc.preprocess(texts), noise=rng.normal(size=(120, 3)).astype(np.float32),
             target=y)
    config = {"name": "feat", "output_dir": str(tmp_path / "runs"),
              "data": {"name": "npz", "options": {"path": str(tmp_path / "d.npz")}},
              "model": {"encoder": {"name": "identity"},
                        "encoders": {"text": {"name": "hf_text", "model": bert, "pooling": "mean", "max_length": 8}}}}
    return tmp_path, config, enc


def test_cache_holds_the_encoder_features_and_skips_when_unchanged(setup):
    tmp_path, config, _ = setup
    first = extract_features(config, tmp_path / "cache")
    assert sorted(first.extracted) == ["noise", "text"] and first.skipped == []
    source = load_dataset("npz", path=tmp_path / "d.npz")
    enc = build("encoder", config["model"]["encoders"]["text"])
    with torch.no_grad():
        expected = enc(torch.as_tensor(source.modalities["text"])).numpy()
    cached = load_dataset("feature_cache", path=tmp_path / "cache")
    assert isinstance(cached.modalities["text"], np.memmap)
    np.testing.assert_allclose(cached.modalities["text"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cached.modalities["noise"], source.modalities["noise"])
    np.testing.assert_array_equal(cached.target, source.target)
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    info = manifest["modalities"]["text"]
    assert info["name"] == config["model"]["encoders"]["text"]["model"] and info["shape"] == [32]
    assert {"revision", "weights_hash", "preprocessing_hash", "key"} <= set(info)
    mtime = (tmp_path / "cache" / "text.npy").stat().st_mtime_ns
    again = extract_features(config, tmp_path / "cache")
    assert again.extracted == [] and sorted(again.skipped) == ["noise", "text"]
    assert (tmp_path / "cache" / "text.npy").stat().st_mtime_ns == mtime


def test_changed_encoder_preprocessing_or_data_invalidates_only_what_changed(setup):
    tmp_path, config, enc = setup
    extract_features(config, tmp_path / "cache")
    # another encoder: same name pattern, different weights
    config["model"]["encoders"]["text"]["model"] = _bert(tmp_path / "bert2", 1)
    assert extract_features(config, tmp_path / "cache").extracted == ["text"]
    # changed preprocessing: the tokenizer's length
    config["model"]["encoders"]["text"]["max_length"] = 9
    assert extract_features(config, tmp_path / "cache").extracted == ["text"]
    # changed preprocessing on disk: the saved tokenizer now keeps case
    tf.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}, do_lower_case=False).save_pretrained(tmp_path / "bert2")
    assert extract_features(config, tmp_path / "cache").extracted == ["text"]
    # changed data: both modalities' keys include the data's content hash
    with np.load(tmp_path / "d.npz") as z:
        arrays = dict(z)
    arrays["noise"][0, 0] += 1
    np.savez(tmp_path / "d.npz", **arrays)
    assert sorted(extract_features(config, tmp_path / "cache").extracted) == ["noise", "text"]
    assert extract_features(config, tmp_path / "cache").extracted == []


def test_training_config_names_the_cache_and_learns(setup):
    tmp_path, config, _ = setup
    extract_features(config, tmp_path / "cache")
    result = fit({"name": "on-cache", "output_dir": str(tmp_path / "runs"),
                  "data": {"name": "feature_cache", "options": {"path": str(tmp_path / "cache")}, "batch_size": 32},
                  "model": {"encoder": {"name": "identity"}, "head": {"name": "mlp", "hidden": [16]}},
                  "optim": {"lr": 0.01}, "trainer": {"max_epochs": 25, "patience": None, "progress": False}})
    assert result.test_metrics["accuracy"] >= 0.95  # cat/dog from frozen random-BERT features; noise at chance
    with pytest.raises(DatasetError, match="is not a feature cache .*polymodal extract"):
        load_dataset("feature_cache", path=tmp_path)


def test_cli_extract_then_up_to_date(setup, capsys):
    tmp_path, config, _ = setup
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    assert main(["extract", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "c")]) == 0
    assert "extracted" in capsys.readouterr().out
    assert main(["extract", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "c")]) == 0
    assert "up to date (same encoder, preprocessing and data): text, noise" in capsys.readouterr().out
    assert main(["extract", str(tmp_path / "exp.yaml"), "model.encoders.text.model=./absent",
                 "--out", str(tmp_path / "c")]) == 2
    assert "error: config key 'model.encoders.text'" in capsys.readouterr().err
