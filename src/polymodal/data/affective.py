"""Reader for the MultiBench / MulT affective-computing pickles.

CMU-MOSI, CMU-MOSEI (Zadeh et al., 2016 / ACL 2018), MUStARD (Castro et al.,
ACL 2019, ``sarcasm.pkl``) and UR-FUNNY (Hasan et al., EMNLP 2019,
``humor.pkl``) are distributed by MultiBench (Liang et al., NeurIPS 2021) and
MulT (Tsai et al., ACL 2019) as one pickle::

    {"train" | "valid" | "test": {"vision": (N, T, Dv), "audio": (N, T, Da),
                                   "text": (N, T, Dt), "labels": (N, 1, 1), "id": N keys}}

with the word-aligned sequences left-zero-padded (or truncated) to ``T``
steps (``mosi_raw.pkl``: FACET 35, COVAREP 74, GloVe 300, T = 50). The files
are unpickled with :mod:`polymodal.data.safe_pickle` (no code runs).

Cleaning, as MultiBench's ``get_dataloader`` does it (each step optional):

- ``-inf``/``+inf`` and NaN feature values become 0 (COVAREP audio has ``-inf``);
  the counts are reported in :attr:`AffectiveSplits.cleaning`.
- ``drop_zero_text``: samples whose text is all zeros are removed
  (MultiBench's ``drop_entry``; they carry no words).
- ``trim_padding``: each sample keeps the steps from the first non-zero text
  row on (all three modalities cut at the same step, so they stay aligned);
  the result is a list of variable-length ``(T_i, D)`` arrays that
  :func:`~polymodal.data.collate` right-pads with lengths and masks. For
  unaligned files (MulT's ``*_noalign.pkl``: a different ``T`` per modality)
  each modality is cut at its own first non-zero row, as MultiBench's
  ``aligned=False`` path does.
- Labels: ``task="regression"`` keeps the sentiment in [-3, 3];
  ``task="classification"`` binarises them as ``label > 0`` (MultiBench's
  convention; for MUStARD/UR-FUNNY labels are already 0/1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data import safe_pickle
from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.spec import ModalitySpec
from polymodal.data.splits import Split
from polymodal.errors import DatasetError, ModalityError

__all__ = ["AFFECTIVE_MODALITIES", "AFFECTIVE_DATASETS", "AffectiveSplits", "read_affective_pickle", "load_affective"]

AFFECTIVE_MODALITIES = ("vision", "audio", "text")
SPLITS = ("train", "valid", "test")

# catalog name -> (environment variable, usual file name, default task, description)
AFFECTIVE_DATASETS: dict[str, tuple[str, str, str, str]] = {
    "mosi": ("POLYMODAL_MOSI", "mosi_raw.pkl", "regression",
             "CMU-MOSI: 2199 YouTube opinion segments, vision/audio/text sequences, sentiment in [-3, 3]"),
    "mosei": ("POLYMODAL_MOSEI", "mosei_raw.pkl", "regression",
              "CMU-MOSEI: 23k YouTube segments, vision/audio/text sequences, sentiment in [-3, 3]"),
    "mustard": ("POLYMODAL_MUSTARD", "sarcasm.pkl", "classification",
                "MUStARD: 690 TV-show utterances, vision/audio/text sequences, sarcastic or not"),
    "urfunny": ("POLYMODAL_URFUNNY", "humor.pkl", "classification",
                "UR-FUNNY: 16k TED punchlines, vision/audio/text sequences, humorous or not"),
}


@dataclass
class AffectiveSplits:
    """The official train/valid/test splits of one affective pickle.

    Attributes
    ----------
    train, valid, test : MultimodalDataset
    cleaning : dict
        Per split: ``{"nonfinite": {modality: count}, "nan": {...}, "dropped_zero_text": n}``.
    """

    train: MultimodalDataset
    valid: MultimodalDataset
    test: MultimodalDataset
    cleaning: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, split: str) -> MultimodalDataset:
        if split not in SPLITS:
            raise DatasetError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, split)

    def concatenated(self) -> tuple[MultimodalDataset, Split]:
        """All samples (train, valid, test in that order) and the official :class:`Split` indices."""
        parts = [self.train, self.valid, self.test]
        mods = {}
        for m in self.train.modalities:
            values = [p.modalities[m] for p in parts]
            mods[m] = (np.concatenate(values) if all(isinstance(v, np.ndarray) for v in values)
                       else [x for v in values for x in v])
        target = np.concatenate([p.target for p in parts])
        ids = [i for p in parts for i in p.ids]
        ds = MultimodalDataset(mods, target, specs=self.train.specs, ids=ids, task=self.train.task,
                               classes=self.train.classes, name=self.train.name, check_finite=False)
        sizes = np.cumsum([0] + [len(p) for p in parts])
        split = Split(*(np.arange(sizes[i], sizes[i + 1]) for i in range(3)))
        return ds, split


def _key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return tuple(_key(v) for v in value.tolist()) if value.ndim else _key(value.item())
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _split_arrays(raw: Any, split: str, source: str, modalities: Sequence[str],
                  aligned: bool | None) -> tuple[dict, np.ndarray, list, bool]:
    if not isinstance(raw, dict):
        raise DatasetError(f"{source}: split {split!r} must be a dict of arrays, got {type(raw).__name__}")
    missing = [k for k in (*modalities, "labels") if k not in raw]
    if missing:
        raise DatasetError(f"{source}: split {split!r} lacks key {missing[0]!r}; it has {sorted(raw)}")
    arrays = {}
    for m in modalities:
        x = raw[m]
        if not isinstance(x, np.ndarray) or x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
            shape = getattr(x, "shape", type(x).__name__)
            raise DatasetError(f"{source}: {split}/{m} must be a numeric (N, T, D) array, got {shape}")
        arrays[m] = x
    n = {m: x.shape[0] for m, x in arrays.items()}
    t = {m: x.shape[1] for m, x in arrays.items()}
    if len(set(n.values())) > 1:
        raise DatasetError(f"{source}: split {split!r} has different sample counts per modality: {n}")
    if aligned and len(set(t.values())) > 1:
        raise DatasetError(f"{source}: split {split!r} is not word-aligned (aligned=True), sequence lengths differ: {t}")
    aligned = len(set(t.values())) == 1 if aligned is None else aligned
    count = next(iter(n.values()))
    try:
        labels = np.asarray(raw["labels"], dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{source}: {split}/labels must be numeric") from None
    if not np.isfinite(labels).all():
        raise DatasetError(f"{source}: {split}/labels contains {int((~np.isfinite(labels)).sum())} NaN or inf "
                           "values; labels must be finite")
    if labels.size != count:
        raise DatasetError(f"{source}: {split}/labels has {labels.size} values (shape {labels.shape}), expected {count}")
    ids = raw.get("id")
    ids = [_key(i) for i in ids] if ids is not None else list(range(count))
    if len(ids) != count:
        raise DatasetError(f"{source}: {split}/id has {len(ids)} entries, expected {count}")
    return arrays, labels.reshape(count), ids, aligned


def _first_nonzero_rows(x: np.ndarray) -> np.ndarray:
    nonzero = x.any(axis=2)  # (N, T)
    return np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), 0)


def _clean_split(arrays, labels, ids, *, drop_zero_text, trim_padding, aligned):
    report: dict[str, Any] = {"nonfinite": {}, "nan": {}}
    clean = {}
    for m, x in arrays.items():
        x = np.array(x, dtype=np.float32)
        nan = np.isnan(x)
        inf = np.isinf(x)
        report["nan"][m], report["nonfinite"][m] = int(nan.sum()), int(inf.sum())
        x[nan | inf] = 0.0
        clean[m] = x
    keep = np.ones(len(labels), dtype=bool)
    if "text" in clean and drop_zero_text:
        keep = clean["text"].reshape(len(labels), -1).any(axis=1)
    report["dropped_zero_text"] = int((~keep).sum())
    clean = {m: x[keep] for m, x in clean.items()}
    labels, ids = labels[keep], [i for i, k in zip(ids, keep) if k]
    if not trim_padding:
        return clean, labels, ids, report
    if not aligned:  # each modality from its own first non-zero row
        starts = {m: _first_nonzero_rows(x) for m, x in clean.items()}
        return {m: [x[i, s:] for i, s in enumerate(starts[m])] for m, x in clean.items()}, labels, ids, report
    if "text" not in clean:
        raise ModalityError("trim_padding uses the first non-zero 'text' row; include 'text' in modalities")
    start = _first_nonzero_rows(clean["text"])
    return {m: [x[i, s:] for i, s in enumerate(start)] for m, x in clean.items()}, labels, ids, report


def read_affective_pickle(
    path: str | os.PathLike,
    *,
    name: str = "",
    task: str = "regression",
    modalities: Sequence[str] = AFFECTIVE_MODALITIES,
    drop_zero_text: bool = True,
    trim_padding: bool = True,
    aligned: bool | None = None,
) -> AffectiveSplits:
    """Read a MultiBench/MulT affective pickle into three :class:`MultimodalDataset`.

    Parameters
    ----------
    path : path to e.g. ``mosi_raw.pkl``, ``mosei_senti_data.pkl``, ``sarcasm.pkl``, ``humor.pkl``.
    name : str
        Dataset name stored on the results.
    task : {"regression", "classification"}
        Regression keeps labels in [-3, 3]; classification is ``label > 0``.
    modalities : subset of ``("vision", "audio", "text")``
    drop_zero_text, trim_padding : bool
        MultiBench's cleaning steps (see the module docstring).
    aligned : bool, optional
        Whether the modalities are word-aligned (same ``T``); inferred when
        ``None``; ``True`` refuses files whose lengths differ.

    Returns
    -------
    AffectiveSplits
        ``.train/.valid/.test``; modalities are float32 ``(N, T, D)`` arrays,
        or lists of ``(T_i, D)`` arrays with ``trim_padding``.

    >>> import pickle, tempfile
    >>> s = {"vision": np.ones((2, 3, 1)), "audio": np.ones((2, 3, 1)), "text": np.ones((2, 3, 2)),
    ...      "labels": np.array([1.5, -2.0]).reshape(2, 1, 1), "id": ["a", "b"]}
    >>> f = tempfile.NamedTemporaryFile(suffix=".pkl", delete=False)
    >>> pickle.dump({"train": s, "valid": s, "test": s}, f); f.close()
    >>> read_affective_pickle(f.name).train.target.tolist()
    [1.5, -2.0]
    """
    if task not in ("regression", "classification"):
        raise DatasetError(f"task must be 'regression' or 'classification', got {task!r}")
    modalities = list(modalities)
    bad = [m for m in modalities if m not in AFFECTIVE_MODALITIES]
    if bad or not modalities:
        raise ModalityError(f"modalities must be a non-empty subset of {AFFECTIVE_MODALITIES}, got {modalities}")
    source = str(path)
    data = safe_pickle.load(path)
    if not isinstance(data, dict) or any(s not in data for s in SPLITS):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DatasetError(f"{source}: expected a dict with keys {SPLITS}, got {keys}")
    read = set(modalities) | ({"text"} if (drop_zero_text or trim_padding) else set())
    out, cleaning = {}, {}
    for split in SPLITS:
        arrays, labels, ids, is_aligned = _split_arrays(
            data[split], split, source, [m for m in AFFECTIVE_MODALITIES if m in read], aligned
        )
        arrays, labels, ids, cleaning[split] = _clean_split(
            arrays, labels, ids, drop_zero_text=drop_zero_text, trim_padding=trim_padding, aligned=is_aligned
        )
        if task == "classification":
            target, classes = (labels > 0).astype(np.int64), ["non-positive", "positive"]
        else:
            target, classes = labels.astype(np.float32), None
        specs = {}
        for m in modalities:
            dim = arrays[m].shape[2] if isinstance(arrays[m], np.ndarray) else data[split][m].shape[2]
            # time axis marked variable (None) even when dense, so sequence encoders get the per-step size
            specs[m] = ModalitySpec(m, "sequence", (None, dim))
        out[split] = MultimodalDataset({m: arrays[m] for m in modalities}, target, specs=specs, ids=ids,
                                       task=task, classes=classes, name=name)
    return AffectiveSplits(out["train"], out["valid"], out["test"], cleaning)


def _resolve(name: str, path: str | os.PathLike | None) -> Path:
    env, filename, _, _ = AFFECTIVE_DATASETS[name]
    chosen = path if path is not None else os.environ.get(env)
    if chosen is None:
        raise DatasetError(
            f"dataset {name!r} is not bundled: pass path=... to {filename} (MultiBench/MulT pickle) or set ${env}"
        )
    return Path(chosen)


def _availability(name: str):
    def available() -> bool | str:
        env, filename, _, _ = AFFECTIVE_DATASETS[name]
        value = os.environ.get(env)
        if value is None:
            return f"set ${env} to the path of {filename}"
        return True if Path(value).is_file() else f"${env}={value} does not exist"

    return available


def load_affective(
    name: str,
    path: str | os.PathLike | None = None,
    *,
    split: str = "all",
    task: str | None = None,
    modalities: Sequence[str] = AFFECTIVE_MODALITIES,
    drop_zero_text: bool = True,
    trim_padding: bool = True,
    aligned: bool | None = None,
) -> MultimodalDataset:
    """Load one split (``"train"``, ``"valid"``, ``"test"``) or ``"all"`` of a
    catalog affective dataset (``"mosi"``, ``"mosei"``, ``"mustard"``, ``"urfunny"``)
    from ``path`` or the file its environment variable names (``$POLYMODAL_MOSI``, ...).
    ``split="all"`` concatenates train, valid and test in that order."""
    if name not in AFFECTIVE_DATASETS:
        raise DatasetError(f"unknown affective dataset {name!r}; known: {sorted(AFFECTIVE_DATASETS)}")
    if split not in (*SPLITS, "all"):
        raise DatasetError(f"split must be one of {(*SPLITS, 'all')}, got {split!r}")
    splits = read_affective_pickle(
        _resolve(name, path), name=name, task=task or AFFECTIVE_DATASETS[name][2], modalities=modalities,
        drop_zero_text=drop_zero_text, trim_padding=trim_padding, aligned=aligned,
    )
    return splits.concatenated()[0] if split == "all" else splits[split]


def _register(name: str) -> None:
    env, filename, _, description = AFFECTIVE_DATASETS[name]

    def loader(path: str | os.PathLike | None = None, **kwargs: Any) -> MultimodalDataset:
        return load_affective(name, path, **kwargs)

    loader.__name__ = f"load_{name}"
    loader.__doc__ = f"{description}. Reads {filename} from ``path`` or ${env}; see :func:`load_affective`."
    register_dataset(
        name,
        description=description,
        source=f"MultiBench / MulT pickle {filename} (not bundled; path from ${env})",
        licence="research use; see the dataset authors' terms",
        available=_availability(name),
    )(loader)


for _name in AFFECTIVE_DATASETS:
    _register(_name)
