"""Output dataclasses as pytree nodes, so ``torch.export``, ``torch.onnx`` and
``torch.compile`` can trace modules that return them.

Every dataclass a module's ``forward`` returns (``ModelOutput``,
``AttentionOutput``, ``CaptionOutput``, ...) is decorated with
:func:`pytree_output`::

    @pytree_output
    @dataclass
    class MILOutput: ...

Without it ``torch.export.export`` refuses the output ("register a pytree");
with it the fields (tensors, ``None``, dicts of tensors) become the flattened
outputs, in field order, and the exported program rebuilds the dataclass.
"""

from __future__ import annotations

import dataclasses

import torch.utils._pytree as _pytree

__all__ = ["pytree_output"]


def pytree_output(cls: type) -> type:
    """Register the dataclass ``cls`` as a pytree node (fields in declaration
    order, serialised as ``module.QualName``); returns ``cls`` unchanged."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"pytree_output needs a dataclass, got {cls!r}")
    if cls not in _pytree.SUPPORTED_NODES:  # a module reload must not register twice
        _pytree.register_dataclass(cls, serialized_type_name=f"{cls.__module__}.{cls.__qualname__}")
    return cls
