"""Export: output dataclasses are pytree nodes (torch.export traces modules returning them);
`polymodal export` writes ONNX / TorchScript / exported programs whose outputs equal torch's
on a new batch size with missing modalities."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from polymodal.cli import main
from polymodal.errors import ConfigError
from polymodal.training import fit


def _export_and_compare(module, args):
    """torch.export the module; the rebuilt output dataclass equals eager field by field."""
    module = module.eval()
    with torch.no_grad():
        expected = module(*args)
        program = torch.export.export(module, args)
        got = program.module()(*args)
    assert type(got) is type(expected)
    flat_e, spec_e = torch.utils._pytree.tree_flatten(expected)
    flat_g, spec_g = torch.utils._pytree.tree_flatten(got)
    assert spec_e == spec_g and len(flat_e) >= 2
    for e, g in zip(flat_e, flat_g):
        torch.testing.assert_close(g, e)


def test_every_module_output_dataclass_exports():
    from polymodal.alignment.attention import MultiHeadAttention
    from polymodal.alignment.fragments import FragmentOutput, FragmentLossOutput
    from polymodal.alignment.mil import AttentionMIL, MILOutput
    from polymodal.alignment.tagm import TemporalAttentionGatedModel
    from polymodal.translation.captioning import CaptionOutput, GridImageEncoder

    torch.manual_seed(0)
    _export_and_compare(MultiHeadAttention(8, num_heads=2), (torch.randn(2, 3, 8), torch.randn(2, 5, 8)))
    mil = AttentionMIL(4, hidden=8, n_outputs=2)

    class MILParts(torch.nn.Module):  # AttentionMIL.forward's empty-bag check is data-dependent (not traceable)
        def forward(self, x):
            a = torch.softmax(mil.attention_scores(mil.embed(x)), dim=1)
            return MILOutput(logits=x.sum(1), attention=a)

    _export_and_compare(MILParts(), (torch.randn(3, 6, 4),))
    _export_and_compare(TemporalAttentionGatedModel(4, 8, 3), (torch.randn(2, 7, 4),))
    grid = GridImageEncoder(16, widths=(4, 8), grid=2)

    class Captions(torch.nn.Module):  # the captioners' token-range check is data-dependent (not traceable)
        def forward(self, images):
            g = grid(images)
            return CaptionOutput(g @ g.transpose(1, 2), torch.softmax(g.sum(-1), -1))  # regulariser None

    _export_and_compare(Captions(), (torch.rand(2, 3, 16, 16),))
    proj = torch.nn.Linear(6, 8)

    class Fragments(torch.nn.Module):  # FragmentEmbedding's input checks are data-dependent (not traceable)
        def forward(self, r, w):
            return FragmentOutput(proj(r), proj(w), torch.ones(r.shape[:2], dtype=torch.bool),
                                      torch.ones(w.shape[:2], dtype=torch.bool))

    class LossTerms(torch.nn.Module):  # FragmentAlignmentLoss checks its masks data-dependently
        def forward(self, r, w):
            f, g = proj(r).pow(2).mean(), proj(w).abs().mean()
            return FragmentLossOutput(f + g, f, g, torch.zeros(()))

    regions, words = torch.randn(2, 3, 6), torch.randn(2, 4, 6)
    _export_and_compare(Fragments(), (regions, words))
    _export_and_compare(LossTerms(), (regions, words))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A late-fusion model (its combination uses the missing-modality masks) trained from a config."""
    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 5)).astype(np.float32), rng.normal(size=(200, 3)).astype(np.float32)
    y = (a[:, 0] + b[:, 0] > 0).astype(np.int64)
    np.savez(root / "d.npz", a=a, b=b, target=y)
    result = fit({"name": "late", "output_dir": str(root / "runs"),
                  "data": {"name": "npz", "options": {"path": str(root / "d.npz")}, "batch_size": 32},
                  "model": {"encoder": {"name": "mlp", "hidden": [], "out_features": 8},
                            "fusion": {"name": "late"}, "head": None},
                  "trainer": {"max_epochs": 3, "patience": None, "progress": False}})
    x = {"a": torch.randn(7, 5), "b": torch.randn(7, 3)}
    present = {"a": torch.tensor([1, 1, 0, 1, 1, 0, 1], dtype=torch.bool),
               "b": torch.tensor([1, 0, 1, 1, 0, 1, 1], dtype=torch.bool)}
    return result, x, present


def _reference(result, x, present):
    """The trained model on ``x`` standardised with the run's statistics (the export takes raw data)."""
    s = result.datamodule.standardizer
    z = {m: ((v.double() - torch.as_tensor(s.mean_[m])) / torch.as_tensor(s.scale_[m])).float() for m, v in x.items()}
    with torch.no_grad():
        out = result.model.eval()(z, present)
        full = result.model(z, {m: torch.ones(7, dtype=torch.bool) for m in x})
    assert not torch.allclose(out.logits, full.logits)  # the masks change the answer
    return out


def test_onnx_export_equals_torch_on_a_batch_with_missing_modalities(trained, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    result, x, present = trained
    out = tmp_path / "model.onnx"
    assert main(["export", str(result.best_checkpoint), "--format", "onnx", "--out", str(out)]) == 0
    assert "exported onnx" in capsys.readouterr().out
    meta = json.loads((tmp_path / "model.onnx.json").read_text())
    assert meta["inputs"] == ["a", "b", "present_a", "present_b"] and meta["outputs"][0] == "logits"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {"a": x["a"].numpy(), "b": x["b"].numpy(), "present_a": present["a"].numpy(),
             "present_b": present["b"].numpy()}
    got = dict(zip(meta["outputs"], session.run(None, feeds)))
    ref = _reference(result, x, present)
    assert np.abs(got["logits"] - ref.logits.numpy()).max() <= 1e-5  # 7 samples; traced on 8
    np.testing.assert_allclose(got["branch_logits_b"], ref.branch_logits["b"].numpy(), atol=1e-5)
    np.testing.assert_array_equal(got["branch_present_a"], present["a"].numpy())


@pytest.mark.parametrize("fmt", ["torchscript", "exported-program"])
def test_torchscript_and_exported_program_equal_torch(trained, tmp_path, fmt):
    result, x, present = trained
    out = tmp_path / "model.bin"
    assert main(["export", str(result.best_checkpoint), "--format", fmt, "--out", str(out)]) == 0
    loaded = torch.jit.load(str(out)) if fmt == "torchscript" else torch.export.load(str(out)).module()
    with torch.no_grad():
        got = loaded(x["a"], x["b"], present["a"], present["b"])
    torch.testing.assert_close(got[0], _reference(result, x, present).logits, rtol=1e-5, atol=1e-6)


def test_export_refuses_bad_format_and_missing_checkpoint(tmp_path, capsys):
    from polymodal.export import export_model

    assert main(["export", str(tmp_path / "absent.ckpt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="export format must be one of"):
        export_model(torch.nn.Identity(), {}, tmp_path / "x", format="tflite")
