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

__all__ = ["ALLOWED_GLOBALS", "SafeUnpickler", "load", "loads"]


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

    def __init__(self, file: IO[bytes], *, source: str = "<pickle>", encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self.source}: refusing to unpickle global '{module}.{name}': only numpy arrays, dtypes, "
                "scalars, dicts, lists, tuples, strings, bytes and numbers are allowed "
                "(the file may be malicious or not a plain-data pickle)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DatasetError(f"{self.source}: refusing persistent id {pid!r} (not a plain-data pickle)")


def _run(unpickler: SafeUnpickler) -> Any:
    try:
        return unpickler.load()
    except DatasetError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError) as error:
        raise DatasetError(f"{unpickler.source}: not a readable pickle ({type(error).__name__}: {error})") from None


def load(file: str | os.PathLike | IO[bytes], *, encoding: str = "latin1") -> Any:
    """Unpickle plain data (numpy arrays, dicts, lists, strings, numbers) from ``file``.

    Parameters
    ----------
    file : path or binary file object
    encoding : str
        How Python 2 ``str`` objects are decoded (``"latin1"`` also reads
        Python 2 numpy arrays correctly).

    Raises
    ------
    DatasetError
        If the file names any global outside the allow-list (e.g. ``posix.system``),
        is truncated, or is not a pickle.

    >>> import pickle, io
    >>> load(io.BytesIO(pickle.dumps({"a": np.arange(3)})))["a"].tolist()
    [0, 1, 2]
    """
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            raise DatasetError(f"pickle file not found: {path}")
        with path.open("rb") as handle:
            return _run(SafeUnpickler(handle, source=str(path), encoding=encoding))
    return _run(SafeUnpickler(file, source=getattr(file, "name", "<pickle>"), encoding=encoding))


def loads(data: bytes, *, encoding: str = "latin1") -> Any:
    """:func:`load` from a bytes object."""
    return _run(SafeUnpickler(io.BytesIO(data), source="<bytes>", encoding=encoding))
