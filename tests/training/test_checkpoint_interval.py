"""``trainer.checkpoint_min_interval_s``: ``last.ckpt`` is written every
``checkpoint_every_n_epochs`` epochs once that many seconds have passed since the previous one
(training's start counts as one), and always at the final epoch; ``best.ckpt`` at every
improvement. Both engines follow the same rule; an interrupted run resumes exactly from
whichever of the two files is newer."""

import pytest
import torch

from polymodal.training import checkpoint, fast_loop, run_checkpoints
from polymodal.training.checkpoint import load_checkpoint_file
from polymodal.training.config import parse_config
from polymodal.training.engine import fit
from toy_data import two_modality_classification


def _data(n=120, seed=0):
    return two_modality_classification(n, seed)


def _config(tmp_path, epochs, **trainer):
    return {"name": "run", "seed": 1, "data": {"name": "toy", "batch_size": 16},
            "model": {"encoder": {"name": "mlp", "hidden": [8]}, "fusion": {"name": "concat"},
                      "head": {"name": "mlp", "hidden": [8]}},
            "optim": {"name": "rmsprop", "lr": 3e-3},
            "trainer": {"max_epochs": epochs, "patience": None, "progress": False, **trainer},
            "output_dir": str(tmp_path)}


def _last_epoch_on_disk(tmp_path):
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    return load_checkpoint_file(path)["epoch"] if path.exists() else None


def test_the_default_interval_is_ten_seconds_and_is_left_out_of_dumps():
    config = parse_config({"data": {"name": "mfeat"}})
    assert config.trainer.checkpoint_min_interval_s == 10.0
    assert "checkpoint_min_interval_s" not in config.model_dump(mode="json")["trainer"]  # old runs resume unchanged
    changed = parse_config({"data": {"name": "mfeat"}, "trainer": {"checkpoint_min_interval_s": 0}})
    assert changed.model_dump(mode="json")["trainer"]["checkpoint_min_interval_s"] == 0


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf")])
def test_a_negative_or_non_finite_interval_is_refused(value):
    from polymodal.errors import ConfigError

    with pytest.raises(ConfigError, match="checkpoint_min_interval_s"):
        parse_config({"data": {"name": "mfeat"}, "trainer": {"checkpoint_min_interval_s": value}})


@pytest.mark.parametrize("engine", ["fast", "lightning"])
def test_last_checkpoint_waits_the_minimum_interval(tmp_path, monkeypatch, engine):
    """A fake clock gives every epoch 5 s; with a 12 s minimum, last.ckpt is written after epochs
    2 and 5 (15 s after the previous write) and at the final epoch 7."""
    now, seen = [0.0], []
    monkeypatch.setattr(checkpoint.CheckpointSchedule, "clock", staticmethod(lambda: now[0]))
    if engine == "lightning":
        monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")
        epoch_end = run_checkpoints.RunCheckpoints.on_train_epoch_end

        def timed_epoch_end(self, trainer, module):
            now[0] += 5.0
            epoch_end(self, trainer, module)
            seen.append(_last_epoch_on_disk(tmp_path))

        monkeypatch.setattr(run_checkpoints.RunCheckpoints, "on_train_epoch_end", timed_epoch_end)
    else:
        validate, write_text = fast_loop.validate, fast_loop.atomic_write_text

        def timed_validate(*args):  # once per epoch, before the epoch's checkpoint decision
            now[0] += 5.0
            return validate(*args)

        def write_metrics(text, path, **kwargs):  # metrics.csv: after the epoch's checkpoints are on disk
            write_text(text, path, **kwargs)
            if path.name == "metrics.csv":
                seen.append(_last_epoch_on_disk(tmp_path))

        monkeypatch.setattr(fast_loop, "validate", timed_validate)
        monkeypatch.setattr(fast_loop, "atomic_write_text", write_metrics)
    fit(_config(tmp_path, 8, checkpoint_min_interval_s=12), dataset=_data())
    assert seen == [None, None, 2, 2, 2, 5, 5, 7]


@pytest.mark.parametrize("engine", ["fast", "lightning"])
def test_every_n_epochs_and_the_interval_both_hold(tmp_path, monkeypatch, engine):
    """No clock needed: interval 0 keeps every_n_epochs' schedule (epochs 1, 3 and the final 4)."""
    if engine == "lightning":
        monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")
    result = fit(_config(tmp_path, 5, checkpoint_min_interval_s=0, checkpoint_every_n_epochs=2), dataset=_data())
    assert load_checkpoint_file(result.run_dir / "checkpoints" / "last.ckpt")["epoch"] == 4


def test_an_interrupted_run_under_the_default_interval_resumes_exactly(tmp_path, monkeypatch):
    """A short run under the default 10 s writes no last.ckpt before it ends: interrupted in epoch 3
    it has only best.ckpt, resumes from it and ends with the uninterrupted run's weights and
    metrics."""
    full = fit(_config(tmp_path / "full", 6), dataset=_data())
    forward_loss, steps = fast_loop._forward_loss, [0]

    def step(*args):  # 5 steps an epoch: raised in epoch 3
        steps[0] += 1
        if steps[0] == 18:
            raise RuntimeError("killed")
        return forward_loss(*args)

    monkeypatch.setattr(fast_loop, "_forward_loss", step)
    out = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="killed"):
        fit(_config(out, 6), dataset=_data())
    folder = out / "run" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt"]
    best_epoch = load_checkpoint_file(folder / "best.ckpt")["epoch"]
    assert best_epoch <= 2
    monkeypatch.setattr(fast_loop, "_forward_loss", forward_loss)
    resumed = fit(_config(out, 6), dataset=_data(), resume=True)
    a = load_checkpoint_file(full.run_dir / "checkpoints" / "last.ckpt")
    b = load_checkpoint_file(resumed.run_dir / "checkpoints" / "last.ckpt")
    assert a["epoch"] == b["epoch"] == 5
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert (full.run_dir / "logs" / "metrics.csv").read_text() == (resumed.run_dir / "logs" / "metrics.csv").read_text()


def test_lightning_resumes_exactly_from_best_when_last_was_not_yet_due(tmp_path, monkeypatch):
    """The Lightning engine under the default interval: stopped after epoch 3 it has only best.ckpt;
    the resume from it ends with the uninterrupted run's weights and metrics."""
    monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")
    full = fit(_config(tmp_path / "full", 5), dataset=_data())
    epoch_end = run_checkpoints.RunCheckpoints.on_train_epoch_end

    def stop_after_epoch_3(self, trainer, module):
        epoch_end(self, trainer, module)
        if trainer.current_epoch == 3:
            raise RuntimeError("killed")

    monkeypatch.setattr(run_checkpoints.RunCheckpoints, "on_train_epoch_end", stop_after_epoch_3)
    out = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="killed"):
        fit(_config(out, 5), dataset=_data())
    assert sorted(p.name for p in (out / "run" / "checkpoints").iterdir()) == ["best.ckpt"]
    monkeypatch.setattr(run_checkpoints.RunCheckpoints, "on_train_epoch_end", epoch_end)
    resumed = fit(_config(out, 5), dataset=_data(), resume=True)
    a = load_checkpoint_file(full.run_dir / "checkpoints" / "last.ckpt")
    b = load_checkpoint_file(resumed.run_dir / "checkpoints" / "last.ckpt")
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert (full.run_dir / "logs" / "metrics.csv").read_text() == (resumed.run_dir / "logs" / "metrics.csv").read_text()


@pytest.mark.parametrize("engine", ["fast", "lightning"])
def test_metrics_csv_is_rewritten_with_each_checkpoint_and_at_most_every_second_between(tmp_path, monkeypatch, engine):
    """A fake clock gives every epoch 0.3 s and the monitored value improves only in epoch 0: metrics.csv
    is written with that epoch's best.ckpt, then once a second has passed (epochs 4 and 8), and at the
    final epoch 9 with last.ckpt; it always ends whole."""
    now, rows = [0.0], []
    write_text = checkpoint.atomic_write_text

    def record(text, path, **kwargs):
        write_text(text, path, **kwargs)
        if path.name == "metrics.csv":
            rows.append(len(text.splitlines()) - 1)

    monkeypatch.setattr(checkpoint.CheckpointSchedule, "clock", staticmethod(lambda: now[0]))
    if engine == "lightning":
        monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")
        monkeypatch.setattr(run_checkpoints, "atomic_write_text", record)
        monkeypatch.setattr(run_checkpoints.RunCheckpoints, "_improved", lambda self, score: self.best_score is None)
        epoch_end = run_checkpoints.RunCheckpoints.on_train_epoch_end

        def timed_epoch_end(self, trainer, module):
            now[0] += 0.3
            epoch_end(self, trainer, module)

        monkeypatch.setattr(run_checkpoints.RunCheckpoints, "on_train_epoch_end", timed_epoch_end)
    else:
        monkeypatch.setattr(fast_loop, "atomic_write_text", record)

        def constant_validation(*args):  # the same value every epoch: only epoch 0 improves
            now[0] += 0.3
            return {"val_loss": 1.0, "val_accuracy": 0.5, "val_objective": 1.0}

        monkeypatch.setattr(fast_loop, "validate", constant_validation)
    result = fit(_config(tmp_path, 10, checkpoint_min_interval_s=12), dataset=_data())
    assert rows == [1, 5, 9, 10]
    assert len((result.run_dir / "logs" / "metrics.csv").read_text().splitlines()) == 11
