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

from polymodal.errors import ConfigError

__all__ = ["FORMATS", "SUFFIXES", "FlatModel", "export_model", "output_names"]

FORMATS = ("onnx", "torchscript", "exported-program")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


class FlatModel(nn.Module):
    """``model`` as ``forward(x_1, ..., x_M, present_1, ..., present_M) -> (logits, ...)``:
    positional tensors in, a flat tuple of tensors out (what every exporter takes)."""

    def __init__(self, model: nn.Module, modalities: list[str]) -> None:
        super().__init__()
        self.model, self.modalities = model, list(modalities)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        k = len(self.modalities)
        inputs = dict(zip(self.modalities, tensors[:k]))
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
        out = model.model(dict(zip(model.modalities, example[: len(model.modalities)])),
                          dict(zip(model.modalities, example[len(model.modalities):])))
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
                 format: str = "onnx", present: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Export ``model`` (a :class:`MultimodalModel`, in eval mode) traced on the example
    ``inputs`` (``{modality: (N, ...) tensor}``, N >= 2) to ``out``; returns the path.

    Raises :class:`ConfigError` for an unknown format or a model the exporter cannot trace
    (naming the exporter's first line of explanation).
    """
    if format not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}, got {format!r}")
    out = Path(out)
    model = model.eval()
    flat = FlatModel(model, list(model.encoders)).eval()
    example = _example(model, inputs, present)
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
            "dtypes": {m: str(example[i].dtype).removeprefix("torch.") for i, m in enumerate(flat.modalities)}}
    Path(f"{out}.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike | None = None, *,
                      format: str = "onnx", batch_size: int = 8) -> Path:
    """Rebuild the model of a ``polymodal train`` checkpoint and export it, traced on
    ``batch_size`` samples of its run's test split."""
    from polymodal.training.engine import load_trained

    if format not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}, got {format!r}")
    model, _, _, datamodule = load_trained(checkpoint)
    batch = next(iter(datamodule.test_dataloader()))
    n = max(2, min(batch_size, int(batch.target.shape[0]) if batch.target is not None else batch_size))
    inputs = {m: x[:n] for m, x in batch.inputs.items()}
    present = {m: p[:n] for m, p in batch.present.items()}
    target = Path(out) if out is not None else Path(checkpoint).with_suffix(SUFFIXES[format])
    return export_model(model, inputs, target, format=format, present=present)

