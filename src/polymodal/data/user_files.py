"""Datasets from the user's own files, each named by one config block.

========  ===============================================  ==========================================
name      file                                             ``data.options``
========  ===============================================  ==========================================
``npz``   ``np.savez(path, image=X1, audio=X2, y=y)``      ``path``, ``target``, ``modalities``
``table`` CSV or Parquet, columns grouped into modalities  ``path``, ``target``, ``modalities`` (groups)
``hf``    Hugging Face ``datasets``: ``save_to_disk``      ``path`` (folder or hub name), ``target``,
          folder, or a hub name (needs the network)        ``modalities``, ``split``
========  ===============================================  ==========================================

Every loader returns a :class:`MultimodalDataset` (``task`` as given;
classification labels of any values with ``encode_labels=True``). In a table,
a row whose columns of one modality are all empty (NaN) has that modality
missing: zeros with ``present[m] = False``; a partly empty group is an error
naming the row and column.

Example config::

    data:
      name: table
      options:
        path: patients.csv
        target: outcome
        modalities: {labs: ["lab_*"], vitals: [hr, bp_sys, bp_dia]}
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.errors import ConfigError, DatasetError

__all__ = ["load_npz", "load_table", "load_hf"]

_LICENCE = "yours"


def _file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"{what} file not found: {os.fspath(path)!r} (config key 'data.options.path')")
    return p


def _build(modalities: dict[str, Any], target: np.ndarray | None, *, task: str, encode_labels: bool,
           classes: Sequence[Any] | None, name: str, present: dict[str, np.ndarray] | None = None
           ) -> MultimodalDataset:
    return MultimodalDataset(modalities, target, present=present, task=task, encode_labels=encode_labels,
                             classes=classes, name=name)


def _npz_available() -> bool | str:
    return True


@register_dataset("npz", description="your .npz file: one array per modality (N, ...) and a target array",
                  source="data.options.path (np.savez)", licence=_LICENCE, available=_npz_available)
def load_npz(path: str | os.PathLike, *, target: str | None = "target", modalities: Sequence[str] | None = None,
             task: str = "classification", encode_labels: bool = False,
             classes: Sequence[Any] | None = None) -> MultimodalDataset:
    """A dataset from ``np.savez(path, **{modality: (N, ...) array, target: (N,) labels})``.

    Parameters
    ----------
    path : path to the ``.npz`` file.
    target : the array holding the targets (``None``: no target).
    modalities : the arrays to use as modalities (default: every other array, in file order).
    task, encode_labels, classes : as for :class:`MultimodalDataset`.
    """
    p = _file(path, ".npz")
    try:
        archive = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{os.fspath(path)!r} is not a readable .npz file ({error})") from None
    with archive:
        keys = list(archive.files)
        if target is not None and target not in keys:
            raise DatasetError(f"{os.fspath(path)!r} has no target array {target!r} (config key "
                               f"'data.options.target'); its arrays: {keys}")
        names = list(modalities) if modalities is not None else [k for k in keys if k != target]
        for m in names:
            if m not in keys:
                raise DatasetError(f"{os.fspath(path)!r} has no array {m!r} (config key 'data.options.modalities'); "
                                   f"its arrays: {keys}")
        if not names:
            raise DatasetError(f"{os.fspath(path)!r} holds no modality arrays besides the target {target!r}")
        try:
            arrays = {m: archive[m] for m in names}
            labels = archive[target] if target is not None else None
        except ValueError as error:  # object arrays need pickle: refused
            raise DatasetError(f"{os.fspath(path)!r}: {error}; save numeric arrays") from None
    return _build(arrays, labels, task=task, encode_labels=encode_labels, classes=classes, name=p.stem)


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None  # without importing it (`polymodal datasets` stays fast)


def _pandas_available() -> bool | str:
    if not _installed("pandas"):
        return "needs pandas (and pyarrow for Parquet): pip install 'polymodal[files]'"
    return True


def _group_columns(columns: Sequence[str], groups: Mapping[str, Any], where: str) -> dict[str, list[str]]:
    """``{modality: [column, ...]}``; a group is a list of names and/or glob patterns (``"lab_*"``)."""
    if not isinstance(groups, Mapping) or not groups:
        raise ConfigError(f"config key '{where}' must map each modality to its columns, e.g. "
                          "{labs: ['lab_*'], vitals: [hr, bp]}")
    out: dict[str, list[str]] = {}
    for m, spec in groups.items():
        patterns = [spec] if isinstance(spec, str) else list(spec)
        chosen: list[str] = []
        for pattern in patterns:
            hits = [c for c in columns if fnmatch.fnmatchcase(str(c), str(pattern))]
            if not hits:
                raise DatasetError(f"config key '{where}.{m}': no column matches {pattern!r}; "
                                   f"columns: {list(columns)[:20]}")
            chosen += [c for c in hits if c not in chosen]
        out[m] = chosen
    return out


def _table_modalities(frame, groups: dict[str, list[str]], source: str
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    arrays, present = {}, {}
    for m, columns in groups.items():
        try:
            values = frame[columns].to_numpy(dtype=np.float64, copy=True)
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{source}: columns of modality {m!r} must be numeric ({error})") from None
        empty = np.isnan(values)
        missing = empty.all(axis=1)
        partial = empty.any(axis=1) & ~missing
        if partial.any():
            row = int(np.argmax(partial))
            col = columns[int(np.argmax(empty[row]))]
            raise DatasetError(f"{source}: row {row} has an empty value in column {col!r} of modality {m!r} "
                               "(a modality is missing only when all its columns are empty); impute it first")
        values[missing] = 0.0
        arrays[m] = values
        if missing.any():
            present[m] = ~missing
    return arrays, present


@register_dataset("table", description="your CSV or Parquet table: columns grouped into modalities, a target column",
                  source="data.options.path (.csv, .tsv, .parquet)", licence=_LICENCE, available=_pandas_available)
def load_table(path: str | os.PathLike, *, modalities: Mapping[str, Any], target: str | None = None,
               task: str = "classification", encode_labels: bool = False, classes: Sequence[Any] | None = None,
               format: str | None = None) -> MultimodalDataset:
    """A dataset from a CSV/TSV/Parquet table whose columns are grouped into modalities.

    Parameters
    ----------
    path : the table file; ``format`` (``"csv"``, ``"tsv"``, ``"parquet"``) defaults to its suffix.
    modalities : ``{modality: [column or glob pattern, ...]}``, e.g. ``{"labs": ["lab_*"]}``.
        A row with every column of a modality empty has that modality missing.
    target : the target column (``None``: no target).
    task, encode_labels, classes : as for :class:`MultimodalDataset`.
    """
    p = _file(path, "table")
    kind = (format or p.suffix.lstrip(".")).lower()
    why = _pandas_available()
    if why is not True:
        raise DatasetError(f"reading {os.fspath(path)!r} {why}")
    import pandas as pd

    try:
        if kind in ("csv", "tsv", "txt"):
            frame = pd.read_csv(p, sep="\t" if kind == "tsv" else ",")
        elif kind in ("parquet", "pq"):
            frame = pd.read_parquet(p)
        else:
            raise ConfigError(f"config key 'data.options.format': cannot read {kind!r} tables "
                              "(use csv, tsv or parquet)")
    except (ImportError, ValueError, OSError, pd.errors.ParserError) as error:
        raise DatasetError(f"cannot read {os.fspath(path)!r} as {kind}: {error}") from None
    groups = _group_columns(list(frame.columns), modalities, "data.options.modalities")
    if target is not None and target not in frame.columns:
        raise DatasetError(f"{os.fspath(path)!r} has no target column {target!r}; columns: {list(frame.columns)[:20]}")
    used = [c for cols in groups.values() for c in cols]
    if target in used:
        raise ConfigError(f"config key 'data.options.modalities': the target column {target!r} is also a feature")
    arrays, present = _table_modalities(frame, groups, repr(os.fspath(path)))
    labels = frame[target].to_numpy() if target is not None else None
    return _build(arrays, labels, task=task, encode_labels=encode_labels, classes=classes, name=p.stem,
                  present=present)


def _datasets_available() -> bool | str:
    if not _installed("datasets"):
        return "needs the Hugging Face `datasets` package: pip install 'polymodal[hf]'"
    return True


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _open_hf(path: str, split: str | None):
    import datasets

    folder = Path(path).expanduser()
    if folder.is_dir():
        try:
            data = datasets.load_from_disk(str(folder))
        except (FileNotFoundError, ValueError) as error:
            raise DatasetError(f"{path!r} is not a folder written by Dataset.save_to_disk ({error})") from None
    else:
        if _offline() or path.startswith((".", "/", "~")):  # offline, or clearly a local path
            raise DatasetError(
                f"Hugging Face dataset {path!r}: no such folder here"
                + (", and the hub is offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)" if _offline() else "")
                + "; save it with `datasets.load_dataset(...).save_to_disk(FOLDER)` on a machine with a network "
                "and set data.options.path to FOLDER")
        try:
            data = datasets.load_dataset(path, split=split)
        except Exception as error:  # ConnectionError, DatasetNotFoundError, hub HTTP errors, ...
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DatasetError(f"cannot load Hugging Face dataset {path!r} from the hub: {first}; without a "
                               "network, save it with save_to_disk elsewhere and give the folder") from None
    if isinstance(data, datasets.DatasetDict):
        if split is None:
            if len(data) != 1:
                raise ConfigError(f"Hugging Face dataset {path!r} has splits {sorted(data)}: choose one with "
                                  "config key 'data.options.split'")
            split = next(iter(data))
        if split not in data:
            raise ConfigError(f"config key 'data.options.split': {path!r} has no split {split!r}; it has {sorted(data)}")
        data = data[split]
    return data


def _column(data, column: str, where: str) -> np.ndarray:
    if column not in data.column_names:
        raise DatasetError(f"config key '{where}': no column {column!r}; columns: {data.column_names}")
    values = data.with_format("numpy")[column]
    if isinstance(values, list):  # ragged rows
        try:
            values = np.stack([np.asarray(v) for v in values])
        except ValueError:
            raise DatasetError(f"column {column!r} has rows of different shapes; polymodal needs equal shapes "
                               "(pad them first)") from None
    return np.asarray(values)


@register_dataset("hf", description="a Hugging Face `datasets` dataset: a save_to_disk folder, or a hub name",
                  source="data.options.path (folder or hub name)", licence="the dataset's own",
                  available=_datasets_available)
def load_hf(path: str, *, modalities: Mapping[str, Any] | Sequence[str], target: str | None = "label",
            split: str | None = None, task: str = "classification", encode_labels: bool = False,
            classes: Sequence[Any] | None = None) -> MultimodalDataset:
    """A dataset from Hugging Face ``datasets``.

    Parameters
    ----------
    path : a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, or a
        hub name (``"user/name"``; needs the network, refused offline with a clear error).
    modalities : ``{modality: column}`` or ``{modality: [scalar columns ...]}`` (stacked as
        features), or a list of columns (each its own modality). A column holds numbers or
        equal-shaped lists/arrays per row.
    target : the label column (``None``: no target).
    split : which split of a ``DatasetDict`` (needed when it has several).
    task, encode_labels, classes : as for :class:`MultimodalDataset`.
    """
    why = _datasets_available()
    if why is not True:
        raise DatasetError(f"loading {path!r} {why}")
    data = _open_hf(str(path), split)
    if not isinstance(modalities, Mapping):
        modalities = {c: c for c in modalities}
    arrays = {}
    for m, spec in modalities.items():
        where = f"data.options.modalities.{m}"
        if isinstance(spec, str):
            values = _column(data, spec, where)
            arrays[m] = values.reshape(-1, 1) if values.ndim == 1 else values
        else:
            arrays[m] = np.stack([_column(data, c, where) for c in spec], axis=1)
    labels = _column(data, target, "data.options.target") if target is not None else None
    if labels is not None and classes is None and task == "classification":
        names = getattr(data.features.get(target), "names", None)  # a ClassLabel column's names
        classes = list(names) if names and not encode_labels else None
    return _build(arrays, labels, task=task, encode_labels=encode_labels, classes=classes,
                  name=Path(str(path)).name)
