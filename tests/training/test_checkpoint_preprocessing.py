"""The fitted standardisation travels in the checkpoint: a module reloaded from
the checkpoint alone predicts on raw data as the engine does on its own
(standardised) data, and data standardised with other statistics is refused."""

import lightning.pytorch as pl
import pytest
import torch

from polymodal.data.catalog import load_dataset
from polymodal.data.datamodule import MultimodalDataModule
from polymodal.data.loader import make_loader
from polymodal.errors import ConfigError
from polymodal.training import load_checkpoint_file
from polymodal.training.engine import fit, load_trained, predict
from polymodal.training.module import MultimodalLightningModule


def _trainer():
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)


def _config(output_dir, standardize=True):
    return {
        "name": "run", "seed": 0,
        "data": {"modalities": ["fou", "kar"], "batch_size": 64, "standardize": standardize},
        "model": {"encoder": {"name": "mlp", "hidden": [16]}, "head": {"name": "mlp", "hidden": []}},
        "trainer": {"max_epochs": 2, "patience": None, "progress": False},
        "output_dir": str(output_dir),
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny config-built model trained on standardised mfeat (fou, kar)."""
    return fit(_config(tmp_path_factory.mktemp("runs")))


def test_reloaded_module_on_raw_data_predicts_as_the_engine(run):
    stored = load_checkpoint_file(run.best_checkpoint)["polymodal_preprocessing"]["standardize"]
    assert set(stored["mean"]) == {"fou", "kar"}
    assert torch.allclose(stored["mean"]["kar"], torch.as_tensor(run.datamodule.standardizer.mean_["kar"]))

    module = MultimodalLightningModule.load_from_checkpoint(run.best_checkpoint)  # nothing else given
    raw = MultimodalDataModule("mfeat", modalities=["fou", "kar"], standardize=False, seed=0, eval_batch_size=128)
    # mfeat's raw Karhunen-Loeve coefficients are far from z-scores: the stored statistics matter here
    assert raw.test_set.modalities["kar"].std(axis=0).max() > 2
    expected, target = predict(run.model, run.datamodule.test_dataloader())

    outputs = _trainer().predict(module, datamodule=raw)
    logits = torch.cat([o.logits for o in outputs])
    assert torch.allclose(logits, expected.logits, atol=1e-4)
    assert torch.equal(logits.argmax(1), expected.logits.argmax(1))

    # a loader of the user's own over raw data (no DataModule): the same metrics as the engine's evaluate
    tested = _trainer().test(module, dataloaders=make_loader(raw.test_set, 100), verbose=False)[0]
    assert tested["test_accuracy"] == pytest.approx(run.test_metrics["accuracy"], abs=1e-7)
    assert tested["test_loss"] == pytest.approx(run.test_metrics["loss"], rel=1e-4)
    assert run.test_metrics["accuracy"] > 0.5  # it learned something: the comparison is not between chance models


def test_standardised_data_is_passed_through_or_refused_naming_the_modality(run):
    module = MultimodalLightningModule.load_from_checkpoint(run.best_checkpoint)
    expected, _ = predict(run.model, run.datamodule.test_dataloader())
    # the run's own DataModule: recognised as standardised with the same statistics (not standardised twice)
    same = MultimodalDataModule("mfeat", modalities=["fou", "kar"], seed=0, eval_batch_size=128)
    logits = torch.cat([o.logits for o in _trainer().predict(module, datamodule=same)])
    assert torch.allclose(logits, expected.logits, atol=1e-5)
    # standardised on another training split: other statistics, an error naming the modality
    other = MultimodalDataModule("mfeat", modalities=["fou", "kar"], seed=1)
    with pytest.raises(ConfigError, match=r"modality 'fou': the predict data is standardised with other statistics"):
        _trainer().predict(module, datamodule=other)
    # the model's own statistics given to a DataModule: accepted, whatever its split
    given = MultimodalDataModule("mfeat", modalities=["fou", "kar"], seed=1, standardizer=module.standardizer)
    _trainer().predict(module, datamodule=given)
    # a loader of the user's own over data standardised with the model's statistics
    module.input_preprocessing = "preprocessed"
    outputs = _trainer().predict(module, dataloaders=make_loader(run.datamodule.test_set.subset(range(50)), 50))
    assert torch.allclose(outputs[0].logits, expected.logits[:50], atol=1e-5)


def test_load_trained_standardises_new_data_with_the_stored_statistics(run):
    new = load_dataset("mfeat").subset(range(0, 2000, 2))  # other samples: refitting would give other statistics
    _, _, _, dm = load_trained(run.best_checkpoint, dataset=new)
    for m in ("fou", "kar"):
        assert (dm.standardizer.mean_[m] == run.datamodule.standardizer.mean_[m]).all()
        assert (dm.standardizer.scale_[m] == run.datamodule.standardizer.scale_[m]).all()


def test_a_run_on_unstandardised_data_records_it(tmp_path):
    result = fit(_config(tmp_path, standardize=False))
    assert load_checkpoint_file(result.best_checkpoint)["polymodal_preprocessing"] == {"standardize": None}
    module = MultimodalLightningModule.load_from_checkpoint(result.best_checkpoint)
    raw = MultimodalDataModule("mfeat", modalities=["fou", "kar"], standardize=False, seed=0, eval_batch_size=400)
    expected, _ = predict(result.model, result.datamodule.test_dataloader())
    assert torch.allclose(_trainer().predict(module, datamodule=raw)[0].logits, expected.logits, atol=1e-6)
    standardised = MultimodalDataModule("mfeat", modalities=["fou", "kar"], seed=0)
    with pytest.raises(ConfigError, match=r"modality 'fou': the predict data is standardised, but the model was "
                                          r"trained on unstandardised values"):
        _trainer().predict(module, datamodule=standardised)
