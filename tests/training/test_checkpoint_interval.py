"""``trainer.checkpoint_min_interval_s``: ``last.ckpt`` is written every
``checkpoint_every_n_epochs`` epochs once that many seconds have passed since the previous one
(training's start counts as one), and always at the final epoch; ``best.ckpt`` (the best epoch's
state, held in memory until then) once that many seconds have passed since the previous one, with
every ``last.ckpt`` and at the end. Both engines follow the same rule; an interrupted run resumes
exactly from whichever of the two files is newer."""

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
    """A short run under the default 10 s writes no checkpoint before it ends (its best epoch is held in
    memory): interrupted in epoch 3 it has none on disk, and the resume restarts it from scratch, ending
    with the uninterrupted run's weights and metrics."""
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
    assert not folder.exists() or not any(folder.iterdir())
    monkeypatch.setattr(fast_loop, "_forward_loss", forward_loss)
    resumed = fit(_config(out, 6), dataset=_data(), resume=True)
    for name in ("best.ckpt", "last.ckpt"):
        a = load_checkpoint_file(full.run_dir / "checkpoints" / name)
        b = load_checkpoint_file(resumed.run_dir / "checkpoints" / name)
        assert a["epoch"] == b["epoch"]
        for key, value in a["state_dict"].items():
            assert torch.equal(value, b["state_dict"][key]), key
    assert (full.run_dir / "logs" / "metrics.csv").read_text() == (resumed.run_dir / "logs" / "metrics.csv").read_text()


def _same(a, b) -> bool:
    """Exact equality of nested checkpoint values (tensors bit for bit)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _epochs_on_disk(tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    return tuple(load_checkpoint_file(folder / name)["epoch"] if (folder / name).exists() else None
                 for name in ("best.ckpt", "last.ckpt"))


def _fake_clock_run(tmp_path, monkeypatch, engine, epochs, seconds, improves, *, kill_in=None, first_epoch=0,
                    **trainer):
    """Train with a fake clock that gives every epoch ``seconds`` and a monitored value that improves at the
    epochs where ``improves(epoch)``; returns ``(best epoch, last epoch)`` on disk after every epoch end.
    ``kill_in``: the run dies in that epoch, before its checkpoints; ``first_epoch`` > 0: resume the run
    (the clock goes on from that epoch's start)."""
    now, seen = [first_epoch * seconds], []
    monkeypatch.setattr(checkpoint.CheckpointSchedule, "clock", staticmethod(lambda: now[0]))
    if engine == "lightning":
        monkeypatch.setenv("POLYMODAL_ENGINE", "lightning")
        epoch_end = run_checkpoints.RunCheckpoints.on_train_epoch_end
        monkeypatch.setattr(run_checkpoints.RunCheckpoints, "_improved",
                            lambda self, score: improves(len(self.history) - 1))

        def timed_epoch_end(self, trainer, module):
            now[0] += seconds
            if trainer.current_epoch == kill_in:
                raise RuntimeError("killed")
            epoch_end(self, trainer, module)
            seen.append(_epochs_on_disk(tmp_path))

        monkeypatch.setattr(run_checkpoints.RunCheckpoints, "on_train_epoch_end", timed_epoch_end)
    else:
        validate, submit, epoch = fast_loop.validate, fast_loop.BackgroundWriter.submit, [first_epoch - 1]

        def timed_validate(model, task, loader, device):  # once per epoch, before its checkpoint decision
            now[0] += seconds
            epoch[0] += 1
            if epoch[0] == kill_in:
                raise RuntimeError("killed")
            out = validate(model, task, loader, device)
            return {**out, "val_loss": 0.5 ** sum(map(improves, range(epoch[0] + 1)))}

        def submit_and_record(self, what, *jobs):  # the epoch's writes (synchronous by default) are done
            submit(self, what, *jobs)
            seen.append(_epochs_on_disk(tmp_path))

        monkeypatch.setattr(fast_loop, "validate", timed_validate)
        monkeypatch.setattr(fast_loop.BackgroundWriter, "submit", submit_and_record)
    result = fit(_config(tmp_path, epochs, **trainer), dataset=_data(), resume=first_epoch > 0)
    return seen, result


@pytest.mark.parametrize("engine", ["fast", "lightning"])
def test_best_checkpoint_waits_the_minimum_interval_and_every_last(tmp_path, monkeypatch, engine):
    """Every epoch improves and takes 5 s; minimum 12 s, last.ckpt every 2 epochs. best.ckpt is written 15 s
    after the start (epoch 2), with last.ckpt (epoch 3: ``last`` due, 20 s), 15 s after its previous write
    (epoch 6) and at the end; last.ckpt at epochs 3 and 7, as without the deferral."""
    seen, _ = _fake_clock_run(tmp_path, monkeypatch, engine, 8, 5.0, lambda epoch: True,
                              checkpoint_min_interval_s=12, checkpoint_every_n_epochs=2)
    assert [best for best, _ in seen] == [None, None, 2, 3, 3, 3, 6, 7]
    assert [last for _, last in seen] == [None, None, None, 3, 3, 3, 3, 7]


@pytest.mark.parametrize("engine", ["fast", "lightning"])
def test_a_held_best_epoch_is_written_exactly_as_at_once(tmp_path, monkeypatch, engine):
    """Only epochs 0 and 4 improve: epoch 0's state is held 15 s and written at epoch 2; the files equal a
    run that writes every improvement at once (interval 0): weights, optimiser state, RNG state, history."""
    improves = {0, 4}.__contains__
    held, _ = _fake_clock_run(tmp_path / "held", monkeypatch, engine, 6, 5.0, improves, checkpoint_min_interval_s=12)
    assert [best for best, _ in held] == [None, None, 0, 0, 0, 4]
    monkeypatch.undo()
    eager, _ = _fake_clock_run(tmp_path / "eager", monkeypatch, engine, 6, 5.0, improves, checkpoint_min_interval_s=0)
    assert [best for best, _ in eager] == [0, 0, 0, 0, 4, 4]
    for name in ("best.ckpt", "last.ckpt"):
        a = load_checkpoint_file(tmp_path / "held" / "run" / "checkpoints" / name)
        b = load_checkpoint_file(tmp_path / "eager" / "run" / "checkpoints" / name)
        for key in ("epoch", "global_step", "state_dict", "optimizer_states", "callbacks"):  # callbacks: history, RNG
            assert _same(a[key], b[key]), (name, key)


def test_a_best_state_above_the_memory_bound_is_written_at_once(tmp_path, monkeypatch):
    """With the bound at 0 bytes no state is held: every improvement is written at once, as with interval 0."""
    monkeypatch.setattr(fast_loop, "DEFERRED_BEST_MAX_BYTES", 0)
    seen, _ = _fake_clock_run(tmp_path, monkeypatch, "fast", 4, 1.0, lambda epoch: True, checkpoint_min_interval_s=12)
    assert [best for best, _ in seen] == [0, 1, 2, 3]


def test_detached_copy_keeps_views_and_is_independent():
    from collections import OrderedDict

    flat = torch.arange(6.0)
    state = OrderedDict(a=flat[:2].view(1, 2), b=flat[2:], n=3, rows=[{"x": 1.0}])
    copy = checkpoint.detached_copy(state)
    flat.zero_()
    assert type(copy) is OrderedDict and copy["n"] == 3 and copy["rows"] == [{"x": 1.0}]
    assert torch.equal(copy["a"], torch.tensor([[0.0, 1.0]])) and torch.equal(copy["b"], torch.arange(2.0, 6.0))
    assert copy["a"].untyped_storage().data_ptr() == copy["b"].untyped_storage().data_ptr()  # one buffer, saved once
    assert checkpoint.tensor_bytes(copy) == 24
    sparse = torch.eye(3).to_sparse()
    held = checkpoint.detached_copy({"s": sparse})["s"]
    assert held.is_sparse and torch.equal(held.to_dense(), torch.eye(3)) and checkpoint.tensor_bytes([sparse]) == 36


@pytest.mark.parametrize("engine", ["fast", "lightning"])
def test_a_run_resumes_exactly_from_best_when_it_is_newer_than_last(tmp_path, monkeypatch, engine):
    """Every epoch improves and takes 5 s, minimum 12 s, last.ckpt every 2 epochs: killed in epoch 3, the run
    has only best.ckpt (epoch 2); the resume from it ends with the uninterrupted run's files and metrics."""
    every = {"checkpoint_min_interval_s": 12, "checkpoint_every_n_epochs": 2}
    _, full = _fake_clock_run(tmp_path / "full", monkeypatch, engine, 6, 5.0, lambda epoch: True, **every)
    monkeypatch.undo()
    out = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="killed"):
        _fake_clock_run(out, monkeypatch, engine, 6, 5.0, lambda epoch: True, kill_in=3, **every)
    assert _epochs_on_disk(out) == (2, None)
    monkeypatch.undo()
    _, resumed = _fake_clock_run(out, monkeypatch, engine, 6, 5.0, lambda epoch: True, first_epoch=3, **every)
    for name in ("best.ckpt", "last.ckpt"):
        a = load_checkpoint_file(full.run_dir / "checkpoints" / name)
        b = load_checkpoint_file(resumed.run_dir / "checkpoints" / name)
        for key in ("epoch", "global_step", "state_dict", "optimizer_states"):
            assert _same(a[key], b[key]), (name, key)
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
