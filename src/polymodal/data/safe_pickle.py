"""Unpickling with an allow-list: data files from the internet cannot run code.

``pickle.load`` executes whatever callable a file names (``os.system``,
``builtins.eval``, ...). The affective-computing pickles of MultiBench and MulT
(CMU-MOSI, CMU-MOSEI, MUStARD, UR-FUNNY) are downloaded from third parties, so
:func:`load` only reconstructs plain data: dicts, lists, tuples, strings,
bytes, numbers, booleans, ``None`` (all built by pickle opcodes without any
global) plus numpy arrays, dtypes and scalars. Any other global a file
names is refused with :class:`~polymodal.errors.DatasetError` before it is
called.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

from polymodal.errors import DatasetError

__all__ = ["ALLOWED_GLOBALS", "MAX_ARRAY_BYTES", "SafeUnpickler", "load", "loads"]

#: Largest array (in bytes) a pickle may ask to allocate; ``max_bytes=`` or
#: ``$POLYMODAL_PICKLE_MAX_BYTES`` changes it. A file naming a bigger shape is
#: refused before anything is allocated (16 GiB: above every array of the
#: MultiBench/MulT affective pickles, far below a forged 745 GiB header).
MAX_ARRAY_BYTES = 16 * 2**30


def _allowed() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 2 / protocol < 3 pickles store bytes as _codecs.encode(str, "latin1")
        ("_codecs", "encode"): __import__("_codecs").encode,
        ("builtins", "complex"): complex,
        ("__builtin__", "complex"): complex,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = _multiarray._reconstruct
        table[(module, "scalar")] = _multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        table[(module, "_frombuffer")] = _numeric._frombuffer
    # numpy dtype classes (numpy.dtypes.Float64DType, ...) appear in some pickles
    for name in dir(np.dtypes):
        if name.endswith("DType") and name != "StringDType":
            table[("numpy.dtypes", name)] = getattr(np.dtypes, name)
    return table


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _allowed()


class SafeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`ALLOWED_GLOBALS`.

    Every ``GLOBAL``/``STACK_GLOBAL`` opcode goes through :meth:`find_class`;
    a name outside the allow-list raises :class:`DatasetError` naming it, so
    the callable is never looked up, let alone called. Persistent ids are
    refused as well.
    """

    def __init__(self, file: IO[bytes], *, source: str = "<pickle>", encoding: str = "latin1",
                 max_bytes: int | None = None) -> None:
        super().__init__(file, encoding=encoding)
        self.source = source
        self.max_bytes = _max_bytes(max_bytes)

    def _check_size(self, shape: Any, dtype: Any) -> None:
        """Refuse an array allocation above ``max_bytes`` (or with a malformed shape)."""
        try:
            dims = [int(shape)] if np.isscalar(shape) else [int(d) for d in shape]
            itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
        except (TypeError, ValueError):
            return  # numpy itself rejects these without allocating
        if any(d < 0 for d in dims):
            raise DatasetError(f"{self.source}: array with a negative dimension {tuple(dims)}")
        size = itemsize
        for d in dims:
            size *= d
        if size > self.max_bytes:
            raise DatasetError(f"{self.source}: refusing an array of shape {tuple(dims)} ({size / 2**30:.1f} GiB), "
                               f"above the limit of {self.max_bytes / 2**30:.1f} GiB (raise it with max_bytes= or "
                               "$POLYMODAL_PICKLE_MAX_BYTES if the file is genuine)")

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self.source}: refusing to unpickle global '{module}.{name}': only numpy arrays, dtypes, "
                "scalars, dicts, lists, tuples, strings, bytes and numbers are allowed "
                "(the file may be malicious or not a plain-data pickle)"
            ) from None
        if found is np.ndarray:
            return _SizedNDArray(self)
        if name == "_reconstruct":
            return self._reconstruct
        return found

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> Any:
        if isinstance(subtype, _SizedNDArray):
            subtype = np.ndarray
        self._check_size(shape, None)
        return _multiarray._reconstruct(subtype, shape, dtype)

    def persistent_load(self, pid: Any) -> Any:
        raise DatasetError(f"{self.source}: refusing persistent id {pid!r} (not a plain-data pickle)")


class _SizedNDArray:
    """Stands in for ``numpy.ndarray`` in a pickle: checks the size before allocating."""

    def __init__(self, unpickler: SafeUnpickler) -> None:
        self.unpickler = unpickler

    def __call__(self, shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> np.ndarray:
        self.unpickler._check_size(shape, dtype)
        return np.ndarray(shape, dtype, *args, **kwargs)


def _max_bytes(value: int | None) -> int:
    if value is None:
        env = os.environ.get("POLYMODAL_PICKLE_MAX_BYTES")
        if env is None:
            return MAX_ARRAY_BYTES
        try:
            value = int(env)
        except ValueError:
            raise DatasetError(f"$POLYMODAL_PICKLE_MAX_BYTES must be an integer number of bytes, got {env!r}") from None
    if value <= 0:
        raise DatasetError(f"max_bytes must be > 0, got {value}")
    return int(value)


def _run(unpickler: SafeUnpickler) -> Any:
    try:
        return unpickler.load()
    except DatasetError:
        raise
    except MemoryError:
        raise DatasetError(f"{unpickler.source}: not enough memory to unpickle it (MemoryError)") from None
    except RecursionError:
        raise DatasetError(f"{unpickler.source}: nested too deeply to unpickle") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError) as error:
        raise DatasetError(f"{unpickler.source}: not a readable pickle ({type(error).__name__}: {error})") from None


def load(file: str | os.PathLike | IO[bytes], *, encoding: str = "latin1", max_bytes: int | None = None) -> Any:
    """Unpickle plain data (numpy arrays, dicts, lists, strings, numbers) from ``file``.

    Parameters
    ----------
    file : path or binary file object
    encoding : str
        How Python 2 ``str`` objects are decoded (``"latin1"`` also reads
        Python 2 numpy arrays correctly).
    max_bytes : int, optional
        Largest array a file may allocate (default :data:`MAX_ARRAY_BYTES`, or
        ``$POLYMODAL_PICKLE_MAX_BYTES``).

    Raises
    ------
    DatasetError
        If the file names any global outside the allow-list (e.g. ``posix.system``),
        is truncated, is not a pickle, or names an array above ``max_bytes``.

    >>> import pickle, io
    >>> load(io.BytesIO(pickle.dumps({"a": np.arange(3)})))["a"].tolist()
    [0, 1, 2]
    """
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            raise DatasetError(f"pickle file not found: {path}")
        with path.open("rb") as handle:
            return _run(SafeUnpickler(handle, source=str(path), encoding=encoding, max_bytes=max_bytes))
    return _run(SafeUnpickler(file, source=getattr(file, "name", "<pickle>"), encoding=encoding, max_bytes=max_bytes))


def loads(data: bytes, *, encoding: str = "latin1", max_bytes: int | None = None) -> Any:
    """:func:`load` from a bytes object."""
    return _run(SafeUnpickler(io.BytesIO(data), source="<bytes>", encoding=encoding, max_bytes=max_bytes))
