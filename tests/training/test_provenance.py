"""Run provenance (config.yaml re-runs exactly, environment.json, command.txt)
and a quiet console (Lightning's banners only with verbose; the subprocess
check of stdout/stderr is tests/training/test_engine.py's DDP run)."""

import json
import logging
import subprocess
import sys
from importlib import metadata

import lightning
import numpy as np
import pytest
import torch

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.cli import main
from polymodal.training.engine import fit


def _config(tmp_path, **trainer):
    return {
        "name": "run", "seed": 0,
        "data": {"modalities": ["fou", "kar"], "batch_size": 128},
        "model": {"encoder": {"name": "mlp", "hidden": [16]}, "head": {"name": "mlp", "hidden": [], "dropout": 0.2}},
        "trainer": {"max_epochs": 2, "patience": None, "progress": False, **trainer},
        "output_dir": str(tmp_path / "runs"),
    }


def _git(folder, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_environment_json_records_versions_git_state_device_and_command(tmp_path, monkeypatch):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "notes.txt").write_text("a\n")
    _git(repo, "add", "notes.txt")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "notes.txt").write_text("b\n")  # a tracked file changed: dirty
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["train_mine.py", "--lr", "0.1"])
    result = fit(_config(tmp_path))
    env = json.loads((result.run_dir / "environment.json").read_text())
    assert env["git"] == {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": True, "root": str(repo.resolve())}
    assert (env["torch"], env["lightning"], env["numpy"]) == (torch.__version__, lightning.__version__, np.__version__)
    assert env["polymodal"] == metadata.version("polymodal")
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["device"] == "cpu"
    assert (result.run_dir / "command.txt").read_text() == "train_mine.py --lr 0.1\n" == env["command"] + "\n"
    monkeypatch.chdir(tmp_path)  # outside any repository
    assert json.loads((fit(_config(tmp_path), overwrite=True).run_dir / "environment.json").read_text())["git"] is None


def test_stored_config_yaml_reruns_to_the_same_metrics(tmp_path, monkeypatch, capsys):
    import yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(_config(tmp_path)))
    assert main(["train", "exp.yaml", "seed=3"]) == 0
    run = tmp_path / "runs" / "run"
    first = json.loads((run / "result.json").read_text())
    assert (run / "command.txt").read_text().strip() == "polymodal train exp.yaml seed=3"
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 3  # the override is resolved into it
    assert main(["train", str(run / "config.yaml"), "--overwrite"]) == 0  # the stored config, as is
    again = json.loads((run / "result.json").read_text())
    assert (again["val"], again["test"], again["epochs"]) == (first["val"], first["test"], first["epochs"])
    out = capsys.readouterr().out
    assert out.count("best checkpoint:") == 2


@pytest.mark.parametrize("verbose", [False, True])
def test_lightning_banners_only_with_verbose(tmp_path, verbose, monkeypatch):
    monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")  # the fast loop prints no banners at all
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.addHandler(handler)
    lightning_log.setLevel(logging.INFO)  # Lightning's own default (tests/conftest.py raises it)
    try:
        fit(_config(tmp_path), verbose=verbose)
    finally:
        lightning_log.removeHandler(handler)
        lightning_log.setLevel(level)
    assert any("GPU available" in message for message in seen) is verbose
