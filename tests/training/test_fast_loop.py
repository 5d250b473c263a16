"""The engine's fast single-process loop (training/fast_loop.py): the same run as Lightning's
Trainer at the same seed (weights bit for bit), exact resume (2 + 2 epochs == 4 epochs), the
checkpoint/metrics files of a run, Lightning's early-stopping rule, and the dispatch rule."""

import io

import numpy as np
import pytest
import torch

from polymodal.data.dataset import MultimodalDataset
from polymodal.training.checkpoint import load_checkpoint_file
from polymodal.training.config import parse_config
from polymodal.training.engine import fit
from polymodal.training.fast_loop import _EarlyStopping, lightning_needed


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    a = rng.normal(size=(n, 5)).astype(np.float32)
    a[:, 0] += 2 * y
    b = rng.normal(size=(n, 4)).astype(np.float32)
    b[:, 1] -= 2 * y
    return MultimodalDataset({"a": a, "b": b}, target=y, task="classification")


def _config(tmp_path, name, epochs, patience=None, dropout=0.2):
    return {"name": name, "seed": 3, "data": {"name": "toy", "batch_size": 16},
            "model": {"encoder": {"name": "mlp", "hidden": [16, 8], "dropout": dropout},
                      "fusion": {"name": "concat"}, "head": {"name": "mlp", "hidden": [8]}},
            "optim": {"name": "rmsprop", "lr": 3e-3},
            "trainer": {"max_epochs": epochs, "patience": patience, "gradient_clip_val": 1.0, "progress": False},
            "output_dir": str(tmp_path)}


def _weights(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def test_fast_loop_equals_lightning_at_the_same_seed(tmp_path, monkeypatch):
    fast = fit(_config(tmp_path, "fast", 3), dataset=_data())
    assert load_checkpoint_file(fast.run_dir / "checkpoints" / "last.ckpt").get("polymodal_engine") == "fast"
    monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")
    slow = fit(_config(tmp_path, "lightning", 3), dataset=_data())
    assert "polymodal_engine" not in load_checkpoint_file(slow.run_dir / "checkpoints" / "last.ckpt")
    assert fast.epochs == slow.epochs == 3
    assert fast.val_metrics == pytest.approx(slow.val_metrics, abs=1e-6)
    assert fast.test_metrics == pytest.approx(slow.test_metrics, abs=1e-6)
    for k, v in _weights(fast).items():
        torch.testing.assert_close(v, _weights(slow)[k], rtol=1e-5, atol=1e-6)
    assert fast.test_metrics["accuracy"] > 0.6  # it learns (chance 1/3)
    fast_csv = (fast.run_dir / "logs" / "metrics.csv").read_text().splitlines()
    slow_csv = (slow.run_dir / "logs" / "metrics.csv").read_text().splitlines()
    assert fast_csv[0] == slow_csv[0] and len(fast_csv) == len(slow_csv) == 4


def test_resume_is_exact(tmp_path):
    whole = fit(_config(tmp_path, "whole", 4), dataset=_data())
    fit(_config(tmp_path, "split", 2), dataset=_data())
    resumed = fit(_config(tmp_path, "split", 4), dataset=_data(), resume=True, resume_with_changes=True)
    assert resumed.epochs == 4
    for k, v in _weights(whole).items():
        assert torch.equal(v, _weights(resumed)[k]), k  # dropout masks and loader order included
    last = load_checkpoint_file(resumed.run_dir / "checkpoints" / "last.ckpt")
    assert last["optimizer_states"][0]["state"]  # optimiser state travels
    rows = (resumed.run_dir / "logs" / "metrics.csv").read_text()
    assert rows == (whole.run_dir / "logs" / "metrics.csv").read_text()


def test_early_stopping_follows_lightnings_rule():
    stopper = _EarlyStopping("max", patience=2)
    assert [stopper.update(v) for v in (0.5, 0.6, 0.6, 0.55)] == [False, False, False, True]  # equal is no gain
    assert _EarlyStopping("min", patience=3).update(float("nan")) is True
    assert _EarlyStopping("min", patience=None).update(1.0) is False


def test_best_checkpoint_is_written_only_on_improvement(tmp_path, monkeypatch):
    import polymodal.training.fast_loop as fast_loop

    written = []
    real = fast_loop.write_sealed

    def write_sealed(data, path):
        written.append((torch.load(io.BytesIO(bytes(data)), weights_only=True)["epoch"], path.name))
        real(data, path)

    monkeypatch.setattr(fast_loop, "write_sealed", write_sealed)
    config = _config(tmp_path, "best", 6)
    config["trainer"]["monitor"] = "val_accuracy"  # plateaus on this toy task: some epochs do not improve
    config["trainer"]["checkpoint_min_interval_s"] = 0  # every improvement at once (the default holds it <= 10 s)
    result = fit(config, dataset=_data())
    state = load_checkpoint_file(result.run_dir / "checkpoints" / "last.ckpt")["callbacks"]["polymodal.RunCheckpoints"]
    best_epochs = [e for e, name in written if name == "best.ckpt"]
    sign = 1 if state["mode"] == "max" else -1
    scores = [sign * row[state["monitor"]] for row in state["history"]]
    expected = [e for e in range(len(scores)) if scores[e] > max(scores[:e], default=-np.inf)]
    assert len(scores) == 6 and len(expected) < 6  # some epoch did not improve
    assert best_epochs == expected and state["best_epoch"] == expected[-1]


@pytest.mark.parametrize("trainer, reason", [
    ({"devices": 2}, "trainer.devices=2"),
    ({"strategy": "ddp"}, "trainer.strategy='ddp'"),
    ({"precision": "bf16-mixed"}, "trainer.precision"),
    ({"logger": "tensorboard"}, "trainer.logger"),
    ({"accumulate_grad_batches": 2}, "trainer.accumulate_grad_batches"),
])
def test_runs_that_need_lightning_are_named(trainer, reason):
    config = parse_config({"data": {"name": "mfeat"}, "trainer": trainer})
    assert reason in lightning_needed(config)
    assert lightning_needed(parse_config({"data": {"name": "mfeat"}})) is None
