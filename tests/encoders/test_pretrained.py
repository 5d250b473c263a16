"""Pretrained Hugging Face encoders on tiny models built from configs and saved locally
(this machine cannot download weights): outputs equal transformers' own on the same
input, freezing, a YAML config that names one and learns, CLIP retrieval, offline errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

tf = pytest.importorskip("transformers")

from polymodal.encoders.pretrained import CLIPDualEncoder  # noqa: E402
from polymodal.errors import ConfigError, ShapeError  # noqa: E402
from polymodal.core.registry import build  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "a the cat dog sat on mat red blue photo of".split()
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    tok = tf.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    torch.manual_seed(0)
    bert = tf.BertModel(tf.BertConfig(vocab_size=len(WORDS), max_position_embeddings=32, **SMALL))
    bert.save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    vit = tf.ViTModel(tf.ViTConfig(image_size=32, patch_size=8, **SMALL))
    vit.save_pretrained(root / "vit")
    tf.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(root / "vit")
    w2v = tf.Wav2Vec2Model(tf.Wav2Vec2Config(conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
                                             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, **SMALL))
    w2v.save_pretrained(root / "w2v")
    tf.Wav2Vec2FeatureExtractor().save_pretrained(root / "w2v")
    clip = tf.CLIPModel(tf.CLIPConfig(
        text_config=dict(vocab_size=len(WORDS), max_position_embeddings=16, bos_token_id=2, eos_token_id=3,
                         pad_token_id=0, **SMALL),
        vision_config=dict(image_size=32, patch_size=8, **SMALL), projection_dim=16))
    clip.save_pretrained(root / "clip")
    tok.save_pretrained(root / "clip")
    tf.CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "clip")
    return {"root": root, "bert": bert.eval(), "vit": vit.eval(), "w2v": w2v.eval(), "clip": clip.eval()}


@pytest.mark.parametrize("pooling", ["cls", "mean", "pooler", "tokens"])
def test_text_encoder_equals_transformers_with_its_own_tokenizer(models, pooling):
    enc = build("encoder", {"name": "hf_text", "model": str(models["root"] / "bert"), "pooling": pooling,
                            "max_length": 12})
    ids = enc.preprocess(["a cat sat on the mat", "the red dog"])
    assert ids.shape == (2, 12) and ids[0, :8].tolist() == [2, 5, 7, 9, 10, 6, 11, 3]  # [CLS] ... [SEP]
    mask = torch.as_tensor(ids != 0)
    with torch.no_grad():
        ref = models["bert"](input_ids=torch.as_tensor(ids), attention_mask=mask.long())
        out = enc(torch.as_tensor(ids))
    h = ref.last_hidden_state
    expected = {"cls": h[:, 0], "pooler": ref.pooler_output, "tokens": h,
                "mean": (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)}[pooling]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert enc.out_features == 32


def test_vision_and_audio_encoders_equal_transformers(models):
    root = models["root"]
    vit = build("encoder", {"name": "hf_vision", "model": str(root / "vit")})
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    pixels = torch.as_tensor(vit.preprocess([image, image[::-1]]))
    assert pixels.shape == (2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit(pixels), models["vit"](pixel_values=pixels).last_hidden_state[:, 0])
        clip_tower = build("encoder", {"name": "hf_vision", "model": str(root / "clip"), "pooling": "pooler"})
        clip_pixels = torch.as_tensor(clip_tower.preprocess([image]))
        torch.testing.assert_close(clip_tower(clip_pixels),
                                   models["clip"].vision_model(pixel_values=clip_pixels).pooler_output)
    audio = build("encoder", {"name": "hf_audio", "model": str(root / "w2v")})
    wave = np.sin(np.linspace(0, 300, 1600)) * 3 + 1
    values = audio.preprocess([wave])
    np.testing.assert_allclose(values[0], (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(audio(torch.as_tensor(values)),
                                   models["w2v"](input_values=torch.as_tensor(values)).last_hidden_state.mean(1))
    with pytest.raises(ShapeError, match=r"hf_audio expects waveforms of shape \(N, samples\)"):
        audio(torch.zeros(2, 1, 100))


def test_frozen_stays_fixed_and_in_eval_fine_tuned_trains(models):
    path = str(models["root"] / "bert")
    frozen = build("encoder", {"name": "hf_text", "model": path, "max_length": 8})
    assert not any(p.requires_grad for p in frozen.parameters())
    frozen.train()
    assert not frozen.backbone.training  # dropout off: the features are a function of the input
    ids = torch.as_tensor(frozen.preprocess(["a cat", "the dog sat"]))
    torch.testing.assert_close(frozen(ids), frozen(ids))
    tuned = build("encoder", {"name": "hf_text", "model": path, "max_length": 8, "freeze": False})
    assert all(p.requires_grad for p in tuned.parameters()) and tuned.train().backbone.training
    before = tuned.backbone.embeddings.word_embeddings.weight.detach().clone()
    tuned(ids).pow(2).sum().backward()
    torch.optim.SGD(tuned.parameters(), lr=0.1).step()
    assert not torch.equal(before, tuned.backbone.embeddings.word_embeddings.weight)
    with pytest.raises(ShapeError, match="non-integer token ids.*data.standardize: false"):
        frozen(ids.float() * 0.5)


def test_yaml_config_names_pretrained_text_encoder_and_learns(models, tmp_path):
    from polymodal.training import fit

    enc = build("encoder", {"name": "hf_text", "model": str(models["root"] / "bert"), "max_length": 8})
    rng = np.random.default_rng(0)
    animals, y = ["cat", "dog"], rng.integers(0, 2, 160)
    texts = [f"{'a' if rng.random() < .5 else 'the'} {animals[label]} sat on {rng.choice(['a', 'the'])} mat"
             for label in y]
    np.savez(tmp_path / "text.npz", text=enc.preprocess(texts), noise=rng.normal(size=(160, 2)), target=y)
    (tmp_path / "exp.yaml").write_text(f"""
name: pretrained
output_dir: {tmp_path / 'runs'}
data: {{name: npz, options: {{path: {tmp_path / 'text.npz'}}}, standardize: false, batch_size: 32}}
model:
  encoder: {{name: identity}}
  encoders: {{text: {{name: hf_text, model: {models['root'] / 'bert'}, pooling: mean, max_length: 8}}}}
  fusion: {{name: concat}}
  head: {{name: mlp, hidden: [16]}}
optim: {{lr: 0.01}}
trainer: {{max_epochs: 25, patience: null, progress: false}}
""")
    from polymodal.training.config import load_config

    result = fit(load_config(tmp_path / "exp.yaml"))
    assert result.test_metrics["accuracy"] >= 0.95  # the word cat/dog decides; the noise view is at chance


def test_clip_towers_equal_clip_features_and_dual_encoder_learns_retrieval(models):
    from polymodal.metrics.retrieval import retrieval_recall_at_k

    clip, path = models["clip"], str(models["root"] / "clip")
    text = build("encoder", {"name": "clip_text", "model": path})
    image = build("encoder", {"name": "clip_vision", "model": path})
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(6)]
    captions = ["a red cat", "a blue dog", "the cat sat", "the dog sat", "a photo of a mat", "blue mat"]
    pixels, ids = torch.as_tensor(image.preprocess(images)), torch.as_tensor(text.preprocess(captions, max_length=8))
    with torch.no_grad():
        t_ref = clip.text_projection(clip.text_model(input_ids=ids, attention_mask=(ids != 0).long()).pooler_output)
        v_ref = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
        torch.testing.assert_close(text(ids), torch.nn.functional.normalize(t_ref, dim=-1))
        torch.testing.assert_close(image(pixels), torch.nn.functional.normalize(v_ref, dim=-1))
    dual = CLIPDualEncoder(path, freeze=False)
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(dual.parameters(), lr=3e-3)
    before = retrieval_recall_at_k(dual(pixels, ids).detach().numpy(), np.eye(6, dtype=bool), ks=(1,))
    for _ in range(40):
        optimiser.zero_grad()
        dual.loss(pixels, ids).backward()
        optimiser.step()
    after = retrieval_recall_at_k(dual(pixels, ids).detach().numpy(), np.eye(6, dtype=bool), ks=(1,))
    assert after.recall[1] == 100.0 and before.recall[1] < 100.0


def test_fingerprint_follows_weights_and_preprocessing(models, tmp_path):
    path = models["root"] / "bert"
    a = build("encoder", {"name": "hf_text", "model": str(path), "max_length": 8}).fingerprint()
    assert a == build("encoder", {"name": "hf_text", "model": str(path), "max_length": 8}).fingerprint()
    assert a["preprocessing_hash"] != build("encoder", {"name": "hf_text", "model": str(path),
                                                        "max_length": 9}).fingerprint()["preprocessing_hash"]
    torch.manual_seed(1)  # the fixture's BERT was drawn after manual_seed(0)
    other = tf.BertModel(tf.BertConfig(vocab_size=len(WORDS), max_position_embeddings=32, **SMALL))
    other.save_pretrained(tmp_path / "bert2")
    tf.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}).save_pretrained(tmp_path / "bert2")
    b = build("encoder", {"name": "hf_text", "model": str(tmp_path / "bert2"), "max_length": 8}).fingerprint()
    assert b["weights_hash"] != a["weights_hash"] and b["preprocessing_hash"] == a["preprocessing_hash"]


def test_absent_hub_name_offline_is_one_clear_error(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match=r"cannot load pretrained model 'polymodal-test/absent-bert' \(the hub is "
                                          r"offline.*save_pretrained"):
        build("encoder", {"name": "hf_text", "model": "polymodal-test/absent-bert"})
    with pytest.raises(ConfigError, match="pretrained folder './no/such/folder' does not exist"):
        build("encoder", {"name": "hf_vision", "model": "./no/such/folder"})


def test_importing_polymodal_and_these_modules_does_not_import_transformers_or_onnx():
    import subprocess
    import sys

    # (Lightning's torchmetrics imports transformers itself when it is installed; polymodal does not.)
    code = ("import sys, polymodal, polymodal.cli, polymodal.encoders.pretrained, polymodal.export, "
            "polymodal.data.user_files, polymodal.data.feature_cache; "
            "from polymodal.core.registry import _REGISTRY; "
            "assert {'hf_text', 'hf_vision', 'hf_audio', 'clip_text', 'clip_vision'} <= set(_REGISTRY['encoder']); "
            "bad = [m for m in ('transformers', 'onnx', 'onnxruntime', 'onnxscript', 'datasets') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
