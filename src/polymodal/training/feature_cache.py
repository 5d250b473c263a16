"""``polymodal extract``: run frozen encoders once over a dataset and cache their features.

Training a fusion on top of frozen encoders (a pretrained BERT, ViT,
wav2vec 2.0) recomputes the same encoder outputs every epoch; extracting them
once and training on the cache (``data.name: feature_cache``) gives the same
model inputs at a fraction of the cost (``benchmarks/bench_feature_cache.py``).

The cache is keyed per modality on everything that decides the features: the
encoder's config block, name, revision, weights hash and preprocessing hash
(:meth:`~polymodal.encoders.pretrained.HFEncoder.fingerprint`; for other
encoders their class, config and weights), and the dataset's name, options,
modality selection and a hash of its content. A modality whose key matches
the manifest is not extracted again; any change re-extracts it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polymodal.data.catalog import load_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.feature_cache import FORMAT_VERSION, MANIFEST, read_manifest
from polymodal.errors import ConfigError, DatasetError
from polymodal.training.config import ExperimentConfig, parse_config
from polymodal.core.registry import build

__all__ = ["ExtractResult", "extract_features", "encoder_fingerprint", "dataset_fingerprint"]


@dataclass
class ExtractResult:
    """What :func:`extract_features` did: the cache folder, and which modalities it
    extracted now and which it kept (their key matched)."""

    path: Path
    extracted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _array_hash(values: Any) -> str:
    h = hashlib.sha256()
    arrays = [values] if isinstance(values, np.ndarray) else list(values)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def encoder_fingerprint(encoder: torch.nn.Module, spec: dict[str, Any]) -> dict[str, Any]:
    """What decides an encoder's features: its ``fingerprint()`` (pretrained encoders:
    name, revision, weights and preprocessing hash) or, for any other module, its
    class and a hash of its weights; plus its config block."""
    if hasattr(encoder, "fingerprint"):
        info = dict(encoder.fingerprint())
    else:
        h = hashlib.sha256()
        for key, tensor in sorted(encoder.state_dict().items()):
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        info = {"encoder": type(encoder).__name__, "name": spec.get("name"), "revision": None,
                "weights_hash": h.hexdigest()[:16], "preprocessing_hash": _digest({})}
    info["config"] = spec
    return info


def dataset_fingerprint(config: ExperimentConfig, dataset: MultimodalDataset) -> dict[str, Any]:
    """The dataset's name, options, size and a hash of every modality, target and mask."""
    content = {m: _array_hash(v) for m, v in dataset.modalities.items()}
    if dataset.target is not None:
        content["target"] = _array_hash(dataset.target)
    content.update({f"present_{m}": _array_hash(p) for m, p in dataset.present.items()})
    return {"name": config.data.name, "options": config.data.options, "n": len(dataset), "content": content}


def _in_features(spec) -> int:
    if spec.kind == "sequence" or spec.variable_length:
        return spec.dim
    size = 1
    for s in spec.shape:
        size *= s
    return size


@torch.no_grad()
def _run(encoder: torch.nn.Module, values: Any, batch_size: int) -> np.ndarray:
    if not isinstance(values, np.ndarray):
        raise DatasetError("feature extraction needs fixed-shape modalities (one array per modality); "
                           "variable-length sequences are not supported yet")
    encoder.eval()
    chunks = []
    for start in range(0, len(values), batch_size):
        x = np.asarray(values[start:start + batch_size])
        x = torch.as_tensor(x, dtype=torch.float32) if np.issubdtype(x.dtype, np.floating) else torch.as_tensor(x)
        chunks.append(encoder(x).float().cpu().numpy())
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _write_array(folder: Path, name: str, values: np.ndarray) -> None:
    tmp = folder / f".{name}.npy.tmp"
    with open(tmp, "wb") as handle:
        np.save(handle, values, allow_pickle=False)
    os.replace(tmp, folder / f"{name}.npy")


def extract_features(config: ExperimentConfig | dict[str, Any], out: str | os.PathLike, *,
                     batch_size: int = 64, force: bool = False, dataset: MultimodalDataset | None = None
                     ) -> ExtractResult:
    """Run each modality's encoder (``config.model.encoders`` / ``model.encoder``, frozen,
    eval mode, no gradients) over the whole dataset ``config.data`` (not standardised)
    and store the features in the folder ``out``.

    A modality whose key (encoder fingerprint + dataset fingerprint) equals the
    manifest's is skipped unless ``force``. Returns an :class:`ExtractResult`.
    Train on the result with ``data: {name: feature_cache, options: {path: out}}``.
    """
    import time

    start = time.perf_counter()
    config = parse_config(config)
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    if dataset is None:
        dataset = load_dataset(config.data.name, **config.data.options)
    if config.data.modalities is not None:
        dataset = dataset.select(config.data.modalities)
    m = config.model
    unknown = [k for k in m.encoders if k not in dataset.specs]
    if unknown:
        raise ConfigError(f"config key 'model.encoders.{unknown[0]}': unknown modality; the data has {list(dataset.specs)}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        old = read_manifest(folder)
    except DatasetError:
        old = {"modalities": {}}
    data_print = dataset_fingerprint(config, dataset)
    entries: dict[str, Any] = {}
    result = ExtractResult(folder)
    torch.manual_seed(config.seed)
    for name, spec in dataset.specs.items():
        block = m.encoders.get(name, m.encoder)
        where = f"model.encoders.{name}" if name in m.encoders else "model.encoder"
        encoder = build("encoder", block, where=where, in_features=_in_features(spec))
        info = encoder_fingerprint(encoder, block)
        key = _digest(info, data_print)
        previous = old["modalities"].get(name, {})
        has_present = name in dataset.present
        if not force and previous.get("key") == key and (folder / f"{name}.npy").is_file():
            result.skipped.append(name)
        else:
            _write_array(folder, name, _run(encoder, dataset.modalities[name], batch_size))
            if has_present:
                _write_array(folder, f"present_{name}", np.asarray(dataset.present[name], dtype=bool))
            result.extracted.append(name)
        shape = list(np.load(folder / f"{name}.npy", mmap_mode="r").shape[1:])
        entries[name] = {**info, "key": key, "shape": shape, "has_present": has_present}
    if dataset.target is not None:
        _write_array(folder, "target", np.asarray(dataset.target))
    for stale in set(old["modalities"]) - set(entries):  # modalities no longer extracted
        for file in (folder / f"{stale}.npy", folder / f"present_{stale}.npy"):
            file.unlink(missing_ok=True)
    manifest = {
        "format": FORMAT_VERSION,
        "dataset": data_print,
        "task": dataset.task,
        "classes": dataset.classes,
        "n_classes": dataset.n_classes if dataset.task == "classification" and dataset.target is not None else None,
        "has_target": dataset.target is not None,
        "modalities": entries,
    }
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    result.seconds = time.perf_counter() - start
    return result


def remove_cache(path: str | os.PathLike) -> None:
    """Delete a cache folder (only one with a manifest: never an arbitrary folder)."""
    read_manifest(path)
    shutil.rmtree(path)
