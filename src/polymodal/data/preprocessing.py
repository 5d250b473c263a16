"""The fitted preprocessing of a run as plain data, so it travels in checkpoints.

A :class:`~polymodal.data.datamodule.MultimodalDataModule` z-scores vector
modalities with training-split statistics (:func:`modality_statistics`,
applied by :func:`standardize_modalities`; :class:`~polymodal.data.transforms.Standardizer`
is the same as a scikit-learn transformer). A model
trained on such data is only right on data standardised the same way, so the
statistics are stored in every checkpoint as tensors
(``{"standardize": {"mean": {modality: Tensor}, "scale": {modality: Tensor}}}``,
or ``{"standardize": None}`` for a run on unstandardised data) and
:class:`~polymodal.training.module.MultimodalLightningModule` applies them to
raw batches (:func:`standardize_batch`); data already standardised with other
statistics is refused, naming the modality (:func:`check_same_preprocessing`).

This module imports neither scikit-learn nor Lightning: the training engine's
fast path standardises through it (``Standardizer`` is imported only where it is asked for).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from polymodal.data.batch import Batch
from polymodal.data.dataset import MultimodalDataset
from polymodal.errors import ConfigError, ModalityError, ShapeError

if TYPE_CHECKING:
    from polymodal.data.transforms import Standardizer

__all__ = ["array_statistics", "modality_statistics", "standardize_modalities", "preprocessing_state",
           "statistics_state", "standardizer_from_state", "check_same_preprocessing", "standardize_batch"]

_EPS = 1e-12  # features with a smaller standard deviation are constant: scale 1


def _checked_values(name: str, values, rows: np.ndarray | None = None) -> np.ndarray:
    """``values`` as a float64 ``(n, ...)`` array, or :class:`ShapeError` naming modality ``name``
    when it is a scalar, ragged, not real-valued (strings, objects, complex) or holds NaN/inf in a
    row where ``rows`` (a (n,) bool mask, ``None``: every row) is True."""
    try:
        x = np.asarray(values)
    except ValueError as error:  # a ragged nested list
        raise ShapeError(f"modality {name!r} is not one array of samples: {error}") from None
    if x.ndim == 0:
        raise ShapeError(f"modality {name!r} is a scalar; it needs an array of samples, shape (n, ...)")
    if x.dtype.kind == "c":
        raise ShapeError(f"modality {name!r} is complex ({x.dtype}); standardisation needs real values")
    if x.dtype.kind not in "biufO":
        raise ShapeError(f"modality {name!r} has dtype {x.dtype}, not numeric; standardisation needs real values")
    try:
        x = x.astype(np.float64)
    except (TypeError, ValueError):
        raise ShapeError(f"modality {name!r} holds objects that are not numbers (dtype {x.dtype})") from None
    bad = ~np.isfinite(x)
    if rows is not None:
        bad[~rows] = False  # a row marked missing holds a placeholder, whatever its value
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(x[where]) else "inf"
        raise ShapeError(f"modality {name!r} contains {kind} at sample {where[0]}, index {where[1:]}; clean or "
                         "impute it first, or mark the sample as missing with `present`")
    return x


def _present_rows(name: str, mask, n: int) -> np.ndarray | None:
    """A dataset's ``present`` mask of modality ``name``, checked to be a (n,) bool array."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise ShapeError(f"present mask of {name!r} must be a ({n},) bool array, got {mask.dtype} of shape "
                         f"{mask.shape}")
    return mask


def array_statistics(name: str, values) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation over the first axis (float64); a feature whose
    standard deviation is below 1e-12 gets scale 1. ``name`` is the modality named in errors
    (:class:`ShapeError` for no samples, non-real values, NaN or inf)."""
    x = _checked_values(name, values)
    if x.shape[0] == 0:
        raise ShapeError(f"modality {name!r}: needs at least one sample to standardise, got shape {x.shape}")
    mean, std = x.mean(axis=0), x.std(axis=0)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):  # finite values whose sum overflows
        raise ShapeError(f"modality {name!r}: its values are too large; the standardisation statistics overflow")
    return mean, np.where(std > _EPS, std, 1.0)


def modality_statistics(data: MultimodalDataset | Mapping) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(mean, scale)``, each ``{modality: array of the sample shape}`` (float64), of every modality
    of ``data`` held as one array; variable-length modalities (lists of arrays) get none. A
    dataset's samples marked missing (``present`` False) hold placeholders and are left out (they
    may be NaN). Bad input is refused naming the modality: no modalities (:class:`ModalityError`),
    NaN/inf in a present sample, strings, complex values, no present sample, a ``present`` mask that
    is not a (n,) bool array (:class:`ShapeError`).

    Examples
    --------
    >>> mean, scale = modality_statistics({"a": np.array([[0.0, 1.0], [2.0, 1.0]])})
    >>> mean["a"].tolist(), scale["a"].tolist()
    ([1.0, 1.0], [1.0, 1.0])
    """
    mods = data.modalities if isinstance(data, MultimodalDataset) else data
    present = data.present if isinstance(data, MultimodalDataset) else {}
    if not isinstance(mods, Mapping) or len(mods) == 0:
        raise ModalityError(f"no modalities to standardise: got {type(mods).__name__} {mods!r:.80}")
    mean, scale = {}, {}
    for m, values in mods.items():
        if isinstance(values, np.ndarray):
            rows = _present_rows(m, present.get(m), len(values)) if values.ndim else None
            x = _checked_values(m, values, rows)
            if rows is not None:  # a sample marked missing holds a placeholder: it must not move the statistics
                if not rows.any():
                    raise ShapeError(f"modality {m!r}: every sample is marked missing (present is all False); "
                                     "there is nothing to compute its statistics from")
                x = x[rows]
            mean[m], scale[m] = array_statistics(m, x)
    return mean, scale


def standardize_modalities(data: MultimodalDataset | Mapping, mean: Mapping, scale: Mapping, inverse: bool = False):
    """``data`` (a dataset or ``{modality: array}``, the same container back) with each modality in
    ``mean`` z-scored, :math:`(x - \\mu) / \\sigma` in float64, returned as float32; variable-length
    modalities (lists of arrays, never given statistics) pass through. ``inverse=True`` computes
    :math:`z \\sigma + \\mu` instead. Refused, naming the modality: a modality of ``mean`` missing
    from ``data``, or one held as an array without statistics (:class:`ModalityError`); a sample
    shape other than the statistics', non-real values, NaN/inf (:class:`ShapeError`). A dataset's
    samples marked missing (``present`` False) are not checked: their placeholders go through.

    Examples
    --------
    >>> standardize_modalities({"a": np.array([[3.0, 5.0]])}, {"a": np.ones(2)}, {"a": np.ones(2)})["a"].tolist()
    [[2.0, 4.0]]
    """
    mods = data.modalities if isinstance(data, MultimodalDataset) else data
    present = data.present if isinstance(data, MultimodalDataset) else {}
    if not isinstance(mods, Mapping):
        raise ModalityError(f"expected a MultimodalDataset or a {{modality: array}} mapping, got {type(data).__name__}")
    missing = [m for m in mean if m not in mods]
    if missing:
        raise ModalityError(f"modalities {missing} have fitted statistics but are missing from the data, "
                            f"which has {list(mods)}")
    unknown = [m for m, v in mods.items() if m not in mean and isinstance(v, np.ndarray)]
    if unknown:
        raise ModalityError(f"modalities {unknown} have no fitted statistics (fitted on {list(mean)}); "
                            "fit on data with them, or select the fitted modalities")

    def apply(m, values):
        if m not in mean:
            return values
        rows = _present_rows(m, present[m], len(values)) if m in present else None
        x = _checked_values(m, values, rows)
        if x.shape[1:] != mean[m].shape:
            raise ShapeError(f"modality {m!r}: samples of shape {x.shape[1:]}, but the fitted "
                             f"statistics have shape {mean[m].shape}")
        return (x * scale[m] + mean[m] if inverse else (x - mean[m]) / scale[m]).astype(np.float32)

    if isinstance(data, MultimodalDataset):
        return data.map_modalities(apply)
    return {m: apply(m, v) for m, v in data.items()}


def statistics_state(mean: Mapping | None, scale: Mapping | None) -> dict[str, Any]:
    """Per-modality statistics as checkpoint-safe plain data (float64 tensors); ``None``: no standardisation."""
    if mean is None and scale is None:
        return {"standardize": None}
    if mean is None or scale is None:
        raise ConfigError("mean and scale must both be given (or both None for no standardisation)")
    if set(mean) != set(scale):
        odd = sorted(set(mean) ^ set(scale))
        raise ModalityError(f"modalities {odd} have a mean or a scale but not both")
    return {"standardize": {
        "mean": {m: torch.as_tensor(np.asarray(v, dtype=np.float64)) for m, v in mean.items()},
        "scale": {m: torch.as_tensor(np.asarray(v, dtype=np.float64)) for m, v in scale.items()},
    }}


def preprocessing_state(standardizer: Standardizer | None) -> dict[str, Any]:
    """``standardizer`` as checkpoint-safe plain data (float64 tensors)."""
    if standardizer is None:
        return {"standardize": None}
    if not hasattr(standardizer, "mean_"):
        raise ConfigError("the Standardizer is not fitted; fit it before storing its statistics")
    if not isinstance(standardizer.mean_, dict):
        raise ConfigError("the Standardizer was fitted on one array, not per modality; fit it on the "
                          "training MultimodalDataset")
    return statistics_state(standardizer.mean_, standardizer.scale_)


def standardizer_from_state(state: dict[str, Any] | None) -> Standardizer | None:
    """The :class:`Standardizer` stored by :func:`preprocessing_state` (``None``: no standardisation)."""
    stats = (state or {}).get("standardize")
    if not stats:
        return None
    from polymodal.data.transforms import Standardizer  # scikit-learn: only where an estimator is asked for

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
