"""How the fast loop writes checkpoints (serialised on the training thread, sealed in memory,
written + fsynced + renamed there or, with ``trainer.async_checkpoint``, on one background
thread): the sealed bytes are the format the verifier has always checked, a failed write is a
CheckpointError from ``fit``, an interrupted run keeps its last complete checkpoints, and every
file is on disk when ``fit`` returns."""

import io
import os
import zipfile

import pytest
import torch

from polymodal.errors import CheckpointError
from polymodal.training import checkpoint, fast_loop
from polymodal.training.checkpoint import BackgroundWriter, atomic_save, load_checkpoint_file, verify_checkpoint_file
from polymodal.training.engine import fit
from toy_data import two_modality_classification


def _data(n=120, seed=0):
    return two_modality_classification(n, seed)


def _config(tmp_path, epochs=4, async_checkpoint=False, min_interval_s=0.0):
    """A toy run; ``min_interval_s`` 0 (not the default 10 s): last.ckpt at every epoch."""
    return {"name": "run", "seed": 1, "data": {"name": "toy", "batch_size": 16},
            "model": {"encoder": {"name": "mlp", "hidden": [8]}, "fusion": {"name": "concat"},
                      "head": {"name": "mlp", "hidden": [8]}},
            "optim": {"name": "rmsprop", "lr": 3e-3},
            "trainer": {"max_epochs": epochs, "patience": None, "progress": False,
                        "async_checkpoint": async_checkpoint, "checkpoint_min_interval_s": min_interval_s},
            "output_dir": str(tmp_path)}


def _old_atomic_save_bytes(obj, path):
    """The previous writer: torch.save to a file, reopen it as a zip, append the seal."""
    with open(path, "wb") as handle:
        torch.save(obj, handle)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(checkpoint._hash_member_name(archive), checkpoint._content_digest(archive))
    return path.read_bytes()


def test_sealed_in_memory_equals_the_file_sealed_on_disk(tmp_path):
    obj = {"state_dict": {"w": torch.randn(300, 7), "b": torch.arange(5)}, "history": [{"epoch": 0, "loss": 0.5}],
           "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}}]}
    old = _old_atomic_save_bytes(obj, tmp_path / "old.ckpt")
    atomic_save(obj, tmp_path / "new.ckpt")
    assert (tmp_path / "new.ckpt").read_bytes() == old  # byte for byte: same members, same seal
    assert verify_checkpoint_file(tmp_path / "new.ckpt") == verify_checkpoint_file(tmp_path / "old.ckpt")
    for name in ("old.ckpt", "new.ckpt"):  # a file the old code wrote still loads
        assert torch.equal(load_checkpoint_file(tmp_path / name)["state_dict"]["w"], obj["state_dict"]["w"])


def test_background_writer_raises_a_job_failure_as_checkpoint_error():
    writer = BackgroundWriter()
    done = []
    writer.submit("a", lambda: done.append(1))
    writer.submit("b.ckpt", lambda: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(CheckpointError, match=r"writing b.ckpt failed: OSError: .*No space left") as info:
        writer.wait()
    assert isinstance(info.value.__cause__, OSError) and done == [1]
    writer.wait()  # reported once


def test_ctrl_c_during_a_synchronous_write_stays_a_keyboard_interrupt():
    writer = BackgroundWriter(background=False)
    with pytest.raises(KeyboardInterrupt):
        writer.submit("a.ckpt", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(CheckpointError, match=r"writing b.ckpt failed: OSError"):
        writer.submit("b.ckpt", lambda: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    writer.wait()  # nothing left to report


@pytest.mark.parametrize("async_checkpoint", [False, True])
def test_a_failed_checkpoint_write_is_a_checkpoint_error_from_fit(tmp_path, monkeypatch, async_checkpoint):
    replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("last.ckpt") or str(dst).endswith("best.ckpt"):
            raise PermissionError(13, "Permission denied", str(dst))
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(CheckpointError, match=r"writing the checkpoints of epoch \d+ .* failed: PermissionError"):
        fit(_config(tmp_path, async_checkpoint=async_checkpoint), dataset=_data())  # the old loop let the PermissionError through


@pytest.mark.parametrize("async_checkpoint", [False, True])
@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_run_keeps_its_last_complete_checkpoints(tmp_path, monkeypatch, interrupt, async_checkpoint):
    forward_loss, steps = fast_loop._forward_loss, [0]

    def step(*args):  # 5 steps an epoch (72 training samples, batch 16): raised in epoch 2
        steps[0] += 1
        if steps[0] == 13:
            raise interrupt("stop")
        return forward_loss(*args)

    monkeypatch.setattr(fast_loop, "_forward_loss", step)
    with pytest.raises(interrupt):
        fit(_config(tmp_path, epochs=6, async_checkpoint=async_checkpoint), dataset=_data())
    folder = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]  # no temporary left
    last = load_checkpoint_file(folder / "last.ckpt")
    verify_checkpoint_file(folder / "best.ckpt")
    epochs_done = last["callbacks"]["polymodal.RunCheckpoints"]["epochs_completed"]
    assert epochs_done == len(last["callbacks"]["polymodal.RunCheckpoints"]["history"]) >= 2
    per_epoch = last["global_step"] // epochs_done
    assert epochs_done == 12 // per_epoch  # the last epoch completed before the interrupted one


def test_async_every_file_is_on_disk_when_fit_returns_even_with_a_slow_disk(tmp_path, monkeypatch):
    import time

    write, order = fast_loop.write_sealed, []

    def slow_write(data, path):
        time.sleep(0.1)  # a slow disk: the writer is still busy when training moves on
        write(data, path)
        order.append(path.name)

    monkeypatch.setattr(fast_loop, "write_sealed", slow_write)
    result = fit(_config(tmp_path, epochs=3, async_checkpoint=True), dataset=_data())
    folder = result.run_dir / "checkpoints"
    last = load_checkpoint_file(folder / "last.ckpt")
    assert last["epoch"] == 2 and len(last["callbacks"]["polymodal.RunCheckpoints"]["history"]) == 3
    verify_checkpoint_file(folder / "best.ckpt")
    assert len((result.run_dir / "logs" / "metrics.csv").read_text().splitlines()) == 4
    assert order  # the slow writer was used
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_serialize_fixes_the_bytes_at_call_time():
    w = torch.zeros(4)
    buffer = checkpoint.serialize({"state_dict": {"w": w}})
    w += 1  # training goes on while the writer thread seals and writes
    loaded = torch.load(io.BytesIO(bytes(checkpoint.seal(buffer))), weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], torch.zeros(4))


def test_without_async_each_epoch_is_on_disk_before_the_next_one_trains(tmp_path, monkeypatch):
    import time

    write, forward_loss, seen = fast_loop.write_sealed, fast_loop._forward_loss, []

    def slow_write(data, path):
        time.sleep(0.05)  # a slow disk: with the background writer the next epoch would start first
        write(data, path)

    def step(*args):  # at each step: how many epochs last.ckpt on disk holds
        path = tmp_path / "run" / "checkpoints" / "last.ckpt"
        seen.append(load_checkpoint_file(path)["callbacks"]["polymodal.RunCheckpoints"]["epochs_completed"]
                    if path.exists() else 0)
        return forward_loss(*args)

    monkeypatch.setattr(fast_loop, "write_sealed", slow_write)
    monkeypatch.setattr(fast_loop, "_forward_loss", step)
    fit(_config(tmp_path, epochs=3), dataset=_data())
    per_epoch = len(seen) // 3
    assert seen == [e for e in range(3) for _ in range(per_epoch)]  # epoch e trains with e epochs on disk
