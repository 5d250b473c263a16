"""The fitted preprocessing of a run as plain data, so it travels in checkpoints.

A :class:`~polymodal.data.datamodule.MultimodalDataModule` z-scores vector
modalities with training-split statistics (:class:`Standardizer`). A model
trained on such data is only right on data standardised the same way, so the
statistics are stored in every checkpoint as tensors
(``{"standardize": {"mean": {modality: Tensor}, "scale": {modality: Tensor}}}``,
or ``{"standardize": None}`` for a run on unstandardised data) and
:class:`~polymodal.training.module.MultimodalLightningModule` applies them to
raw batches (:func:`standardize_batch`); data already standardised with other
statistics is refused, naming the modality (:func:`check_same_preprocessing`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from polymodal.data.batch import Batch
from polymodal.data.transforms import Standardizer
from polymodal.errors import ConfigError, ShapeError

__all__ = ["preprocessing_state", "standardizer_from_state", "check_same_preprocessing", "standardize_batch"]


def preprocessing_state(standardizer: Standardizer | None) -> dict[str, Any]:
    """``standardizer`` as checkpoint-safe plain data (float64 tensors)."""
    if standardizer is None:
        return {"standardize": None}
    if not hasattr(standardizer, "mean_"):
        raise ConfigError("the Standardizer is not fitted; fit it before storing its statistics")
    if not isinstance(standardizer.mean_, dict):
        raise ConfigError("the Standardizer was fitted on one array, not per modality; fit it on the "
                          "training MultimodalDataset")
    return {"standardize": {
        "mean": {m: torch.as_tensor(np.asarray(v, dtype=np.float64)) for m, v in standardizer.mean_.items()},
        "scale": {m: torch.as_tensor(np.asarray(v, dtype=np.float64)) for m, v in standardizer.scale_.items()},
    }}


def standardizer_from_state(state: dict[str, Any] | None) -> Standardizer | None:
    """The :class:`Standardizer` stored by :func:`preprocessing_state` (``None``: no standardisation)."""
    stats = (state or {}).get("standardize")
    if not stats:
        return None
    return Standardizer.from_statistics({m: v.double().cpu().numpy() for m, v in stats["mean"].items()},
                                        {m: v.double().cpu().numpy() for m, v in stats["scale"].items()})


def check_same_preprocessing(model_state: dict[str, Any], data_state: dict[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` naming the first modality that ``data_state``
    (what the data went through) standardises differently from ``model_state``
    (what the model was trained on)."""
    model_stats = model_state.get("standardize") or {"mean": {}, "scale": {}}
    data_stats = data_state.get("standardize") or {"mean": {}, "scale": {}}
    for m in sorted(set(model_stats["mean"]) | set(data_stats["mean"])):
        if m not in data_stats["mean"]:
            raise ConfigError(f"modality {m!r}: {where} is not standardised, but the model was trained on data "
                              "standardised with its training-split statistics (pass the raw data instead: "
                              "the module standardises it with the stored statistics)")
        if m not in model_stats["mean"]:
            raise ConfigError(f"modality {m!r}: {where} is standardised, but the model was trained on "
                              "unstandardised values (use MultimodalDataModule(..., standardize=False))")
        for key in ("mean", "scale"):
            a, b = model_stats[key][m].double().cpu(), data_stats[key][m].double().cpu()
            if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-6, atol=1e-12):
                raise ConfigError(f"modality {m!r}: {where} is standardised with other statistics than the model's "
                                  f"training data ({key} differs); pass raw data, or a MultimodalDataModule built "
                                  "with standardizer=module.standardizer")


def standardize_batch(batch: Batch, state: dict[str, Any]) -> Batch:
    """``batch`` with each stored modality z-scored by the stored statistics
    (computed in float64 where the device has it, returned as float32)."""
    stats = state.get("standardize")
    if not stats:
        return batch
    inputs = dict(batch.inputs)
    for m, mean in stats["mean"].items():
        if m not in inputs:
            continue
        x = inputs[m]
        if tuple(x.shape[1:]) != tuple(mean.shape):
            raise ShapeError(f"modality {m!r}: samples of shape {tuple(x.shape[1:])}, but the model's stored "
                             f"standardisation statistics have shape {tuple(mean.shape)}")
        dtype = torch.float32 if x.device.type == "mps" else torch.float64
        mean_d = mean.to(device=x.device, dtype=dtype)
        scale_d = stats["scale"][m].to(device=x.device, dtype=dtype)
        inputs[m] = ((x.to(dtype) - mean_d) / scale_d).to(torch.float32)
    return Batch(inputs, batch.target, dict(batch.lengths), dict(batch.mask), dict(batch.present), batch.ids)
