"""The MOSEI-shaped synthetic task: MOSEI's split sizes and shapes, samples a
function of (seed, split, i), the label rule recovered from noise-free data,
and the rule needs both modalities: a unimodal model stays at chance while a
fusion model, built and fed by the engine's own loader, learns it."""

import numpy as np
import pytest
import torch

import polymodal.encoders  # noqa: F401  (registers "steps")
import polymodal.fusion  # noqa: F401  (registers the sequential fusions)
from polymodal.data import make_loader
from polymodal.data.mosei_synthetic import MOSEI_SPLITS, MoseiSynthetic
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.training.config import parse_config
from polymodal.training.engine import build_model, evaluate
from polymodal.training.tasks import get_task


def test_mosei_split_sizes_and_shapes():
    assert MOSEI_SPLITS == {"train": 16_326, "valid": 1_871, "test": 4_659}
    assert sum(len(MoseiSynthetic(s)) for s in MOSEI_SPLITS) == 22_856
    aligned, unaligned = MoseiSynthetic("test", n=2), MoseiSynthetic("test", aligned=False, n=2)
    assert {m: tuple(x.shape) for m, x in aligned[1]["inputs"].items()} == {
        "text": (50, 300), "audio": (50, 74), "vision": (50, 35)}
    assert {m: tuple(x.shape) for m, x in unaligned[1]["inputs"].items()} == {
        "text": (50, 300), "audio": (500, 74), "vision": (500, 35)}
    assert aligned[0]["inputs"]["text"].dtype == torch.float32
    assert {m: s.dim for m, s in unaligned.specs.items()} == {"text": 300, "audio": 74, "vision": 35}


def test_samples_depend_only_on_seed_split_and_index():
    a = MoseiSynthetic("train", length=7, n=10, seed=3)
    b = MoseiSynthetic("train", length=7, n=1000, seed=3, modalities=["audio"])
    assert torch.equal(a[4]["inputs"]["audio"], b[4]["inputs"]["audio"])
    assert torch.equal(a[4]["inputs"]["text"], a[4]["inputs"]["text"])
    assert not torch.equal(a[4]["inputs"]["text"], MoseiSynthetic("valid", length=7, n=10, seed=3)[4]["inputs"]["text"])
    assert not torch.equal(a[4]["inputs"]["text"], MoseiSynthetic("train", length=7, n=10, seed=4)[4]["inputs"]["text"])
    batch = a.batch([4, 2])
    assert torch.equal(batch["text"][0], a[4]["inputs"]["text"]) and batch.target.tolist() == a.target[[4, 2]].tolist()
    dense = a.materialise()
    assert np.array_equal(dense.modalities["vision"][9], a[9]["inputs"]["vision"].numpy())
    assert np.array_equal(dense.target, a.target)


def test_label_is_the_sign_of_the_audio_at_the_time_of_the_text_event():
    """Noise-free: find the marker step in text (in the first 10% of the
    features), the audio segment at that step, recompute y = [audio sign > 0];
    the audio signs are balanced per sample (so audio alone says nothing)."""
    ds = MoseiSynthetic("train", aligned=False, length=6, unaligned_factor=3, n=300, noise=0.0, amplitude=2.0,
                        dims={"text": 20, "audio": 10, "vision": 3})
    labels = []
    for i in range(len(ds)):
        x = ds[i]["inputs"]
        t_e = int(x["text"][:, 0].argmax())
        marker = torch.zeros(6, 20)
        marker[t_e, :2] = 2.0
        assert torch.equal(x["text"], marker)
        signs = x["audio"][:, 0]
        assert torch.equal(x["audio"], signs[:, None] * (torch.arange(10) < 1)[None, :])  # 10% of 10 features
        assert torch.equal(signs.abs(), torch.full((18,), 2.0)) and float(signs.sum()) == 0.0  # balanced
        assert torch.all(signs[3 * t_e:3 * t_e + 3] == signs[3 * t_e])
        labels.append(int(signs[3 * t_e] > 0))
        assert not x["vision"].any()
    assert labels == ds.target.tolist()
    assert 0.4 < np.mean(labels) < 0.6


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ConfigError, match="split"):
        MoseiSynthetic("dev")
    with pytest.raises(ModalityError, match="'speech'"):
        MoseiSynthetic(modalities=["text", "speech"])
    with pytest.raises(ShapeError, match="text"):
        MoseiSynthetic(dims={"text": 0})
    with pytest.raises(ConfigError, match="signal_fraction"):
        MoseiSynthetic(signal_fraction=1.5)
    with pytest.raises(IndexError):
        MoseiSynthetic("valid", n=3)[3]


def _train_eval(train, test, modalities, fusion, epochs=15, seed=0):
    torch.manual_seed(seed)
    train, test = train.select(modalities), test.select(modalities)
    config = parse_config({"model": {"encoder": {"name": "steps"}, "fusion": fusion,
                                     "head": {"name": "mlp", "hidden": [16]}}})
    model = build_model(config, train.specs, 2, "classification")
    task = get_task("classification", 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = make_loader(train, 50, shuffle=True, seed=seed)
    model.train()
    for epoch in range(epochs):
        loader.set_epoch(epoch) if hasattr(loader, "set_epoch") else None
        for batch in loader:
            opt.zero_grad()
            task.loss(model(batch).logits, batch.target).backward()
            opt.step()
    return evaluate(model, task, make_loader(test, 200))["accuracy"]


def test_unimodal_models_stay_at_chance_and_fusion_learns_the_cross_modal_rule():
    """Small version (6 steps, 6/4/3 features, 500 train / 400 test): an LSTM
    on text alone or audio alone stays below 0.6; the early-fusion LSTM over
    text + audio + vision, trained the same way, reaches >= 0.85."""
    small = dict(length=6, dims={"text": 6, "audio": 4, "vision": 3})
    train, test = MoseiSynthetic("train", n=500, **small).materialise(), MoseiSynthetic("test", n=400, **small)
    lstm = {"name": "early_lstm", "hidden": 16}
    accs = {m: _train_eval(train, test, [m], lstm) for m in ("text", "audio")}
    accs["fusion"] = _train_eval(train, test, ["text", "audio", "vision"], lstm)
    print(accs)
    assert accs["text"] < 0.6 and accs["audio"] < 0.6
    assert accs["fusion"] >= 0.85
