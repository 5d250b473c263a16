"""The Lightning side of the engine: a user's own Trainer, test/predict steps,
load_from_checkpoint without other input, Trainer arguments, callbacks and LR
schedulers named in a config."""

import math

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.datamodule import MultimodalDataModule
from polymodal.encoders import MLP
from polymodal.errors import CheckpointError, ConfigError
from polymodal.fusion import ConcatFusion
from polymodal.training import MultimodalModel, get_task, load_checkpoint_file
from polymodal.training.engine import evaluate, fit, predict
from polymodal.training.module import MultimodalLightningModule


def _toy_datamodule(n=240, seed=0):
    """Three classes from a linear rule over both modalities together."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)
    score = np.stack([a[:, 0] + b[:, 0], a[:, 1] - b[:, 1], a[:, 2] + b[:, 2]], axis=1)
    ds = MultimodalDataset({"a": a, "b": b}, score.argmax(1), name="toy")
    return MultimodalDataModule(ds, batch_size=16, eval_batch_size=64, seed=seed)


def _toy_model():
    torch.manual_seed(0)
    return MultimodalModel({"a": MLP(4, 16, hidden=[]), "b": MLP(3, 16, hidden=[])},
                           ConcatFusion({"a": 16, "b": 16}), MLP(32, 3, hidden=[16]))


class _Recorder(pl.Callback):
    """A user's callback: the train loss of every finished epoch."""

    def __init__(self):
        self.losses = []

    def on_train_epoch_start(self, trainer, module):
        if "train_loss" in trainer.callback_metrics:  # the epoch before this one
            self.losses.append(float(trainer.callback_metrics["train_loss"]))

    def on_train_end(self, trainer, module):
        self.losses.append(float(trainer.callback_metrics["train_loss"]))


def _trainer(**kwargs):
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, **kwargs)


def test_users_own_trainer_bf16_with_accumulation_learns(tmp_path):
    dm = _toy_datamodule()
    module = MultimodalLightningModule(_toy_model(), get_task("classification", 3), {"name": "adam", "lr": 0.02})
    recorder = _Recorder()
    trainer = _trainer(max_epochs=8, precision="bf16-mixed", accumulate_grad_batches=2, callbacks=[recorder])
    trainer.fit(module, datamodule=dm)
    assert len(recorder.losses) == 8
    assert recorder.losses[-1] < 0.5 * recorder.losses[0]  # the loss falls (chance: ln 3 = 1.10)
    # accumulate_grad_batches=2: one optimiser step per two batches, the last odd batch included
    batches = math.ceil(len(dm.train_set) / 16)
    assert trainer.global_step == 8 * math.ceil(batches / 2)
    # test_step / predict_step agree with the engine's own evaluate / predict (full precision)
    plain = _trainer()
    tested = plain.test(module, datamodule=dm, verbose=False)[0]
    expected = evaluate(module.model, module.task, dm.test_dataloader())
    assert tested["test_accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7)
    assert tested["test_loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert expected["accuracy"] > 0.8
    outputs = plain.predict(module, datamodule=dm)
    logits, _ = predict(module.model, dm.predict_dataloader())
    assert torch.allclose(torch.cat([o.logits for o in outputs]), logits.logits, atol=1e-6)


def test_python_composed_model_is_loaded_with_its_architecture(tmp_path):
    dm = _toy_datamodule()
    module = MultimodalLightningModule(_toy_model(), "classification", {"lr": 0.02}, n_outputs=3)
    trainer = _trainer(max_epochs=1)
    trainer.fit(module, datamodule=dm)
    path = tmp_path / "own.ckpt"
    trainer.save_checkpoint(path)  # the user's Trainer: no polymodal seal
    with pytest.raises(CheckpointError, match="composed in Python.*model=MultimodalModel"):
        MultimodalLightningModule.load_from_checkpoint(path)
    loaded = MultimodalLightningModule.load_from_checkpoint(path, model=_toy_model())
    assert loaded.task.name == "classification" and loaded.optim["lr"] == 0.02
    for key, value in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def _config(tmp_path, **trainer):
    return {
        "name": "run", "seed": 0,
        "data": {"modalities": ["fou", "kar"], "batch_size": 64},
        "model": {"encoder": {"name": "mlp", "hidden": [16]}, "head": {"name": "mlp", "hidden": []}},
        "trainer": {"max_epochs": 3, "patience": None, "progress": False, **trainer},
        "output_dir": str(tmp_path),
    }


def test_config_run_reloads_from_checkpoint_alone_with_scheduler_and_trainer_arguments(tmp_path):
    cfg = _config(tmp_path, accumulate_grad_batches=2,
                  callbacks=[{"name": "lightning.pytorch.callbacks:Timer", "duration": "00:01:00:00"}])
    cfg["lr_scheduler"] = {"name": "StepLR", "step_size": 1, "gamma": 0.5}
    result = fit(cfg)
    last = load_checkpoint_file(result.run_dir / "checkpoints" / "last.ckpt")
    # 1200 training samples / 64 = 19 batches -> 10 optimiser steps per epoch with accumulation 2
    assert last["global_step"] == 3 * 10
    # StepLR(step_size=1, gamma=0.5) stepped once per epoch: lr = 1e-3 * 0.5**3
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.5**3)
    assert "Timer" in "".join(last["callbacks"])  # the named callback ran (and saved its state)
    # the module rebuilds itself from the checkpoint: same predictions as the trained model
    module = MultimodalLightningModule.load_from_checkpoint(result.best_checkpoint, require_seal=True)
    batch = next(iter(result.datamodule.test_dataloader()))
    with torch.no_grad():
        assert torch.equal(module.eval().model(batch).logits, result.model.eval()(batch).logits)
    assert module.hparams["model_inputs"]["fou"] == {"in_features": 76, "shape": [76]}


@pytest.mark.parametrize(("extra", "message"), [
    ({"lr_scheduler": {"name": "StepLRR", "step_size": 1}}, r"'lr_scheduler.name': unknown scheduler 'StepLRR'"),
    ({"lr_scheduler": {"name": "StepLR"}}, r"'lr_scheduler': cannot build 'StepLR'.*step_size"),
    ({"trainer": {"callbacks": ["NoSuchCallback"]}}, r"'trainer.callbacks\[0\]': unknown callback 'NoSuchCallback'"),
    ({"trainer": {"callbacks": ["ModelCheckpoint"]}}, r"ModelCheckpoint is not needed"),
    ({"trainer": {"accumulate_grad_batches": 0}}, r"'trainer.accumulate_grad_batches': must be an integer >= 1"),
    ({"trainer": {"detect_anomaly": "often"}}, r"'trainer.detect_anomaly': Input should be a valid boolean"),
    ({"trainer": {"limit_train_batches": 1.5}}, r"'trainer' \(limit_train_batches=1.5\): Lightning refused it"),
    ({"trainer": {"enable_checkpointing": False}}, r"'trainer.enable_checkpointing' is set by polymodal"),
])
def test_bad_scheduler_callback_or_trainer_argument_is_a_config_error(tmp_path, extra, message):
    cfg = _config(tmp_path)
    for key, value in extra.items():
        cfg[key] = {**cfg.get(key, {}), **value} if key == "trainer" else value
    with pytest.raises(ConfigError, match=message):
        fit(cfg)
    assert not (tmp_path / "run").exists()  # refused before the run folder is touched


def test_checkpoint_from_before_the_module_saved_its_task_still_loads(tmp_path):
    result = fit(_config(tmp_path, max_epochs=1))
    checkpoint = load_checkpoint_file(result.best_checkpoint)
    checkpoint["hyper_parameters"] = {"config": checkpoint["hyper_parameters"]["config"]}  # the old layout
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    module = MultimodalLightningModule.load_from_checkpoint(old)  # task and inputs re-derived from the data
    assert (module.task.name, module.task.n_outputs) == ("classification", 10)
    batch = next(iter(result.datamodule.test_dataloader()))
    with torch.no_grad():
        assert torch.equal(module.eval().model(batch).logits, result.model.eval()(batch).logits)
    with pytest.raises(CheckpointError, match="no polymodal integrity seal"):
        MultimodalLightningModule.load_from_checkpoint(old, require_seal=True)
