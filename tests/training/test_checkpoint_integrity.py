"""Checkpoint integrity: every damaged file is refused with an accurate
message, or (when the damage hit bytes nothing reads) loads bit-identically."""

import math
import os
import random
import stat
import struct
import zipfile

import pytest
import torch

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.errors import CheckpointError
from polymodal.training import checkpoint as ckpt_module
from polymodal.training.checkpoint import atomic_save, load_checkpoint_file
from polymodal.training.engine import fit, load_trained
from polymodal.training.resume import check_state_fits



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real checkpoint written by fit (1 epoch, tiny model)."""
    root = tmp_path_factory.mktemp("integrity")
    result = fit({
        "name": "run", "data": {"modalities": ["fou", "kar"]}, "output_dir": str(root),
        "model": {"encoder": {"name": "mlp", "hidden": [8]}, "head": {"name": "mlp", "hidden": [8], "dropout": 0.3}},
        "trainer": {"max_epochs": 1, "patience": None, "progress": False},
    })
    path = result.best_checkpoint
    return path, path.read_bytes(), load_checkpoint_file(path)


def same(a, b) -> bool:
    """Deep, bitwise equality of loaded checkpoints (NaN equals NaN)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_random_byte_flips_and_truncations_are_refused_or_harmless(trained, tmp_path):
    path, data, original = trained
    rng = random.Random(0)
    n = len(data)
    tail = n - 1600  # the central directory and the end record live in the last ~1.5 KB
    cases = ([("flip", rng.randrange(n)) for _ in range(150)] + [("flip", rng.randrange(tail, n)) for _ in range(150)]
             + [("truncate", rng.randrange(n)) for _ in range(60)])
    counts = {"refused": 0, "identical": 0}
    for i, (kind, offset) in enumerate(cases):
        bad = bytearray(data)
        if kind == "flip":
            bad[offset] ^= 1 << rng.randrange(8)
        else:
            bad = bad[:offset]
        target = tmp_path / f"case{i}.ckpt"
        target.write_bytes(bytes(bad))
        try:
            loaded = load_checkpoint_file(target)
        except CheckpointError as error:
            message = str(error)
            assert str(target) in message and "\n" not in message, message
            assert "weights_only=False" not in message
            counts["refused"] += 1
        else:
            assert same(loaded, original), f"{kind} at byte {offset} loaded a different checkpoint"
            counts["identical"] += 1
        target.unlink()
    print(f"corruption cases: {len(cases)} tried, {counts}")
    assert counts["refused"] + counts["identical"] == len(cases) == 360
    assert counts["refused"] >= 300, counts  # nearly every byte is read: data, headers, directory


def test_each_failure_has_its_own_message(trained, tmp_path, monkeypatch):
    path, data, _ = trained
    cases = {
        "empty": (b"", r"empty.ckpt is empty \(0 bytes\)$"),
        "truncated": (data[: len(data) // 2], r"truncated.ckpt is truncated or corrupted: no valid zip directory"),
        "garbage": (b"hello, not a checkpoint", r"garbage.ckpt is not a torch zip checkpoint"),
    }
    for name, (content, pattern) in cases.items():
        target = tmp_path / f"{name}.ckpt"
        target.write_bytes(content)
        with pytest.raises(CheckpointError, match=pattern):
            load_checkpoint_file(target)
    with pytest.raises(CheckpointError, match=r"^checkpoint file not found: .*nope.ckpt$"):
        load_checkpoint_file(tmp_path / "nope.ckpt")
    # a flipped bit in the tensor data: the zip CRC names the member
    flipped = bytearray(data)
    with zipfile.ZipFile(path) as archive:
        member = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    name_len, extra_len = struct.unpack("<HH", data[member.header_offset + 26 : member.header_offset + 30])
    flipped[member.header_offset + 30 + name_len + extra_len + 1] ^= 0x10  # the first tensor's second byte
    (tmp_path / "flipped.ckpt").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match=r"flipped.ckpt is corrupted: Bad CRC-32 for file '.*data/0'"):
        load_checkpoint_file(tmp_path / "flipped.ckpt")
    # permission denied (root reads anything: simulate the OS refusal there)
    locked = tmp_path / "locked.ckpt"
    locked.write_bytes(data)
    if os.geteuid() == 0:
        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(locked))
        monkeypatch.setattr(ckpt_module, "open", denied, raising=False)
    else:
        locked.chmod(0)
    with pytest.raises(CheckpointError, match=r"^cannot read checkpoint .*locked.ckpt: permission denied$"):
        load_checkpoint_file(locked)


def test_content_hash_catches_a_consistent_rewrite(trained, tmp_path):
    """A member changed *with* a valid CRC (a rewritten zip) fails the SHA-256 seal."""
    path, _, _ = trained
    forged = tmp_path / "forged.ckpt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            payload = src.read(info)
            if info.filename.endswith("/data/0"):
                payload = bytes([payload[0] ^ 1]) + payload[1:]
            dst.writestr(info, payload)
    with pytest.raises(CheckpointError, match=r"forged.ckpt is corrupted: its content SHA-256 .* does not match"):
        load_checkpoint_file(forged)


def test_hostile_and_unsealed_checkpoints(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.ckpt"
    atomic_save({"state_dict": {}, "x": Evil()}, evil)  # even sealed, it is refused
    with pytest.raises(CheckpointError, match=r"evil.ckpt refused: it holds pickled code or objects \((posix|os)\.system\)") as info:
        load_checkpoint_file(evil)
    assert "weights_only=False" not in str(info.value) and str(info.value).endswith("not written by polymodal")
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, plain)
    with pytest.raises(CheckpointError, match="plain.ckpt has no polymodal integrity seal"):
        load_checkpoint_file(plain)
    assert torch.equal(load_checkpoint_file(plain, require_seal=False)["state_dict"]["w"], torch.ones(2))


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "a.ckpt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.ckpt").stat().st_mode) == 0o666 & ~umask


def test_wrong_model_names_the_parameter_and_both_shapes(trained, tmp_path):
    path, _, original = trained
    model = load_trained(path)[0]
    state = dict(original["state_dict"])
    key = next(k for k in state if k.endswith("weight"))
    state[key] = torch.zeros(state[key].shape[0] + 3, *state[key].shape[1:])
    with pytest.raises(CheckpointError, match=rf"parameter '{key}' has shape \({state[key].shape[0]}, .*\) in the "
                       rf"checkpoint, \({original['state_dict'][key].shape[0]}, .*\) in the model"):
        check_state_fits(model, state, "x.ckpt")
    bad = tmp_path / "other_model.ckpt"
    atomic_save({**original, "state_dict": state}, bad)
    with pytest.raises(CheckpointError, match=rf"other_model.ckpt does not fit the model the config builds: parameter '{key}'"):
        load_trained(bad)


def test_a_member_marked_as_a_directory_is_refused(trained, tmp_path):
    """torch's zip reader (miniz) treats a member whose external attributes carry the MS-DOS directory bit as
    a directory and never reads it, so its tensor loads as uninitialised memory while zipfile (and so the seal)
    sees the bytes unchanged: one flipped bit in the central directory loaded garbage before this check."""
    path, data, _ = trained
    with zipfile.ZipFile(path) as archive:
        names = [i.filename for i in archive.infolist()]
        entry = archive.start_dir  # the central directory's first entry
    member = next(n for n in names if "/data/" in n and not n.endswith("polymodal_sha256")
                  and "serialization_id" not in n)
    for _ in names:  # walk the central directory to the member's entry
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[entry + 28:entry + 34])
        if data[entry + 46:entry + 46 + name_len].decode() == member:
            break
        entry += 46 + name_len + extra_len + comment_len
    bad = bytearray(data)
    bad[entry + 38] |= 0x10  # external attributes, low byte: the MS-DOS directory bit
    target = tmp_path / "directory_bit.ckpt"
    target.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match=r"directory_bit.ckpt is corrupted: member .* is marked as a directory"):
        load_checkpoint_file(target)


def test_rng_state_round_trips_in_the_new_and_the_older_python_state_form():
    """rng_state stores Python's Mersenne Twister words as one int64 tensor (cheaper to pickle); a checkpoint of
    an older polymodal stored them as a list, and both restore the same stream (torch, numpy and Python)."""
    import random

    import numpy as np

    from polymodal.training.checkpoint import rng_state, set_rng_state

    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    state = rng_state()
    assert isinstance(state["python"]["state"], torch.Tensor) and state["python"]["state"].dtype == torch.int64

    def draws():
        return [random.random() for _ in range(3)], np.random.rand(3).tolist(), torch.rand(3).tolist()

    expected = draws()
    set_rng_state(state)
    assert draws() == expected
    older = {**state, "python": {**state["python"], "state": state["python"]["state"].tolist()}}
    set_rng_state(older)
    assert draws() == expected
