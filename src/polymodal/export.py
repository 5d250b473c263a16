"""Export a trained :class:`~polymodal.training.model.MultimodalModel` for serving.

Three formats (``polymodal export CHECKPOINT --format ...``):

- ``onnx`` (``.onnx``): the ``torch.onnx`` dynamo exporter (``torch.export`` underneath);
  run it with ``onnxruntime`` (``pip install 'polymodal[export]'``).
- ``torchscript`` (``.pt``): ``torch.jit.trace``; load with ``torch.jit.load``.
- ``exported-program`` (``.pt2``): ``torch.export``; load with ``torch.export.load``.

The exported graph takes flat tensors in a fixed order, one input per
modality (named after it) and then one ``(N,)`` bool mask per modality
(``present_<modality>``; False marks a missing modality, as in
:class:`~polymodal.data.batch.Batch`), and returns ``logits`` followed, for
decision-level fusion, by ``branch_logits_<b>`` and ``branch_present_<b>``
(the fields of :class:`~polymodal.training.model.ModelOutput`). The batch
size is dynamic. The metadata (modalities, shapes, output names) is written
next to the file as ``<file>.json``.

**Inputs are raw data.** A checkpoint stores the standardisation of its
run's training split (``polymodal_preprocessing``, see
:mod:`polymodal.data.preprocessing`); :func:`export_checkpoint` folds it into
the graph (:class:`Standardize`: ``(x - mean) / scale`` per modality, as
constant buffers, computed in float64 like
:func:`~polymodal.data.preprocessing.standardize_batch`), so the artefact
takes raw data exactly as ``MultimodalLightningModule.load_from_checkpoint``
does. ``export_checkpoint(..., fold_preprocessing=False)`` exports the bare
model, which expects standardised inputs. A checkpoint written before the
statistics were stored holds none and nothing is folded (as the reloaded
module applies nothing). ``<file>.json`` says which: ``"standardize":
"folded"``, or ``"none"`` (the graph takes what the bare model takes).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from polymodal.errors import ConfigError, ShapeError

__all__ = ["FORMATS", "SUFFIXES", "FlatModel", "Standardize", "export_model", "export_checkpoint", "output_names"]

FORMATS = ("onnx", "torchscript", "exported-program")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


class Standardize(nn.Module):
    """Per-modality z-scoring ``x_m -> (x_m - mean_m) / scale_m`` with fixed statistics
    (float64 buffers ``mean_<i>``/``scale_<i>`` of the sample shape; the arithmetic is done
    in float64 and returned as float32, as :func:`~polymodal.data.preprocessing.standardize_batch`
    does). Modalities without statistics pass through unchanged.

    Parameters
    ----------
    mean, scale : dict
        ``{modality: array of the sample shape}`` (a fitted
        :class:`~polymodal.data.transforms.Standardizer`'s ``mean_`` and ``scale_``).

    Examples
    --------
    >>> import torch
    >>> z = Standardize({"a": [1.0, 2.0]}, {"a": [2.0, 4.0]})
    >>> z({"a": torch.tensor([[3.0, 2.0]]), "b": torch.ones(1, 1)})["a"]
    tensor([[1., 0.]])
    """

    def __init__(self, mean: Mapping, scale: Mapping) -> None:
        super().__init__()
        self.modalities = sorted(mean)
        for i, m in enumerate(self.modalities):
            self.register_buffer(f"mean_{i}", torch.as_tensor(mean[m], dtype=torch.float64).clone())
            self.register_buffer(f"scale_{i}", torch.as_tensor(scale[m], dtype=torch.float64).clone())

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = dict(inputs)
        for i, m in enumerate(self.modalities):
            if m in out:
                mean, scale = getattr(self, f"mean_{i}"), getattr(self, f"scale_{i}")
                out[m] = ((out[m].to(torch.float64) - mean) / scale).to(torch.float32)
        return out


def _standardize_of(preprocessing) -> Standardize | None:
    """A :class:`Standardize` from a checkpoint's ``polymodal_preprocessing`` entry or a
    fitted ``Standardizer`` (``None``: nothing to apply)."""
    if preprocessing is None:
        return None
    if isinstance(preprocessing, Mapping):
        stats = preprocessing.get("standardize")
        return Standardize(stats["mean"], stats["scale"]) if stats else None
    if not isinstance(getattr(preprocessing, "mean_", None), Mapping):
        raise ConfigError("the Standardizer to fold into the export is not fitted per modality")
    return Standardize(preprocessing.mean_, preprocessing.scale_)


class FlatModel(nn.Module):
    """``model`` as ``forward(x_1, ..., x_M, present_1, ..., present_M) -> (logits, ...)``:
    positional tensors in, a flat tuple of tensors out (what every exporter takes);
    ``standardize`` (a :class:`Standardize`), when given, is applied to the inputs first."""

    def __init__(self, model: nn.Module, modalities: list[str], standardize: Standardize | None = None) -> None:
        super().__init__()
        self.model, self.modalities, self.standardize = model, list(modalities), standardize

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        k = len(self.modalities)
        inputs = dict(zip(self.modalities, tensors[:k]))
        if self.standardize is not None:
            inputs = self.standardize(inputs)
        present = dict(zip(self.modalities, tensors[k:]))
        out = self.model(inputs, present)
        flat = [out.logits]
        for b in sorted(out.branch_logits):
            flat.append(out.branch_logits[b])
        for b in sorted(out.branch_present):
            flat.append(out.branch_present[b])
        return tuple(flat)


def output_names(model: nn.Module, example: tuple[torch.Tensor, ...]) -> list[str]:
    """``logits``, ``branch_logits_<b>``..., ``branch_present_<b>``... for ``model``'s output."""
    with torch.no_grad():
        inputs = dict(zip(model.modalities, example[: len(model.modalities)]))
        if getattr(model, "standardize", None) is not None:
            inputs = model.standardize(inputs)
        out = model.model(inputs, dict(zip(model.modalities, example[len(model.modalities):])))
    return (["logits"] + [f"branch_logits_{b}" for b in sorted(out.branch_logits)]
            + [f"branch_present_{b}" for b in sorted(out.branch_present)])


def _example(model: nn.Module, inputs: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None
             ) -> tuple[torch.Tensor, ...]:
    modalities = list(model.encoders)
    missing = [m for m in modalities if m not in inputs]
    if missing:
        raise ConfigError(f"export needs an example input for modality {missing[0]!r}")
    n = int(next(iter(inputs.values())).shape[0])
    masks = []
    for m in modalities:
        mask = (present or {}).get(m)
        masks.append(torch.ones(n, dtype=torch.bool) if mask is None else torch.as_tensor(mask, dtype=torch.bool))
    return tuple(torch.as_tensor(inputs[m]) for m in modalities) + tuple(masks)


def export_model(model: nn.Module, inputs: Mapping[str, torch.Tensor], out: str | os.PathLike, *,
                 format: str = "onnx", present: Mapping[str, torch.Tensor] | None = None,
                 preprocessing=None) -> Path:
    """Export ``model`` (a :class:`MultimodalModel`, in eval mode) traced on the example
    ``inputs`` (``{modality: (N, ...) tensor}``, N >= 2, the data the exported graph takes)
    to ``out``; returns the path.

    ``preprocessing`` (a checkpoint's ``polymodal_preprocessing`` entry,
    ``{"standardize": {"mean": {...}, "scale": {...}} | None}``, or a fitted
    :class:`~polymodal.data.transforms.Standardizer`) is folded into the graph
    (:class:`Standardize` before the model), so the export takes raw data; with ``None``
    it takes what ``model`` takes.

    Raises :class:`ConfigError` for an unknown format or a model the exporter cannot trace
    (naming the exporter's first line of explanation), :class:`ShapeError` when an example
    modality's sample shape differs from its statistics'.
    """
    if format not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}, got {format!r}")
    out = Path(out)
    model = model.eval()
    standardize = _standardize_of(preprocessing)
    flat = FlatModel(model, list(model.encoders), standardize).eval()
    example = _example(model, inputs, present)
    if standardize is not None:
        for i, m in enumerate(standardize.modalities):
            x = inputs.get(m)
            stat = getattr(standardize, f"mean_{i}")
            if x is not None and tuple(x.shape[1:]) != tuple(stat.shape):
                raise ShapeError(f"modality {m!r}: samples of shape {tuple(x.shape[1:])}, but the standardisation "
                                 f"statistics to fold into the export have shape {tuple(stat.shape)}")
    if example[0].shape[0] < 2:
        raise ConfigError("export needs an example batch of at least 2 samples (the batch size stays dynamic)")
    names_in = list(flat.modalities) + [f"present_{m}" for m in flat.modalities]
    names_out = output_names(flat, example)
    batch = torch.export.Dim("batch", min=1)
    dynamic = (tuple({0: batch} for _ in example),)  # forward(*tensors): one varargs entry
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision is not installed"
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if format == "onnx":
                program = torch.onnx.export(flat, example, dynamic_shapes=dynamic, input_names=names_in,
                                            output_names=names_out, dynamo=True, verbose=False, report=False)
                program.save(str(out))
            elif format == "exported-program":
                torch.export.save(torch.export.export(flat, example, dynamic_shapes=dynamic), str(out))
            else:
                torch.jit.trace(flat, example, check_trace=False).save(str(out))
    except ImportError as error:
        raise ConfigError(f"export to {format} needs {error.name or 'onnx'}: pip install 'polymodal[export]'") from None
    except (RuntimeError, TypeError, ValueError, AssertionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot export this model to {format}: {first}") from None
    finally:
        quiet.setLevel(level)
    meta = {"format": format, "inputs": names_in, "outputs": names_out,
            "shapes": {m: list(example[i].shape[1:]) for i, m in enumerate(flat.modalities)},
            "dtypes": {m: str(example[i].dtype).removeprefix("torch.") for i, m in enumerate(flat.modalities)},
            "standardize": "folded" if standardize is not None else "none"}
    Path(f"{out}.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike | None = None, *,
                      format: str = "onnx", batch_size: int = 8, fold_preprocessing: bool = True) -> Path:
    """Rebuild the model of a ``polymodal train`` checkpoint and export it, traced on
    ``batch_size`` samples of its run's test split.

    The export takes raw data: the standardisation stored in the checkpoint is folded
    into the graph (as ``MultimodalLightningModule.load_from_checkpoint`` applies it);
    ``fold_preprocessing=False`` exports the bare model, which takes data standardised
    with the training split's statistics (``load_trained(checkpoint)[3].standardizer``).
    """
    from polymodal.training.checkpoint import load_checkpoint_file
    from polymodal.training.engine import load_trained

    if format not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}, got {format!r}")
    model, _, _, datamodule = load_trained(checkpoint)
    stored = load_checkpoint_file(checkpoint, require_seal=True).get("polymodal_preprocessing")
    batch = next(iter(datamodule.test_dataloader()))
    n = max(2, min(batch_size, int(batch.target.shape[0]) if batch.target is not None else batch_size))
    inputs = {m: x[:n] for m, x in batch.inputs.items()}
    present = {m: p[:n] for m, p in batch.present.items()}
    stats = (stored or {}).get("standardize")
    if stats and fold_preprocessing:  # the test split is standardised: trace on its raw values
        for m, mean in stats["mean"].items():
            if m in inputs:
                x = inputs[m]
                inputs[m] = (x.double() * stats["scale"][m].double() + mean.double()).to(x.dtype)
    target = Path(out) if out is not None else Path(checkpoint).with_suffix(SUFFIXES[format])
    return export_model(model, inputs, target, format=format, present=present,
                        preprocessing=stored if fold_preprocessing else None)

