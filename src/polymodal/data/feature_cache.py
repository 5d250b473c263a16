"""Reading a feature cache: the dataset ``feature_cache`` (written by ``polymodal extract``).

A cache folder holds, per modality, ``<modality>.npy`` (float32 ``(N, d)`` or
``(N, T, d)``, memory-mapped on load), ``target.npy``, ``present_<modality>.npy``
where a modality is missing for some samples, and ``manifest.json``: the
dataset's name, options and content hash, the task and classes, and per
modality the encoder's name, revision, weights hash and preprocessing hash
with the key that decides whether a re-extraction can be skipped
(:mod:`polymodal.training.feature_cache`). A training config names it::

    data: {name: feature_cache, options: {path: runs/features/my_cache}}
    model: {encoder: {name: identity}, fusion: {name: concat}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.errors import DatasetError

__all__ = ["MANIFEST", "read_manifest", "load_feature_cache"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the cache folder ``path`` (:class:`DatasetError` if absent or unreadable)."""
    folder = Path(path)
    file = folder / MANIFEST
    if not file.is_file():
        raise DatasetError(f"{os.fspath(path)!r} is not a feature cache (no {MANIFEST}); "
                           "write one with `polymodal extract CONFIG --out FOLDER`")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{file} is not a valid feature-cache manifest ({error})") from None
    if manifest.get("format") != FORMAT_VERSION or not isinstance(manifest.get("modalities"), dict):
        raise DatasetError(f"{file} is not a polymodal feature-cache manifest (format {FORMAT_VERSION})")
    return manifest


@register_dataset("feature_cache", description="features of frozen encoders stored by `polymodal extract`",
                  source="data.options.path (a cache folder)", licence="that of the source dataset")
def load_feature_cache(path: str | os.PathLike, *, mmap: bool = True) -> MultimodalDataset:
    """The cached features as a dataset: one ``(N, d)`` (or ``(N, T, d)``) modality per
    encoder, the source's target, task, classes and missing-modality masks.
    ``mmap=True`` memory-maps the arrays (nothing is read until used)."""
    folder = Path(path)
    manifest = read_manifest(folder)

    def array(name: str) -> np.ndarray:
        file = folder / f"{name}.npy"
        if not file.is_file():
            raise DatasetError(f"feature cache {os.fspath(path)!r} lists {name!r} but {file.name} is missing; "
                               "re-run `polymodal extract`")
        return np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)

    modalities = {m: array(m) for m in manifest["modalities"]}
    present = {m: array(f"present_{m}") for m, info in manifest["modalities"].items() if info.get("has_present")}
    target = array("target") if manifest.get("has_target") else None
    source = manifest.get("dataset", {})
    task = manifest.get("task", "classification")
    return MultimodalDataset(modalities, target, present=present, task=task, classes=manifest.get("classes"),
                             n_classes=manifest.get("n_classes"), name=f"{source.get('name', 'features')}-features",
                             check_finite=False)
