"""trainer.logger: each tracker writes what it should, read back with its own reader."""

import csv
import importlib.util

import pytest

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.errors import ConfigError
from polymodal.training.engine import fit


def _config(tmp_path, logger):
    return {
        "name": "run", "seed": 0,
        "data": {"modalities": ["fou"], "batch_size": 128},
        "model": {"encoder": {"name": "mlp", "hidden": [8]}, "head": {"name": "mlp", "hidden": []}},
        "trainer": {"max_epochs": 2, "patience": None, "progress": False, "logger": logger},
        "output_dir": str(tmp_path),
    }


def _csv_rows(run_dir):
    with open(run_dir / "logs" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_tensorboard_event_file_holds_the_epoch_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = fit(_config(tmp_path, "tensorboard"))
    folder = result.run_dir / "logs" / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder))
    events.Reload()
    rows = _csv_rows(result.run_dir)
    for metric in ("train_loss", "val_loss", "val_accuracy"):
        logged = [e.value for e in events.Scalars(metric)]
        assert logged == pytest.approx([float(r[metric]) for r in rows], rel=1e-6), metric


def test_mlflow_run_is_found_by_search_runs_with_its_metrics(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads file stores only when asked to
    result = fit(_config(tmp_path, "mlflow"))
    mlflow.set_tracking_uri((tmp_path / "mlruns").resolve().as_uri())
    try:
        runs = mlflow.search_runs(experiment_names=["run"], output_format="list")
    finally:
        mlflow.set_tracking_uri(None)
    assert len(runs) == 1
    last = _csv_rows(result.run_dir)[-1]
    assert runs[0].data.metrics["val_loss"] == pytest.approx(float(last["val_loss"]), rel=1e-6)
    assert runs[0].data.params["optim.lr"] == "0.001" and runs[0].data.params["model.encoder.name"] == "mlp"


def test_wandb_offline_writes_its_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = fit(_config(tmp_path, {"name": "wandb"}))
    runs = list((result.run_dir / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_missing_tracker_package_names_the_install_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"trainer.logger': the mlflow logger needs .*pip install 'polymodal\[mlflow\]'"):
        fit(_config(tmp_path, ["tensorboard", "mlflow"]))
    assert not (tmp_path / "run").exists()


def test_a_tracker_may_be_added_when_resuming(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _config(tmp_path, "csv")
    cfg["trainer"]["max_epochs"] = 1
    fast = {**cfg, "name": "fast"}
    fit(fast)  # the fast loop's checkpoint: Lightning cannot resume it, and says so before touching the run
    before = sorted(p.name for p in (tmp_path / "fast").rglob("*"))
    with pytest.raises(ConfigError, match="fast single-process loop.*trainer.logger"):
        fit({**fast, "trainer": {**fast["trainer"], "max_epochs": 2, "logger": "tensorboard"}},
            resume=True, resume_with_changes=True)
    assert sorted(p.name for p in (tmp_path / "fast").rglob("*")) == before

    monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")  # a run started on Lightning's Trainer
    fit(cfg)
    monkeypatch.delenv("POLYMODAL_ENGINE")
    cfg["trainer"].update(max_epochs=2, logger="tensorboard")
    with pytest.raises(ConfigError, match="pass --resume-with-changes"):
        fit(cfg, resume=True)
    result = fit(cfg, resume=True, resume_with_changes=True)
    events = EventAccumulator(str(result.run_dir / "logs" / "tensorboard"))
    events.Reload()
    rows = _csv_rows(result.run_dir)
    assert len(rows) == 2
    assert [e.value for e in events.Scalars("val_loss")] == pytest.approx([float(rows[1]["val_loss"])], rel=1e-6)


_HALF_STARTED = '''
from pathlib import Path

from lightning.pytorch.loggers import Logger


class HalfStartedTracker(Logger):
    """Creates its folder in the run, then cannot reach its server."""

    name, version = "half", "0"

    def __init__(self, folder):
        super().__init__()
        self.folder = Path(folder)

    def log_metrics(self, metrics, step=None):
        pass

    def log_hyperparams(self, params, *args, **kwargs):
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "partial.txt").write_text("started")
        raise ConnectionError("tracking server unreachable")
'''


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def test_a_tracker_that_cannot_start_leaves_the_run_folder_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")  # the existing run below is resumed by the Trainer
    (tmp_path / "trackers").mkdir()
    (tmp_path / "trackers" / "half_started_tracker.py").write_text(_HALF_STARTED)
    monkeypatch.syspath_prepend(str(tmp_path / "trackers"))
    out = tmp_path / "out"
    failing = {"name": "half_started_tracker:HalfStartedTracker", "folder": str(out / "run" / "logs" / "half")}
    message = r"'trainer.logger': HalfStartedTracker could not start: tracking server unreachable"
    cfg = _config(out, failing)
    cfg["trainer"]["max_epochs"] = 1
    with pytest.raises(ConfigError, match=message):
        fit(cfg)
    assert not out.exists()  # no config.yaml, no environment.json, not the tracker's own folder
    # an existing run: neither a resume nor an overwrite with the failing tracker changes it
    cfg["trainer"]["logger"] = "csv"
    fit(cfg)
    before = _snapshot(out)
    cfg["trainer"].update(logger=failing, max_epochs=2)
    with pytest.raises(ConfigError, match=message):
        fit(cfg, resume=True, resume_with_changes=True)
    assert _snapshot(out) == before
    with pytest.raises(ConfigError, match=message):
        fit(cfg, overwrite=True)
    assert _snapshot(out) == before
