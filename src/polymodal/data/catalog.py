"""The dataset catalog: ``load_dataset(name)`` and ``list_datasets()``.

Loaders register themselves with :func:`register_dataset` where they are
defined; the catalog records where each dataset comes from, its licence and
whether it can be loaded on this machine without a network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from polymodal.data.dataset import MultimodalDataset
from polymodal.errors import ConfigError, DatasetError

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


# modules whose loaders register on first use of the catalog (importing polymodal.data loads none of them)
_LAZY_LOADER_MODULES = ("polymodal.data.mfeat", "polymodal.data.av_digits", "polymodal.data.sequences_synthetic",
                        "polymodal.data.affective", "polymodal.data.avmnist", "polymodal.data.user_files",
                        "polymodal.data.feature_cache")
_lazy_loaded = False


def _load_lazy() -> None:
    global _lazy_loaded
    if not _lazy_loaded:
        import importlib

        _lazy_loaded = True
        for module in _LAZY_LOADER_MODULES:
            importlib.import_module(module)


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, sorted by name."""
    _load_lazy()
    return [_CATALOG[k] for k in sorted(_CATALOG)]


def load_dataset(name: str, **kwargs) -> MultimodalDataset:
    """Load the dataset registered as ``name`` with the loader's keyword
    arguments ``kwargs`` (a config's ``data.options``).

    ``name`` may also be a loader of your own, ``"my_pkg.data:load_mine"``: a
    function returning a :class:`MultimodalDataset`.

    >>> load_dataset("mfeat").specs["pix"].dim
    240
    """
    from polymodal.core.import_path import is_import_path, resolve_import_path

    if is_import_path(name):
        loader, what = resolve_import_path(name, "data.name"), f"loader {name!r}"
    else:
        if name not in _CATALOG:
            _load_lazy()
        try:
            loader, what = _CATALOG[name].loader, f"dataset {name!r}"
        except (KeyError, TypeError):
            raise DatasetError(f"unknown dataset {name!r}; available: {sorted(_CATALOG)} "
                               "(or a loader of your own as 'package.module:function')") from None
    _check_options(loader, kwargs, what)
    dataset = loader(**kwargs)
    if not isinstance(dataset, MultimodalDataset):
        raise DatasetError(f"{what} returned a {type(dataset).__name__}, not a MultimodalDataset")
    return dataset


def _check_options(loader: Callable[..., MultimodalDataset], kwargs: dict, what: str) -> None:
    """Refuse ``data.options`` keys the loader does not take, naming the allowed ones."""
    import inspect

    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in allowed:
            raise ConfigError(f"unknown config key 'data.options.{key}' for {what}; allowed: {allowed}")
    missing = [k for k, p in params.items()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in kwargs]
    if missing:
        raise ConfigError(f"{what} needs config key 'data.options.{missing[0]}'")
