"""Checkpoint files: atomic, sealed writes; verified, safe loads.

A checkpoint is torch's zip format plus one extra member, ``<archive>/.data/
polymodal_sha256``: the SHA-256 of every other member (name and bytes, in
order), written at save time. :func:`load_checkpoint_file` checks the zip CRC
of every member, then loads with ``weights_only=True`` (no code from the file
runs), then recomputes the SHA-256 and compares; every failure is a
:class:`~polymodal.errors.CheckpointError` naming the file and what failed.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from polymodal.errors import CheckpointError

__all__ = ["atomic_save", "atomic_write_text", "BackgroundWriter", "CheckpointSchedule", "detached_copy", "serialize", "seal", "write_sealed", "format_history",
           "link_atomically", "rng_state", "set_rng_state", "load_checkpoint_file", "verify_checkpoint_file",
           "tensor_bytes", "DEFERRED_BEST_MAX_BYTES", "HASH_MEMBER", "RUN_STATE_KEY", "run_state"]

HASH_MEMBER = ".data/polymodal_sha256"  # under the archive's top folder
RUN_STATE_KEY = "polymodal.RunCheckpoints"  # where both training loops store the run's state in a checkpoint
_ZIP_MAGIC = b"PK\x03\x04"
_DOS_DIRECTORY = 0x10  # the MS-DOS directory bit of a zip member's external attributes


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide and racy)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _content_digest(archive: zipfile.ZipFile, skip: str | None = None) -> str:
    """SHA-256 over (name, size, bytes) of every member but ``skip``; reading
    each member checks its zip CRC (``zipfile.BadZipFile`` on mismatch)."""
    digest = hashlib.sha256()
    for info in archive.infolist():
        if info.external_attr & _DOS_DIRECTORY:
            # torch's reader (miniz) skips a member marked as a directory and leaves its tensor's memory
            # uninitialised, while zipfile reads it normally: the seal alone would pass such a file
            raise zipfile.BadZipFile(f"member {info.filename!r} is marked as a directory (external attributes "
                                     f"{info.external_attr:#x})")
        if info.filename == skip:
            continue
        _add_member(digest, info.filename, archive.read(info))
    return digest.hexdigest()


def _add_member(digest, name: str, data) -> None:
    """One member's share of the seal: its name, its size in bytes and its bytes."""
    digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
    digest.update(data)


def _stored_digest(archive: zipfile.ZipFile, data: memoryview) -> str:
    """:func:`_content_digest` of an archive whose bytes ``data`` were just written in memory,
    hashed in place: stored (uncompressed) members are read straight from ``data`` (no copy,
    no CRC check: nothing read them back from a disk); others through :func:`_content_digest`.
    The same digest, ~2x faster on a torch checkpoint (every member is stored)."""
    if any(info.compress_type != zipfile.ZIP_STORED for info in archive.infolist()):
        return _content_digest(archive)
    digest = hashlib.sha256()
    for info in archive.infolist():
        start = info.header_offset  # local header: 30 bytes, then name and extra (their lengths at 26 and 28)
        if bytes(data[start:start + 4]) != _ZIP_MAGIC:
            return _content_digest(archive)
        start += 30 + int.from_bytes(data[start + 26:start + 28], "little") + int.from_bytes(
            data[start + 28:start + 30], "little")
        _add_member(digest, info.filename, data[start:start + info.file_size])
    return digest.hexdigest()


def _hash_member_name(archive: zipfile.ZipFile) -> str:
    first = archive.infolist()[0].filename
    return f"{first.split('/', 1)[0]}/{HASH_MEMBER}"


def _write_atomically(path: Path, data, durable: bool = True) -> None:
    """Create ``path`` holding the bytes ``data``: write them to a temporary file
    in the same folder, fsync, then ``os.replace``: a crash leaves the old file
    or the new one, never a part. The file gets the mode a plain ``open`` would
    (0o666 minus the umask). ``durable=False`` skips the fsyncs (still atomic if
    the process dies; for files that can be re-derived after a power loss)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # POSIX: mkstemp makes 0600 files
                os.fchmod(handle.fileno(), 0o666 & ~_umask())
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def link_atomically(source: str | Path, path: str | Path) -> bool:
    """Make ``path`` a hard link to the (complete) file ``source``, replacing
    ``path`` atomically: the same bytes without writing them again. Returns
    False where hard links are not supported (then nothing changed)."""
    source, path = Path(source), Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.link.tmp"
    try:
        if tmp.exists():
            tmp.unlink()
        os.link(source, tmp)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    _fsync_dir(path.parent)
    return True


def serialize(obj: Any) -> io.BytesIO:
    """``torch.save`` ``obj`` into memory (not yet sealed: :func:`seal`). What a
    checkpoint holds is fixed here: later changes to ``obj``'s tensors do not
    reach the bytes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer


def seal(buffer: io.BytesIO) -> memoryview:
    """Append the SHA-256 seal (:data:`HASH_MEMBER`) to the output of
    :func:`serialize` in memory; returns the sealed bytes, the same bytes that
    sealing the file on disk gives (no re-read of a file)."""
    with zipfile.ZipFile(buffer, "a") as archive:
        with buffer.getbuffer() as data:  # released before the append below resizes the buffer
            digest = _stored_digest(archive, data)
        archive.writestr(_hash_member_name(archive), digest)
    return buffer.getbuffer()


def write_sealed(data, path: str | Path) -> None:
    """Write the bytes :func:`seal` returned to ``path`` atomically and durably."""
    _write_atomically(Path(path), data)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically (temporary file in the same
    folder, fsync, ``os.replace``), sealed with the SHA-256 of its content
    (serialised and sealed in memory, then written once)."""
    write_sealed(seal(serialize(obj)), path)


def atomic_write_text(text: str, path: str | Path, durable: bool = True) -> None:
    """Write a text file (UTF-8) atomically (same guarantees as :func:`atomic_save`;
    ``durable=False``: no fsync, for files re-derivable after a power loss)."""
    _write_atomically(Path(path), text.encode(), durable)


class BackgroundWriter:
    """Runs one job at a time (a list of callables: write, fsync, rename of bytes
    already serialised) on a background thread while training continues
    (``background=False``: on the caller's thread, before :meth:`submit` returns).

    :meth:`submit` first waits for the previous job, so writes never overlap or
    reorder; :meth:`wait` joins the job in flight and raises its failure as a
    :class:`CheckpointError` naming what was being written (an error is never
    lost in the thread). Call :meth:`wait` before reading the files and before
    returning; on an exception, ``wait(raise_error=False)`` lets the write in
    flight finish without hiding the original error.
    """

    def __init__(self, background: bool = True) -> None:
        self.background = background
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._what = ""

    def _run(self, jobs) -> None:
        try:
            for job in jobs:
                job()
        except BaseException as error:  # noqa: BLE001 - re-raised by wait() on the training thread
            self._error = error

    def submit(self, what: str, *jobs) -> None:
        self.wait()
        self._what = what
        if not self.background:  # on this thread: Ctrl-C stays a KeyboardInterrupt, a failed write a CheckpointError
            try:
                for job in jobs:
                    job()
            except Exception as error:
                raise self._failure(error) from error
            return
        self._thread = threading.Thread(target=self._run, args=(jobs,), name="polymodal-checkpoint-writer",
                                        daemon=True)
        self._thread.start()

    def wait(self, raise_error: bool = True) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise self._failure(error) from error

    def _failure(self, error: BaseException) -> CheckpointError:
        return CheckpointError(f"writing {self._what} failed: {type(error).__name__}: {error}")


def _hostile_global(message: str) -> str | None:
    found = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"[Uu]nsupported operand (\S+)", message)
    return found.group(1) if found else None


def verify_checkpoint_file(path: str | Path) -> str:
    """Check that ``path`` is a complete, unaltered polymodal checkpoint: a
    readable, non-empty zip whose every member matches its CRC and whose
    content matches the SHA-256 sealed at save time. Returns the digest;
    raises :class:`CheckpointError` saying which check failed."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
            if head != _ZIP_MAGIC:
                raise CheckpointError(f"checkpoint {path} is not a torch zip checkpoint (it does not start with a zip header)")
            try:
                with zipfile.ZipFile(handle) as archive:
                    if not archive.infolist():
                        raise CheckpointError(f"checkpoint {path} is a zip file with no members")
                    name = _hash_member_name(archive)
                    try:
                        digest = _content_digest(archive, skip=name)
                    except zipfile.BadZipFile as error:
                        raise CheckpointError(f"checkpoint {path} is corrupted: {error}") from None
                    try:
                        sealed = archive.read(name).decode("ascii", "replace")
                    except KeyError:
                        return ""  # no seal: load_checkpoint_file decides
                    except zipfile.BadZipFile as error:
                        raise CheckpointError(f"checkpoint {path} is corrupted: {error}") from None
            except CheckpointError:
                raise
            except zipfile.BadZipFile as error:
                raise CheckpointError(
                    f"checkpoint {path} is truncated or corrupted: no valid zip directory ({size} bytes; {error})"
                ) from None
            except Exception as error:  # noqa: BLE001 - zipfile raises many types on mangled headers
                raise CheckpointError(
                    f"checkpoint {path} is corrupted: its zip structure is invalid ({type(error).__name__}: {error})"
                ) from None
    except PermissionError:
        raise CheckpointError(f"cannot read checkpoint {path}: permission denied") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a directory, not a file") from None
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file not found: {path}") from None
    if sealed != digest:
        raise CheckpointError(
            f"checkpoint {path} is corrupted: its content SHA-256 {digest[:16]}... does not match the one "
            f"sealed at save time ({sealed[:16]}...)"
        )
    return digest


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu", *, require_seal: bool = True) -> dict[str, Any]:
    """Verify (:func:`verify_checkpoint_file`) and load a checkpoint without
    executing code from it (``weights_only=True``).

    ``require_seal=False`` accepts a checkpoint without polymodal's SHA-256
    seal (written by plain ``torch.save`` or Lightning); its CRCs are still
    checked. Raises :class:`CheckpointError` naming the file and what failed:
    missing, empty, unreadable, truncated, corrupted (CRC or SHA-256), code
    inside, not a Lightning/polymodal checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint file not found: {path}")
    digest = verify_checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise CheckpointError(f"cannot read checkpoint {path}: permission denied") from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for bad files
        text = str(error)
        hostile = _hostile_global(text)
        if "Weights only load failed" in text or hostile:
            raise CheckpointError(
                f"checkpoint {path} refused: it holds pickled code or objects ({hostile or 'not plain data'}), and "
                "polymodal loads only tensors and plain data (weights_only=True); it was not written by polymodal"
            ) from None
        first = text.strip().splitlines()[0][:200] if text.strip() else ""
        raise CheckpointError(f"checkpoint {path} is corrupted: torch cannot read it ({type(error).__name__}: {first})") from None
    if not digest and require_seal:
        raise CheckpointError(
            f"checkpoint {path} has no polymodal integrity seal (written by another tool or an older polymodal); "
            "its integrity cannot be verified (load it with load_checkpoint_file(path, require_seal=False) if you trust it)"
        )
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a polymodal/Lightning checkpoint (no 'state_dict' entry)")
    return checkpoint


# logs/metrics.csv is rewritten whole (from the history in the checkpoints) at an epoch end that wrote a
# checkpoint, at the final epoch, and otherwise at most this often: rewriting it every epoch costs O(epochs)
# each time (quadratic over a long run of short epochs; ~0.5 ms an epoch on mfeat), and a human or a
# dashboard reading it does not see a difference below a second
METRICS_MIN_INTERVAL_S = 1.0


# an improving epoch's state is held in memory until best.ckpt is due (CheckpointSchedule) only up to this size
# (the tensors of the model and optimiser state); a larger one is written at once, as when epochs are long
DEFERRED_BEST_MAX_BYTES = 1 << 30


def tensor_bytes(obj: Any) -> int:
    """Bytes of the distinct tensor storages in a nested dict / list / tuple."""
    seen: dict[int, int] = {}

    def visit(value):
        if isinstance(value, torch.Tensor):
            if value.layout != torch.strided:  # sparse and other layouts have no single storage
                seen[id(value)] = value.element_size() * value.numel()
                return
            storage = value.untyped_storage()
            seen[storage.data_ptr() or id(value)] = storage.nbytes()
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)

    visit(obj)
    return sum(seen.values())


def detached_copy(obj: Any) -> Any:
    """A nested dict / list / tuple with every tensor copied to host memory (a held checkpoint does not take
    accelerator memory; loading moves it back); tensors that share a storage share the copy's, at the same
    offsets (views of one flat buffer stay views, so ``torch.save`` still writes the buffer once). Other values
    are kept as they are (they must not change later)."""
    copies: dict[int, Any] = {}

    def copy(value):
        if isinstance(value, torch.Tensor):
            if value.layout != torch.strided:  # sparse and other layouts: a plain copy
                return value.detach().to("cpu", copy=True)
            storage = value.untyped_storage()
            key = storage.data_ptr() or id(value)
            if key not in copies:
                copies[key] = storage.clone() if storage.device.type == "cpu" else storage.cpu()
            out = torch.empty(0, dtype=value.dtype)
            return out.set_(copies[key], value.storage_offset(), value.shape, value.stride())
        if isinstance(value, dict):
            out = {k: copy(v) for k, v in value.items()}
            return out if type(value) is dict else type(value)(out)  # an OrderedDict state_dict stays one
        if isinstance(value, list):
            return [copy(v) for v in value]
        if isinstance(value, tuple):
            return tuple(copy(v) for v in value)
        return value

    return copy(obj)


class CheckpointSchedule:
    """When a run writes ``best.ckpt``, ``last.ckpt`` and ``logs/metrics.csv``; both engines ask this one
    object, so their rules cannot drift apart.

    ``last.ckpt``: every ``every_n_epochs`` epochs once ``min_interval_s`` seconds have passed since the
    previous one (the schedule's creation, at training's start, counts as one), and at the final epoch.
    ``best.ckpt``: the state of the best epoch so far, written once ``min_interval_s`` seconds have passed
    since the previous ``best.ckpt`` (the start counts), before every ``last.ckpt`` (so a ``last.ckpt`` on disk
    never names a best epoch that is not), and at the final epoch; until then the engine holds that epoch's
    state in memory (a copy, up to :data:`DEFERRED_BEST_MAX_BYTES`; a larger state is written at once). With
    epochs longer than ``min_interval_s``, or ``min_interval_s`` 0, every improvement is written at once.
    ``metrics.csv``: at every epoch that wrote a checkpoint, at the final one, and otherwise at most every
    :data:`METRICS_MIN_INTERVAL_S` (the first epoch's row at once).
    """

    clock = staticmethod(time.monotonic)  # tests replace it with a fake clock

    def __init__(self, every_n_epochs: int = 1, min_interval_s: float = 0.0) -> None:
        self.every_n_epochs, self.min_interval_s = int(every_n_epochs), float(min_interval_s)
        self.last_written, self.metrics_written = self.clock(), -math.inf  # nothing to lose yet
        self.best_written = self.last_written

    def last_due(self, epochs_completed: int, final: bool, agree=bool) -> bool:
        """Whether this epoch end writes ``last.ckpt`` (and records the write). ``agree`` turns this
        process's answer into every process's (under DDP the strategy's ``broadcast``: clocks differ); it is
        not called at the final epoch, which every process knows alike."""
        due = final or bool(agree(epochs_completed % self.every_n_epochs == 0
                                  and self.clock() - self.last_written >= self.min_interval_s))
        if due:
            self.last_written = self.clock()
        return due

    def best_due(self, pending: bool, last_due: bool, final: bool, agree=bool) -> bool:
        """Whether this epoch end writes ``best.ckpt`` (and records the write), given that a best state not yet
        on disk is ``pending`` (this epoch improved, or an earlier one did) and whether ``last.ckpt`` is written
        now (:meth:`last_due`, asked first). ``agree`` as in :meth:`last_due`."""
        due = pending and (last_due or final or bool(agree(self.clock() - self.best_written >= self.min_interval_s)))
        if due:
            self.best_written = self.clock()
        return due

    def metrics_due(self, wrote_checkpoint: bool, final: bool) -> bool:
        """Whether this epoch end rewrites ``metrics.csv`` (and records the write)."""
        due = wrote_checkpoint or final or self.clock() - self.metrics_written >= METRICS_MIN_INTERVAL_S
        if due:
            self.metrics_written = self.clock()
        return due


def format_history(history: list[dict[str, float]]) -> str:
    """``epoch,step,<metrics sorted>`` CSV text, one row per epoch (``logs/metrics.csv``)."""
    import csv
    import io

    keys = sorted({k for row in history for k in row} - {"epoch", "step"})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", "step", *keys])
    for row in history:
        writer.writerow([int(row["epoch"]), int(row["step"]), *(repr(row[k]) if k in row else "" for k in keys)])
    return out.getvalue()


def rng_state() -> dict[str, Any]:
    """The torch (and CUDA), numpy and Python RNG states as checkpoint-safe values
    (tensors and plain types: loadable with ``weights_only=True``)."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, state, extra = random.getstate()
    out = {"torch": torch.get_rng_state(),
           "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                     "gauss": float(gauss)},
           # one int64 tensor, not 625 pickled ints (a third of a small checkpoint's pickling time)
           "python": {"version": version, "state": torch.tensor(state, dtype=torch.int64), "gauss": extra}}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    words = p["state"].tolist() if isinstance(p["state"], torch.Tensor) else p["state"]  # older checkpoints: a list
    random.setstate((p["version"], tuple(int(w) for w in words), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def run_state(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The run's state stored in a checkpoint under :data:`RUN_STATE_KEY` (history, best
    score/epoch, epochs completed, stopped early; ``None`` if absent): what
    :class:`~polymodal.training.run_checkpoints.RunCheckpoints` and the fast loop write."""
    return (checkpoint.get("callbacks") or {}).get(RUN_STATE_KEY)
