"""Robustness curves: exact noise draws, invariances, agreement with evaluate(), AUC, PNG."""

import numpy as np
import pytest
import torch
from torch import nn

from polymodal.benchmarks.robustness import (
    RobustnessResult,
    add_gaussian_noise,
    curve_auc,
    plot_robustness,
    robustness_curves,
)
from polymodal.data import MultimodalDataset
from polymodal.data.loader import make_loader
from polymodal.encoders import Identity
from polymodal.errors import ModalityError
from polymodal.fusion import ConcatFusion
from polymodal.training import MultimodalModel, get_task
from polymodal.training.engine import evaluate




def _setup(n=300):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, 3)) * np.array([1.0, 2.0, 0.5])
    b = rng.normal(size=(n, 2)) + 3.0
    y = (a[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    present = {"b": rng.random(n) > 0.2}
    b[~present["b"]] = 0.0
    ds = MultimodalDataset({"a": a, "b": b}, y, present=present)
    head = nn.Linear(5, 2)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.weight[1, 0] = 5.0  # only a[:, 0] matters
    model = MultimodalModel({"a": Identity(3), "b": Identity(2)}, ConcatFusion({"a": 3, "b": 2}), head)
    return model, get_task("classification", 2), make_loader(ds, 64), ds


def test_curve_auc_is_normalised_trapezoid():
    x, y = [0, 0.5, 1.5, 3.0], [0.9, 0.8, 0.5, 0.2]
    assert curve_auc(x, y) == pytest.approx(np.trapezoid(y, x) / 3.0)
    assert curve_auc([0.0], [0.7]) == 0.7


def test_noise_is_the_seeded_gaussian_scaled_and_masked():
    _, _, loader, ds = _setup()
    batch = next(iter(loader))
    scale = {"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([0.5, 0.5])}
    noisy = add_gaussian_noise(batch, 0.7, ["a", "b"], scale, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    ea, eb = torch.randn(batch["a"].shape, generator=g), torch.randn(batch["b"].shape, generator=g)
    torch.testing.assert_close(noisy["a"], batch["a"] + 0.7 * ea * scale["a"])
    p = batch.present_mask("b")[:, None].float()
    torch.testing.assert_close(noisy["b"], batch["b"] + 0.7 * eb * scale["b"] * p)
    assert torch.all(noisy["b"][~batch.present_mask("b")] == 0)


def test_curves_agree_with_evaluate_and_irrelevant_modality_is_flat():
    model, task, loader, ds = _setup()
    r = robustness_curves(model, task, loader, noise_levels=[0, 0.5, 1, 2, 4])
    assert r.clean == pytest.approx(evaluate(model, task, loader)["accuracy"])
    for m in ("a", "b"):
        assert r.missing[m] == pytest.approx(evaluate(model, task, loader, drop=(m,))["accuracy"])
    assert r.noise["b"] == [r.clean] * 5  # the head ignores b exactly
    assert r.missing["b"] == r.clean
    assert r.noise["a"][-1] < r.noise["a"][1] < r.clean  # noise on the signal feature hurts
    assert r.noise["all"] == r.noise["a"]  # same draws for a; b irrelevant
    assert r.auc["a"] == pytest.approx(curve_auc(r.noise_levels, r.noise["a"]))
    assert r.missing["a"] == pytest.approx(max(np.mean(ds.target == 0), np.mean(ds.target == 1)))
    # deterministic: same seed, same curve
    assert robustness_curves(model, task, loader, noise_levels=[0, 1], missing=False).noise["a"] == r.noise["a"][:1] + [r.noise["a"][2]]
    assert "| noise on a |" in r.table()


def test_relative_scale_is_the_feature_std_over_present_samples():
    from polymodal.benchmarks.robustness import _feature_std

    _, _, loader, ds = _setup()
    std = _feature_std(loader, ["a", "b"])
    np.testing.assert_allclose(std["a"].numpy(), ds.modalities["a"].std(0), rtol=1e-5)
    keep = ds.present["b"]
    np.testing.assert_allclose(std["b"].numpy(), ds.modalities["b"][keep].std(0), rtol=1e-5)


def test_unknown_modality_and_plot(tmp_path):
    model, task, loader, _ = _setup()
    with pytest.raises(ModalityError, match="'c'.*\\['a', 'b'\\]"):
        robustness_curves(model, task, loader, modalities=["c"])
    r = robustness_curves(model, task, loader, noise_levels=[0, 1])
    assert isinstance(r, RobustnessResult)
    for target, res in (("one.png", r), ("many.png", {"x": r, "y": r})):
        path = plot_robustness(res, tmp_path / target)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
