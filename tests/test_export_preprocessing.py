"""`polymodal export` folds the checkpoint's stored standardisation into the graph: the
exported artefact takes RAW data and predicts as ``MultimodalLightningModule.load_from_checkpoint``
does on the same raw batch (missing modalities included)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from polymodal.cli import main
from polymodal.data.batch import Batch
from polymodal.data.datamodule import MultimodalDataModule
from polymodal.training.engine import fit
from polymodal.training.module import MultimodalLightningModule


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny config-built model trained on standardised mfeat (fou, kar), reloaded from its checkpoint,
    and a raw test batch with missing modalities."""
    result = fit({"name": "run", "seed": 0,
                  "data": {"modalities": ["fou", "kar"], "batch_size": 64, "standardize": True},
                  "model": {"encoder": {"name": "mlp", "hidden": [16]}, "head": {"name": "mlp", "hidden": []}},
                  "trainer": {"max_epochs": 1, "patience": None, "progress": False},
                  "output_dir": str(tmp_path_factory.mktemp("runs"))})
    module = MultimodalLightningModule.load_from_checkpoint(result.best_checkpoint).eval()
    raw = MultimodalDataModule("mfeat", modalities=["fou", "kar"], standardize=False, seed=0).test_set
    x = {m: torch.as_tensor(np.asarray(raw.modalities[m][:9]), dtype=torch.float32) for m in ("fou", "kar")}
    assert x["kar"].std(0).max() > 2  # raw Karhunen-Loeve coefficients are far from z-scores
    present = {"fou": torch.tensor([1, 1, 0, 1, 1, 0, 1, 1, 1], dtype=torch.bool),
               "kar": torch.tensor([1, 0, 1, 1, 0, 1, 1, 0, 1], dtype=torch.bool)}
    module.input_preprocessing = "raw"  # what the module does on a loader of raw data
    with torch.no_grad():
        expected = module.predict_step(Batch(x, present=present), 0).logits
        bare = module.model(x, present).logits  # the raw data fed to the unstandardised model
    assert (expected - bare).abs().max() > 1e-2  # the stored statistics matter on this batch
    return result, x, present, expected


def test_onnx_export_takes_raw_data_as_the_reloaded_module(run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    result, x, present, expected = run
    out = tmp_path / "model.onnx"
    assert main(["export", str(result.best_checkpoint), "--format", "onnx", "--out", str(out)]) == 0
    meta = json.loads((tmp_path / "model.onnx.json").read_text())
    assert meta["standardize"] == "folded"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {**{m: v.numpy() for m, v in x.items()}, **{f"present_{m}": p.numpy() for m, p in present.items()}}
    logits = session.run(["logits"], feeds)[0]
    assert np.abs(logits - expected.numpy()).max() <= 1e-5


def test_exported_program_takes_raw_data_and_opt_out_keeps_the_bare_model(run, tmp_path):
    from polymodal.export import export_checkpoint

    result, x, present, expected = run
    out = tmp_path / "model.pt2"
    assert main(["export", str(result.best_checkpoint), "--format", "exported-program", "--out", str(out)]) == 0
    with torch.no_grad():
        got = torch.export.load(str(out)).module()(x["fou"], x["kar"], present["fou"], present["kar"])[0]
    assert (got - expected).abs().max() <= 1e-5

    bare = export_checkpoint(result.best_checkpoint, tmp_path / "bare.pt2", format="exported-program",
                             fold_preprocessing=False)
    assert json.loads((tmp_path / "bare.pt2.json").read_text())["standardize"] == "none"
    z = _standardised(result, x)
    with torch.no_grad():
        got = torch.export.load(str(bare)).module()(z["fou"], z["kar"], present["fou"], present["kar"])[0]
    assert (got - expected).abs().max() <= 1e-5


def _standardised(result, x):
    """``x`` z-scored with the run's training-split statistics (what the bare model takes)."""
    s = result.datamodule.standardizer
    return {m: ((v.double() - torch.as_tensor(s.mean_[m])) / torch.as_tensor(s.scale_[m])).float() for m, v in x.items()}
