"""The dataset catalog: ``load_dataset(name)`` and ``list_datasets()``.

Loaders register themselves with :func:`register_dataset` where they are
defined; the catalog records where each dataset comes from, its licence and
whether it can be loaded on this machine without a network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from polymodal.data.dataset import MultimodalDataset
from polymodal.errors import DatasetError

__all__ = ["DatasetInfo", "register_dataset", "load_dataset", "list_datasets"]


@dataclass(frozen=True)
class DatasetInfo:
    """Catalog entry of one dataset."""

    name: str
    loader: Callable[..., MultimodalDataset]
    description: str
    source: str
    licence: str
    available: Callable[[], bool | str]

    def availability(self) -> tuple[bool, str]:
        """``(available, how)``: whether it loads here, and why (not)."""
        result = self.available()
        if isinstance(result, str):
            return False, result
        return bool(result), "loads here" if result else "not available"


_CATALOG: dict[str, DatasetInfo] = {}


def register_dataset(
    name: str, *, description: str, source: str, licence: str, available: Callable[[], bool | str] = lambda: True
) -> Callable[[Callable[..., MultimodalDataset]], Callable[..., MultimodalDataset]]:
    """Decorator registering a loader function under ``name``."""

    def decorate(loader: Callable[..., MultimodalDataset]) -> Callable[..., MultimodalDataset]:
        _CATALOG[name] = DatasetInfo(name, loader, description, source, licence, available)
        return loader

    return decorate


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, sorted by name."""
    return [_CATALOG[k] for k in sorted(_CATALOG)]


def load_dataset(name: str, **kwargs) -> MultimodalDataset:
    """Load the dataset registered as ``name``.

    >>> load_dataset("mfeat").specs["pix"].dim
    240
    """
    try:
        info = _CATALOG[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; available: {sorted(_CATALOG)}") from None
    return info.loader(**kwargs)
