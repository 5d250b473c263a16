"""Resume that means what it says: crash consistency under SIGKILL, the stored
config, finished runs, safe --overwrite, exact resume of every loader."""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.data import MultimodalDataset
from polymodal.data.loader import IndexBatchLoader, make_loader
from polymodal.errors import CheckpointError, ConfigError
from polymodal.training import load_checkpoint_file
from polymodal.training.engine import fit

# A server process imports torch + Lightning once (~5 s of CPU), then runs each
# requested fit in a forked child (nothing ran in the server, so forking is
# safe); KILL "step:k" SIGKILLs the child at its k-th training step,
# "write:j" half-way through its j-th checkpoint write (a half-written
# temporary file stays behind), "replace:j" at its j-th atomic rename (a
# checkpoint, metrics.csv or config.yaml).
SERVER = textwrap.dedent('''
    import io, json, os, signal, sys, traceback
    import torch
    import polymodal.encoders, polymodal.fusion
    from polymodal.training import fast_loop, module
    from polymodal.training.engine import fit

    def child(config, resume, kill):
        kind, _, at = kill.partition(":")
        at, count = int(at or 0), [0]

        def tick():
            count[0] += 1
            if count[0] == at:
                os.kill(os.getpid(), signal.SIGKILL)

        if kind == "step":
            step = module.MultimodalLightningModule.training_step
            def training_step(self, batch, index):
                tick()
                return step(self, batch, index)
            module.MultimodalLightningModule.training_step = training_step
            forward_loss = fast_loop._forward_loss  # the engine's single-process loop
            def fast_step(*args):
                tick()
                return forward_loss(*args)
            fast_loop._forward_loss = fast_step
        elif kind == "write":
            save = torch.save
            def torch_save(obj, f, *args, **kwargs):
                if hasattr(f, "write"):
                    count[0] += 1
                    if count[0] == at:
                        buffer = io.BytesIO()
                        save(obj, buffer, *args, **kwargs)
                        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                        f.flush()
                        os.kill(os.getpid(), signal.SIGKILL)
                return save(obj, f, *args, **kwargs)
            torch.save = torch_save
        elif kind == "replace":
            replace = os.replace
            def os_replace(src, dst):
                if str(src).endswith(".tmp"):
                    tick()
                return replace(src, dst)
            os.replace = os_replace
        fit(config, resume=resume)

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                child(job["config"], job["resume"], job["kill"])
                code = 0
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status), flush=True)
''')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    script = tmp_path_factory.mktemp("server") / "server.py"
    script.write_text(SERVER)
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})

    def run(config, resume=False, kill="none:0") -> int:
        proc.stdin.write(json.dumps({"config": config, "resume": resume, "kill": kill}) + "\n")
        proc.stdin.flush()
        return int(proc.stdout.readline())

    yield run
    proc.stdin.close()
    proc.wait(timeout=60)


def completed_epochs(out) -> int:
    """The latest completed epoch on disk (what a resume starts after)."""
    found = [load_checkpoint_file(p)["callbacks"]["polymodal.RunCheckpoints"]["epochs_completed"]
             for p in (out / "run" / "checkpoints").glob("*.ckpt")]
    return max(found, default=0)


def small_config(out, epochs=7):
    return {
        "name": "run", "seed": 3, "output_dir": str(out),
        "data": {"modalities": ["fou", "kar"], "batch_size": 100},
        "model": {"encoder": {"name": "mlp", "hidden": [16]}, "head": {"name": "mlp", "hidden": [16], "dropout": 0.3}},
        "optim": {"lr": 0.01},
        # last.ckpt at every epoch (the default waits 10 s between them): kill tests know the epoch on disk
        "trainer": {"max_epochs": epochs, "patience": None, "progress": False, "checkpoint_min_interval_s": 0},
    }


def run_files(out):
    folder = out / "run"
    return {
        "state": load_checkpoint_file(folder / "checkpoints" / "last.ckpt")["state_dict"],
        "best": load_checkpoint_file(folder / "checkpoints" / "best.ckpt")["state_dict"],
        "metrics": (folder / "logs" / "metrics.csv").read_text(),
        "test": json.loads((folder / "result.json").read_text())["test"],
    }


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path, server):
    assert server(small_config(tmp_path / "full")) == 0  # uninterrupted, in the same kind of process
    full = run_files(tmp_path / "full")

    out = tmp_path / "killed"
    rng = random.Random(0)
    # 12 steps per epoch; per epoch 1-2 checkpoint writes (best if improved, last) and 2-3 atomic renames
    # (+ config.yaml at start). The first kill lands in epoch 0, before any checkpoint; each later one after
    # the resumed process completed at least one epoch, and before the run could finish
    kills = [f"step:{rng.randint(1, 12)}", f"step:{rng.randint(13, 24)}", f"write:{rng.randint(3, 4)}",
             f"replace:{rng.randint(5, 6)}"]
    resumed_at = []
    for i, kill in enumerate(kills):
        resumed_at.append(completed_epochs(out))
        assert server(small_config(out), resume=i > 0, kill=kill) == -9, kill
    resumed_at.append(completed_epochs(out))
    assert server(small_config(out), resume=True) == 0
    assert resumed_at[0] == resumed_at[1] == 0 < resumed_at[2] <= resumed_at[3] <= resumed_at[4] < 7
    assert resumed_at[3] >= 3  # the write kill came after at least two more completed epochs
    print(f"crash-consistency: kills {kills}, resumed at completed epochs {resumed_at[1:]}")

    killed = run_files(out)
    assert full["state"].keys() == killed["state"].keys()
    for key in full["state"]:
        assert torch.equal(full["state"][key], killed["state"][key]), key
        assert torch.equal(full["best"][key], killed["best"][key]), key
    assert killed["metrics"] == full["metrics"] and len(full["metrics"].splitlines()) == 8
    assert killed["test"] == full["test"]
    assert not list((out / "run" / "checkpoints").glob(".*.tmp"))  # half-written files cleaned up


def test_killed_run_resumes_from_its_last_completed_epoch_not_its_best(tmp_path, server):
    config = small_config(tmp_path, epochs=8)
    config["optim"]["lr"] = 0.1  # a noisy validation loss: the best epoch (3) is not the last one
    assert server(config, kill="step:70") == -9  # 12 steps per epoch: killed during epoch 5 (0-based)
    ckpt = tmp_path / "run" / "checkpoints"
    assert not (ckpt / "last.ckpt").is_symlink()
    last = load_checkpoint_file(ckpt / "last.ckpt")
    best = load_checkpoint_file(ckpt / "best.ckpt")
    state = last["callbacks"]["polymodal.RunCheckpoints"]
    assert state["epochs_completed"] == 5 and last["epoch"] == 4
    assert best["epoch"] == state["best_epoch"] < 4  # the case where Lightning's last->best link lost epochs
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [0, 1, 2, 3, 4]
    assert server(config, resume=True) == 0  # continues with epoch 5; the history before it is kept as it was
    after = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    assert after[:6] == rows and [int(r.split(",")[0]) for r in after[1:]] == list(range(8))


def test_async_checkpoint_killed_during_a_write_loses_at_most_that_epoch_and_resumes_exactly(tmp_path, server):
    config = small_config(tmp_path / "full", epochs=4)
    assert server(config) == 0
    full = run_files(tmp_path / "full")
    out = tmp_path / "killed"
    config = small_config(out, epochs=4)
    config["trainer"]["async_checkpoint"] = True
    assert server(config, kill="step:13") == -9  # the first step of epoch 1: epoch 0's write just began
    assert completed_epochs(out) in (0, 1)  # the write in flight may be lost, nothing before it
    assert server(config, resume=True) == 0
    killed = run_files(out)
    for key in full["state"]:
        assert torch.equal(full["state"][key], killed["state"][key]), key
    assert killed["metrics"] == full["metrics"] and killed["test"] == full["test"]


def test_finished_run_is_not_retrained_and_config_changes_are_refused(tmp_path):
    config = small_config(tmp_path, epochs=2)
    first = fit(config)
    last = first.run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    again = fit(config, resume=True)
    assert again.already_finished and again.epochs == 2 and last.read_bytes() == before
    assert again.test_metrics == first.test_metrics
    stored = (first.run_dir / "config.yaml").read_text()
    assert "seed: 3" in stored and "lr: 0.01" in stored

    changed = small_config(tmp_path, epochs=2)
    changed["seed"], changed["optim"]["lr"] = 4, 0.02
    with pytest.raises(ConfigError, match=r"cannot resume .*last.ckpt with a different config: optim.lr: 0.01 -> 0.02; "
                       r"seed: 3 -> 4 \(only \[.*'trainer.max_epochs'.*\] may change, with --resume-with-changes\)"):
        fit(changed, resume=True, resume_with_changes=True)
    longer = small_config(tmp_path, epochs=3)
    with pytest.raises(ConfigError, match=r"trainer.max_epochs: 2 -> 3; pass --resume-with-changes"):
        fit(longer, resume=True)
    extended = fit(longer, resume=True, resume_with_changes=True)
    assert not extended.already_finished and extended.epochs == 3
    assert "max_epochs: 3" in (first.run_dir / "config.yaml").read_text()
    with pytest.raises(CheckpointError, match=r"nothing to resume: .*other/checkpoints/last.ckpt does not exist"):
        fit({**config, "name": "other"}, resume=True)


def test_overwrite_validates_everything_before_replacing_the_old_run(tmp_path, monkeypatch):
    config = small_config(tmp_path, epochs=1)
    first = fit(config)
    snapshot = {p: p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file()}

    def untouched():
        assert {p: p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file()} == snapshot
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no .run.new / .run.old left

    typo = small_config(tmp_path, epochs=1)
    typo["model"]["encoders"] = {"fuo": {"name": "mlp"}}
    with pytest.raises(ConfigError, match=r"model.encoders.fuo.*unknown modality"):
        fit(typo, overwrite=True)
    untouched()
    with pytest.raises(ConfigError, match="unknown config key 'trainer.max_epoch'"):
        fit({**config, "trainer": {"max_epoch": 2}}, overwrite=True)
    untouched()

    from polymodal.training import fast_loop, module

    def broken(self, batch, index):
        raise RuntimeError("training failed half-way")

    with monkeypatch.context() as patch:
        patch.setattr(module.MultimodalLightningModule, "training_step", broken)
        patch.setattr(fast_loop, "_forward_loss", lambda *args: broken(None, None, None))  # single-process loop
        with pytest.raises(RuntimeError, match="half-way"):
            fit(config, overwrite=True)
    untouched()

    other = small_config(tmp_path, epochs=1)
    other["seed"] = 5
    second = fit(other, overwrite=True)
    assert second.run_dir == first.run_dir and second.best_checkpoint == first.best_checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert "seed: 5" in (second.run_dir / "config.yaml").read_text()
    assert json.loads((second.run_dir / "result.json").read_text())["best_checkpoint"] == str(second.best_checkpoint)
    assert (second.run_dir / "checkpoints" / "best.ckpt").read_bytes() != snapshot[first.best_checkpoint]


def variable_length_sequences(n=120, seed=0):
    """Two modalities of sequences of 3..9 steps; label: sign of a's first-feature sum."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 10, n)
    a = [rng.normal(size=(t, 3)).astype(np.float32) for t in lengths]
    b = [rng.normal(size=(t, 2)).astype(np.float32) for t in lengths]
    target = np.array([int(x[:, 0].sum() > 0) for x in a])
    return MultimodalDataset({"a": a, "b": b}, target, name="varlen")


def test_dataloader_order_is_a_function_of_seed_and_epoch():
    """Regression (issue 14.4): the DataLoader path drew each epoch's order from
    one generator seeded once, so a loader rebuilt on resume replayed epoch 0."""
    data = variable_length_sequences(50)
    running = make_loader(data, 8, shuffle=True, seed=7)
    orders = []
    for epoch in range(3):
        _set_sampler_epoch(running, epoch)  # what Lightning does before each epoch
        orders.append([i for batch in running for i in batch.ids])
    fresh = make_loader(data, 8, shuffle=True, seed=7)  # a resumed run builds its loader anew
    _set_sampler_epoch(fresh, 2)
    assert [i for batch in fresh for i in batch.ids] == orders[2]
    assert orders[0] != orders[1] != orders[2] and sorted(orders[2]) == list(range(50))
    # the same permutation as the dense index loader's for the same (seed, epoch)
    dense = MultimodalDataset({"x": np.zeros((50, 2))}, np.zeros(50, dtype=int))
    index = IndexBatchLoader(dense, 8, shuffle=True, seed=7)
    index.set_epoch(2)
    assert [i for batch in index for i in batch.ids] == orders[2]


@pytest.mark.parametrize("encoder", ["gru", "lstm"])
def test_variable_length_recurrent_model_resumes_bitwise(tmp_path, encoder):
    def config(out, epochs):
        return {"name": "seq", "seed": 1, "output_dir": str(out),
                "data": {"batch_size": 16, "standardize": False},
                "model": {"encoder": {"name": encoder, "hidden": 6}, "head": {"name": "mlp", "hidden": [6], "dropout": 0.2}},
                "trainer": {"max_epochs": epochs, "patience": None, "progress": False}}

    full = fit(config(tmp_path / "a", 4), dataset=variable_length_sequences())
    fit(config(tmp_path / "b", 2), dataset=variable_length_sequences())
    half = load_checkpoint_file(tmp_path / "b" / "seq" / "checkpoints" / "last.ckpt")["state_dict"]
    resumed = fit(config(tmp_path / "b", 4), dataset=variable_length_sequences(), resume=True, resume_with_changes=True)
    sa = load_checkpoint_file(full.run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    sb = load_checkpoint_file(resumed.run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert (full.run_dir / "logs" / "metrics.csv").read_text() == (resumed.run_dir / "logs" / "metrics.csv").read_text()
    # and not trivially: epochs 3-4 changed the weights
    assert any(not torch.equal(sa[k], half[k]) for k in sa)


def _middle_of_largest_member(path):
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len + info.compress_size // 2


def test_cli_resume_finished_run_and_changes(tmp_path, capsys):
    import yaml

    from polymodal.cli import main

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**small_config(tmp_path, epochs=1), "name": "cli"}))
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    assert main(["train", str(path), "--resume"]) == 0
    out = capsys.readouterr()
    assert "had already finished (1 epochs); nothing was retrained" in out.err and "test: loss=" in out.out
    assert main(["train", str(path), "seed=9", "--resume"]) == 2
    assert "error: cannot resume" in capsys.readouterr().err
    assert main(["train", str(path), "trainer.max_epochs=2", "--resume", "--resume-with-changes"]) == 0
    assert "epochs: 2" in capsys.readouterr().out
    # a corrupted checkpoint: one line, exit 2 (it used to evaluate to loss 2.4e35 and exit 0)
    best = tmp_path / "cli" / "checkpoints" / "best.ckpt"
    data = bytearray(best.read_bytes())
    data[_middle_of_largest_member(best)] ^= 0x01  # a byte of tensor data (zip padding is not content)
    best.write_bytes(bytes(data))
    assert main(["evaluate", str(best)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: checkpoint {best} is corrupted") and err.count("\n") == 1


def test_cli_overrides_after_resume_are_overrides_not_a_checkpoint(tmp_path, capsys):
    import yaml

    from polymodal.cli import main

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**small_config(tmp_path, epochs=1), "name": "cli"}))
    assert main(["train", str(path)]) == 0
    # the order the CLI itself suggests for a finished run: it was "unrecognized arguments"
    assert main(["train", str(path), "--resume", "--resume-with-changes", "trainer.max_epochs=2"]) == 0
    assert "epochs: 2" in capsys.readouterr().out
    # key=value right after --resume: an override (it was taken as the checkpoint path "trainer.max_epochs=3")
    assert main(["train", str(path), "--resume", "trainer.max_epochs=3", "--resume-with-changes"]) == 0
    assert "epochs: 3" in capsys.readouterr().out
    # a checkpoint path, even one with '=' in its name as Lightning writes them, then an override
    ckpt = tmp_path / "epoch=2-step=9.ckpt"
    ckpt.write_bytes((tmp_path / "cli" / "checkpoints" / "last.ckpt").read_bytes())
    assert main(["train", str(path), "--resume", str(ckpt), "trainer.max_epochs=4", "--resume-with-changes"]) == 0
    assert "epochs: 4" in capsys.readouterr().out
    # what is neither stays an error
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(path), "--resume", "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
