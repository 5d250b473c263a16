"""Views of the multimodal generative estimators (DBN, DBM, multimodal
autoencoder) as ``{name: array}``: a sequence ``[X1, X2, ...]`` names its views
``view0, view1, ...`` (``None`` marks a missing one), a ``{name: array}`` dict
keeps its names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from polymodal.errors import ModalityError, ShapeError
from polymodal.representation._views import as_view, check_finite

__all__ = ["fit_views", "present_views", "view_name"]


def _named(X, what: str) -> dict[str, object]:
    if isinstance(X, Mapping):
        return dict(X)
    if isinstance(X, np.ndarray) or not isinstance(X, Sequence) or not len(X):
        raise ModalityError(f"{what} expects views as a list of 2-D arrays (None for a missing one); "
                            f"got {type(X).__name__}")
    return {f"view{i}": v for i, v in enumerate(X)}


def _checked(named: dict[str, object]) -> dict[str, np.ndarray]:
    out = {m: as_view(v, f"view {m!r}") for m, v in named.items()}
    for m, a in out.items():
        check_finite(a, f"view {m!r}")
    n = {m: a.shape[0] for m, a in out.items()}
    if len(set(n.values())) > 1:
        raise ShapeError(f"views must have the same number of rows, got {n}")
    return out


def fit_views(X, what: str) -> dict[str, np.ndarray]:
    """Every view of ``X`` as a finite float64 ``(n, p_m)`` array; none may be missing."""
    named = _named(X, what)
    missing = [m for m, v in named.items() if v is None]
    if missing:
        raise ModalityError(f"{what}: fit needs every modality; {missing} given as None")
    return _checked(named)


def present_views(X, modalities: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """The views of ``X`` that are given (not None), checked against the fitted ``modalities``."""
    named = {m: v for m, v in _named(X, what).items() if v is not None}
    unknown = [m for m in named if m not in modalities]
    if unknown:
        raise ModalityError(f"{what}: unknown modality {unknown[0]!r}; fitted on {list(modalities)}")
    if not named:
        raise ModalityError(f"{what}: at least one of {list(modalities)} must be given")
    return _checked(named)


def view_name(missing, modalities: Sequence[str]) -> str:
    """A view's name from its index (sequence input) or its name (dict input)."""
    name = f"view{missing}" if isinstance(missing, (int, np.integer)) and not isinstance(missing, bool) else missing
    if name not in modalities:
        raise ModalityError(f"unknown modality {missing!r}; fitted on {list(modalities)}")
    return name
