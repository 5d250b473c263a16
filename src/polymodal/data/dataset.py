"""`MultimodalDataset`: the one dataset type every loader returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from polymodal.data.spec import ModalitySpec
from polymodal.errors import ModalityError, ShapeError

__all__ = ["MultimodalDataset", "TASKS"]

TASKS = ("classification", "regression", "multilabel")

ArrayLike = np.ndarray | Sequence[np.ndarray]


def as_model_tensor(values: np.ndarray) -> torch.Tensor:
    """Floating data become float32 (the models' dtype); integers stay."""
    if np.issubdtype(values.dtype, np.floating):
        return torch.as_tensor(values, dtype=torch.float32)
    return torch.as_tensor(values)


def _num_samples(values: ArrayLike) -> int:
    return int(values.shape[0]) if isinstance(values, np.ndarray) else len(values)


def _infer_spec(name: str, values: ArrayLike) -> ModalitySpec:
    if isinstance(values, np.ndarray):
        if values.ndim == 1:
            raise ShapeError(
                f"modality {name!r}: expected an array of shape (n_samples, n_features), "
                f"got a 1-D array of shape {values.shape}; use values.reshape(-1, 1) for one feature"
            )
        if values.ndim == 2:
            return ModalitySpec(name, "vector", values.shape[1:])
        if values.ndim == 3:
            return ModalitySpec(name, "sequence", values.shape[1:])
        return ModalitySpec(name, "image", values.shape[1:])
    # a list of per-sample arrays: variable-length sequences (T_i, d)
    dims = {np.asarray(v).shape[1:] for v in values}
    if len(dims) != 1:
        raise ShapeError(f"modality {name!r}: samples have different feature shapes {sorted(dims)}")
    return ModalitySpec(name, "sequence", (None, *dims.pop()))


def _check_finite(name: str, values: ArrayLike) -> None:
    arrays = [values] if isinstance(values, np.ndarray) else values
    for offset, array in enumerate(arrays):
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            continue
        bad = ~np.isfinite(array)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            sample, index = (where[0], where[1:]) if isinstance(values, np.ndarray) else (offset, where)
            kind = "NaN" if np.isnan(array[where]) else "inf"
            raise ShapeError(
                f"modality {name!r} contains {kind} at sample {sample}, index {index}; "
                "clean or impute it first, or mark the sample as missing with `present`"
            )


def _class_set(labels: np.ndarray) -> str:
    found = np.unique(labels).tolist()
    return "{" + ", ".join(map(repr, found[:10])) + (", ..." if len(found) > 10 else "") + "}"


def _class_indices(target: np.ndarray, classes, n_classes: int | None, encode: bool):
    """Check (or with ``encode`` build) classification targets: integer indices
    ``(N,)`` in ``[0, K)``; returns ``(target, classes, n_classes)``."""
    if target.ndim != 1:
        raise ShapeError(f"classification target must have shape (N,) of class labels, got {target.shape}")
    if encode:
        if np.issubdtype(target.dtype, np.floating) and not np.isfinite(target).all():
            raise ShapeError("classification target contains NaN or inf")
        values, index = np.unique(target, return_inverse=True)
        if classes is None:
            classes = values.tolist()
        elif len(classes) != len(values):
            raise ShapeError(f"encode_labels: {len(values)} distinct labels {_class_set(target)} but "
                             f"{len(classes)} class names")
        return index.astype(np.int64).reshape(-1), classes, None
    if target.dtype == bool:
        target = target.astype(np.int64)
    if not (np.issubdtype(target.dtype, np.integer) or np.issubdtype(target.dtype, np.floating)):
        raise ShapeError(f"classification labels must be integers 0..K-1, got dtype {target.dtype} "
                         f"(class set {_class_set(target)}); pass encode_labels=True to map them")
    if np.issubdtype(target.dtype, np.floating):
        bad = ~np.isfinite(target) | (target != np.round(target))
        if bad.any():
            i = int(np.argmax(bad))
            raise ShapeError(f"classification labels must be integers, got {target[i].item()!r} at sample {i}; "
                             "use task='regression' for real-valued targets")
        target = target.astype(np.int64)
    if target.size == 0:
        return target, classes, n_classes
    k = len(classes) if classes is not None else n_classes
    lo, hi = int(target.min()), int(target.max())
    if k is not None:
        if lo < 0 or hi >= k:
            raise ShapeError(f"classification labels must lie in [0, {k}) ({k} classes), got the class set "
                             f"{_class_set(target)}")
    elif lo < 0 or len(np.unique(target)) != hi + 1:
        raise ShapeError(f"classification labels must be 0..K-1 with every class present, got the class set "
                         f"{_class_set(target)}; pass encode_labels=True to map them to 0..K-1, or "
                         "classes=[...] / n_classes=K if some classes are absent")
    return target, classes, n_classes


class MultimodalDataset(torch.utils.data.Dataset):
    """Several aligned modalities of the same samples, with targets.

    Parameters
    ----------
    modalities : mapping of str -> array
        ``(N, ...)`` arrays, or lists of ``N`` per-sample arrays ``(T_i, d)`` for
        variable-length sequences.
    target : array, optional
        ``(N,)`` class labels (classification), ``(N,)``/``(N, k)`` values
        (regression) or ``(N, k)`` 0/1 (multilabel).
    specs : mapping of str -> ModalitySpec, optional
        Inferred from the arrays when omitted.
    present : mapping of str -> (N,) bool, optional
        False where a modality is missing for a sample.
    task : {"classification", "regression", "multilabel"}
    classes : sequence, optional
        Class names, for reports; classification labels must then lie in
        ``[0, len(classes))``.
    n_classes : int, optional
        Number of classes when ``classes`` is not given (some may be absent
        from these samples). Without either, the labels must be exactly
        ``0..K-1``: a set such as ``{0, 1, 7}`` or ``{1, 2}`` is refused
        (it would silently make an 8- or 3-way model), naming the class set.
    encode_labels : bool
        Map the sorted distinct labels (any values, e.g. ``{1, 2}`` or
        strings) to ``0..K-1``; the original labels become ``classes``.

    Examples
    --------
    >>> ds = MultimodalDataset({"a": np.zeros((4, 3)), "b": np.ones((4, 2))}, np.array([0, 1, 0, 1]))
    >>> len(ds), ds.n_classes, ds.specs["b"].dim
    (4, 2, 2)
    """

    def __init__(
        self,
        modalities: Mapping[str, ArrayLike],
        target: np.ndarray | None = None,
        *,
        specs: Mapping[str, ModalitySpec] | None = None,
        ids: Sequence[Any] | None = None,
        present: Mapping[str, np.ndarray] | None = None,
        task: str = "classification",
        classes: Sequence[Any] | None = None,
        name: str = "",
        check_finite: bool = True,
        n_classes: int | None = None,
        encode_labels: bool = False,
    ) -> None:
        if not modalities:
            raise ModalityError("a MultimodalDataset needs at least one modality, got none")
        if task not in TASKS:
            raise ShapeError(f"task must be one of {TASKS}, got {task!r}")
        counts = {m: _num_samples(v) for m, v in modalities.items()}
        if len(set(counts.values())) > 1:
            listing = ", ".join(f"{m!r} has {n}" for m, n in counts.items())
            raise ModalityError(f"modalities have different numbers of samples: {listing}")
        self.n = next(iter(counts.values()))
        self.modalities: dict[str, ArrayLike] = dict(modalities)
        self.specs: dict[str, ModalitySpec] = {}
        for m, values in self.modalities.items():
            spec = (specs or {}).get(m) or _infer_spec(m, values)
            if spec.name != m:
                raise ModalityError(f"spec for modality {m!r} is named {spec.name!r}")
            self.specs[m] = spec
            if check_finite:
                _check_finite(m, values)
        if target is not None:
            target = np.asarray(target)
            if target.shape[0] != self.n:
                raise ShapeError(f"target has {target.shape[0]} samples, the modalities have {self.n}")
            if check_finite and np.issubdtype(target.dtype, np.floating) and not np.isfinite(target).all():
                raise ShapeError("target contains NaN or inf")
            if task == "classification":
                target, classes, n_classes = _class_indices(target, classes, n_classes, encode_labels)
        elif encode_labels:
            raise ShapeError("encode_labels=True needs a target")
        self._n_classes = n_classes
        self.target = target
        self.ids = list(ids) if ids is not None else list(range(self.n))
        if len(self.ids) != self.n:
            raise ShapeError(f"ids has {len(self.ids)} entries, the modalities have {self.n} samples")
        self.present: dict[str, np.ndarray] = {}
        for m, mask in (present or {}).items():
            if m not in self.modalities:
                raise ModalityError(f"present mask for unknown modality {m!r}; known: {list(self.modalities)}")
            raw = np.asarray(mask)
            if raw.dtype != bool and not (raw.dtype.kind in "iuf" and np.isin(raw, (0, 1)).all()):
                raise ShapeError(f"present mask of {m!r} must be booleans (or 0/1), got dtype {raw.dtype} with "
                                 f"values such as {np.unique(raw.ravel())[:5].tolist()}")
            mask = raw.astype(bool)
            if mask.shape != (self.n,):
                raise ShapeError(f"present mask of {m!r} must have shape ({self.n},), got {mask.shape}")
            self.present[m] = mask
        self.task = task
        self.classes = list(classes) if classes is not None else None
        self.name = name

    # -- basic protocol ---------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample: dict[str, Any] = {
            "inputs": {m: as_model_tensor(np.asarray(v[index])) for m, v in self.modalities.items()},
            "id": self.ids[index],
            "present": {m: bool(mask[index]) for m, mask in self.present.items()},
        }
        if self.target is not None:
            sample["target"] = torch.as_tensor(self.target[index])
        return sample

    def __repr__(self) -> str:
        views = ", ".join(f"{m}{tuple(s.shape)}" for m, s in self.specs.items())
        return f"MultimodalDataset({self.name or 'unnamed'}: {self.n} samples; {views}; task={self.task})"

    # -- derived datasets -------------------------------------------------
    @property
    def n_classes(self) -> int:
        if self.task != "classification" or self.target is None:
            raise ShapeError(f"n_classes is defined for classification with a target, task is {self.task!r}")
        if self.classes is not None:
            return len(self.classes)
        if self._n_classes is not None:
            return self._n_classes
        return int(np.max(self.target)) + 1 if len(self.target) else 0

    @property
    def n_outputs(self) -> int:
        """Size of the model output this dataset's task needs."""
        if self.task == "classification":
            return self.n_classes
        if self.target is None:
            raise ShapeError("dataset has no target")
        return 1 if self.target.ndim == 1 else int(self.target.shape[1])

    def check_modalities(self, names: Sequence[str]) -> None:
        unknown = [m for m in names if m not in self.modalities]
        if unknown:
            raise ModalityError(
                f"unknown modality {unknown[0]!r} for dataset {self.name or 'unnamed'}; "
                f"available: {list(self.modalities)}"
            )

    def _replace(self, modalities, index=None, present=None) -> "MultimodalDataset":
        def take(values):
            if index is None:
                return values
            return values[index] if isinstance(values, np.ndarray) else [values[i] for i in index]

        present = self.present if present is None else present
        return MultimodalDataset(
            {m: take(v) for m, v in modalities.items()},
            None if self.target is None else take(self.target),
            specs={m: self.specs[m] for m in modalities},
            ids=take(self.ids) if index is not None else self.ids,
            present={m: take(p) for m, p in present.items() if m in modalities},
            task=self.task,
            classes=self.classes,
            name=self.name,
            check_finite=False,
            n_classes=self.n_classes if self.task == "classification" and self.target is not None else None,
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> "MultimodalDataset":
        """The samples at ``indices`` (e.g. a train split)."""
        index = np.asarray(indices, dtype=np.int64)
        if index.size and (index.min() < -self.n or index.max() >= self.n):
            raise ShapeError(f"subset indices must lie in [0, {self.n}), got {index.min()}..{index.max()}")
        return self._replace(self.modalities, index)

    def select(self, names: Sequence[str]) -> "MultimodalDataset":
        """Only the modalities ``names``, in that order."""
        self.check_modalities(names)
        return self._replace({m: self.modalities[m] for m in names})

    def map_modalities(self, fn) -> "MultimodalDataset":
        """Apply ``fn(name, values) -> values`` to every modality."""
        return self._replace({m: fn(m, v) for m, v in self.modalities.items()})

    @property
    def fixed_shape(self) -> bool:
        """Whether every modality is one dense array (fast index batching applies)."""
        return all(isinstance(v, np.ndarray) for v in self.modalities.values())
