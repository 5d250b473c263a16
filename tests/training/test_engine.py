"""The engine end to end: training quality, checkpoints, exact resume, DDP, errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.errors import CheckpointError
from polymodal.training import load_checkpoint_file
from polymodal.training.engine import evaluate, fit, load_trained


def config(tmp_path, **over):
    cfg = {
        "name": "run",
        "seed": 0,
        "data": {"modalities": ["fou", "kar", "mor"], "batch_size": 64},
        "model": {"encoder": {"name": "mlp", "hidden": [32]}, "fusion": {"name": "concat"},
                  "head": {"name": "mlp", "hidden": [32], "dropout": 0.3}},
        "trainer": {"max_epochs": 4, "patience": None, "progress": False},
        "output_dir": str(tmp_path),
    }
    for key, value in over.items():
        node = cfg
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return cfg


def test_fit_learns_and_checkpoint_reproduces_metrics(tmp_path):
    result = fit(config(tmp_path, trainer__max_epochs=15))
    assert result.test_metrics["accuracy"] > 0.9  # fou+kar+mor: chance is 0.1
    assert result.best_checkpoint.name == "best.ckpt"
    assert (tmp_path / "run" / "logs" / "metrics.csv").is_file()
    model, task, cfg, dm = load_trained(result.best_checkpoint)
    again = evaluate(model, task, dm.test_dataloader())
    assert again == pytest.approx(result.test_metrics, abs=1e-7)


def test_resume_is_bitwise_identical(tmp_path):
    full = fit(config(tmp_path / "a", trainer__max_epochs=4))
    fit(config(tmp_path / "b", trainer__max_epochs=2))
    # a finished run extended with a larger max_epochs (an allowed change)
    fit(config(tmp_path / "b", trainer__max_epochs=4), resume=True, resume_with_changes=True)
    sa = load_checkpoint_file(tmp_path / "a" / "run" / "checkpoints" / "last.ckpt")["state_dict"]
    sb = load_checkpoint_file(tmp_path / "b" / "run" / "checkpoints" / "last.ckpt")["state_dict"]
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    # the metrics history of both halves is kept, equal to the uninterrupted run's
    csv_a = (tmp_path / "a" / "run" / "logs" / "metrics.csv").read_text()
    assert (tmp_path / "b" / "run" / "logs" / "metrics.csv").read_text() == csv_a
    assert len(csv_a.splitlines()) == 5
    # and not trivially: training did change the weights after the resume point
    mid = fit(config(tmp_path / "c", trainer__max_epochs=2))
    sc = load_checkpoint_file(mid.run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_existing_run_is_not_overwritten_silently(tmp_path):
    fit(config(tmp_path, trainer__max_epochs=1))
    with pytest.raises(CheckpointError, match=r"already has checkpoints; resume it \(--resume\), pass --overwrite"):
        fit(config(tmp_path, trainer__max_epochs=1))


def test_late_learned_combiner_is_saved_with_the_checkpoint(tmp_path):
    cfg = config(tmp_path, trainer__max_epochs=3)
    cfg["model"] = {"encoder": {"name": "identity"}, "fusion": {"name": "late", "combine": "stacking"}, "head": None}
    result = fit(cfg)
    assert bool(result.model.fusion.combiner_fitted)
    model, task, _, dm = load_trained(result.best_checkpoint)
    assert bool(model.fusion.combiner_fitted)
    torch.testing.assert_close(model.fusion.combiner_weight, result.model.fusion.combiner_weight)


def test_missing_and_corrupted_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"^checkpoint file not found: .*nope.ckpt$"):
        load_trained(tmp_path / "nope.ckpt")
    result = fit(config(tmp_path, trainer__max_epochs=1))
    data = result.best_checkpoint.read_bytes()
    bad = tmp_path / "truncated.ckpt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checkpoint .*truncated.ckpt is truncated or corrupted: no valid zip"):
        load_trained(bad)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.ckpt is not a torch zip checkpoint"):
        fit(config(tmp_path / "x"), resume=garbage)


def test_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"evil.ckpt refused: it holds pickled code or objects \(print\)"):
        load_checkpoint_file(path)


def test_atomic_save_leaves_old_file_on_failure(tmp_path):
    from polymodal.training import atomic_save

    path = tmp_path / "a.ckpt"
    atomic_save({"state_dict": {"w": torch.ones(2)}}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"state_dict": {}, "x": Unpicklable()}, path)
    assert torch.equal(load_checkpoint_file(path)["state_dict"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]  # no temporary file left


def test_ddp_two_cpu_processes_end_to_end(tmp_path):
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(
        "name: ddp\ndata:\n  modalities: [fou, kar]\nmodel:\n  encoder: {name: mlp, hidden: [32]}\n"
        f"trainer:\n  max_epochs: 3\n  patience: null\n  progress: true\noutput_dir: {tmp_path}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "polymodal", "train", str(cfg), "trainer.devices=2", "trainer.strategy=ddp"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test: loss=" in proc.stdout and proc.stdout.count("best checkpoint:") == 1
    ckpt = load_checkpoint_file(tmp_path / "ddp" / "checkpoints" / "last.ckpt")
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 3 * 10  # 1200 samples / 2 ranks / batch 64 -> 10 steps
    env = json.loads((tmp_path / "ddp" / "environment.json").read_text())
    assert env["device"] == "cpu x 2 processes"
    # a quiet console: stdout holds the results alone, stderr the progress bar and no Lightning banners
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == ["best checkpoint", "val", "test", "epochs"]
    assert "Epoch 2" in proc.stderr
    for banner in ("GPU available", "TPU available", "Tip:", "litlogger", "limit_val_batches", "LeafSpec",
                   "distributed_backend", "weights_only", "Warning"):
        assert banner not in proc.stderr, banner


@pytest.mark.parametrize("task", ["regression", "multilabel"])
def test_regression_and_multilabel_tasks_learn_a_known_function(tmp_path, task):
    """Targets are a known function of two modalities; the engine must fit it."""
    import numpy as np

    from polymodal.data import MultimodalDataset

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(600, 4)), rng.normal(size=(600, 3))
    if task == "regression":
        target = np.stack([a[:, 0] + 2 * b[:, 1], a[:, 2] - b[:, 0]], 1)
    else:
        target = np.stack([a[:, 0] > 0, b[:, 1] > 0, (a[:, 1] + b[:, 2]) > 0], 1).astype(np.float32)
    ds = MultimodalDataset({"a": a, "b": b}, target, task=task, name="toy")
    cfg = config(tmp_path, trainer__max_epochs=30, data__modalities=None)
    cfg["model"]["head"]["dropout"] = 0.0
    result = fit(cfg, dataset=ds)
    if task == "regression":
        assert result.test_metrics["r2"] > 0.9 and result.test_metrics["pearson_r"] > 0.95
    else:
        assert result.test_metrics["f1_macro"] > 0.85


def test_without_validation_split_monitors_train_loss(tmp_path):
    cfg = config(tmp_path, trainer__max_epochs=3, data__val_size=0.0)
    result = fit(cfg)
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,step,train_loss" and len(rows) == 4
    losses = [float(r.split(",")[2]) for r in rows[1:]]
    assert losses[-1] < losses[0]  # it trained
    assert result.val_metrics == {} and result.best_checkpoint.name == "best.ckpt"
