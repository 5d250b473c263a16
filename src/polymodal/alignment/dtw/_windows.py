"""DTW windows (global constraints): parsing, Itakura masks, per-row column ranges."""

from __future__ import annotations

import numpy as np

from polymodal.alignment.dtw._lazy import kernels
from polymodal.errors import ConfigError, ShapeError

K = kernels("_kernels")  # numba loads on the first kernel call

WINDOW_KINDS = ("sakoe_chiba", "itakura", "itakura_dtw_python")


def itakura_mask(n: int, m: int, max_slope: float = 2.0,
                 convention: str = "tslearn") -> np.ndarray:
    """Boolean (n, m) Itakura parallelogram (Itakura, IEEE Trans. ASSP, 1975).

    ``convention="tslearn"`` (``tslearn.metrics.itakura_mask(n, m, max_slope)``):
    the slopes are relative to the diagonal of the n x m grid, i.e. with
    ``s = max_slope * n / m`` and ``t = n / (max_slope * m)`` column ``j`` keeps
    rows ``ceil(max(t j, n-1 - s (m-1-j))) <= i <= floor(min(s j, n-1 - t (m-1-j)))``,
    each bound rounded to 2 decimals first, as tslearn does.
    ``convention="dtw_python"`` (``dtw.window.itakuraWindow``, R's dtw): absolute
    slope 2 (``max_slope`` must be 2), ``j <= 2i``, ``i <= 2j + 1``,
    ``i >= n - 2m + 2j``, ``j > m - 2n + 2i`` (0-based).
    """
    if convention == "dtw_python":
        i, j = np.indices((n, m))
        return (j <= 2 * i) & (i <= 2 * j + 1) & (i >= n - 2 * m + 2 * j) & (j > m - 2 * n + 2 * i)
    j = np.arange(m, dtype=np.float64)
    s_max, s_min = max_slope * n / m, n / (max_slope * m)
    lo = np.ceil(np.maximum(np.round(s_min * j, 2), np.round((n - 1) - s_max * (m - 1) + s_max * j, 2)))
    hi = np.floor(np.minimum(np.round(s_max * j, 2), np.round((n - 1) - s_min * (m - 1) + s_min * j, 2)))
    i = np.arange(n)[:, None]
    return (i >= lo[None, :]) & (i <= hi[None, :])


def parse_window(window) -> tuple[str | None, object]:
    """Validate ``window``: None, ("sakoe_chiba", r), ("itakura", slope),
    ("itakura_dtw_python", 2) or a boolean mask (n, m)."""
    if window is None:
        return None, None
    if isinstance(window, np.ndarray) and window.dtype == bool:
        return "mask", window
    if not (isinstance(window, (tuple, list)) and len(window) == 2 and window[0] in WINDOW_KINDS):
        raise ConfigError(
            "window must be None, ('sakoe_chiba', radius), ('itakura', max_slope), "
            f"('itakura_dtw_python', 2) or a boolean (n, m) mask, got {window!r}"
        )
    kind, value = window
    if kind == "sakoe_chiba":
        if isinstance(value, bool) or not float(value).is_integer() or value < 0:
            raise ConfigError(
                f"window ('sakoe_chiba', radius) needs an integer radius >= 0, got {value!r}"
            )
        return kind, int(value)
    if kind == "itakura_dtw_python":
        if value != 2:
            raise ConfigError(
                f"window ('itakura_dtw_python', max_slope): dtw-python's Itakura window has slope 2, "
                f"got {value!r}; use ('itakura', max_slope) for other slopes"
            )
        return kind, 2.0
    if not np.isfinite(value) or value <= 1:
        raise ConfigError(f"window ('itakura', max_slope) needs max_slope > 1, got {value!r}")
    return kind, float(value)


def window_rows(kind, value, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row column intervals ``jlo[i] <= j <= jhi[i]`` of the window."""
    i = np.arange(n, dtype=np.float64)
    if kind is None:
        jlo = np.zeros(n)
        jhi = np.full(n, m - 1.0)
    elif kind == "sakoe_chiba":
        lo, hi = K.sakoe_chiba_band(n, m, value)
        jlo, jhi = i + lo, i + hi
    else:  # boolean mask; an Itakura window is a mask whose rows are intervals
        if kind in ("itakura", "itakura_dtw_python"):
            value = itakura_mask(n, m, value, "tslearn" if kind == "itakura" else "dtw_python")
        elif value.shape != (n, m):
            raise ShapeError(f"window mask must have shape ({n}, {m}), got {value.shape}")
        has = value.any(axis=1)
        jlo = np.where(has, value.argmax(axis=1), m)
        jhi = np.where(has, m - 1 - value[:, ::-1].argmax(axis=1), -1)
    jlo = np.clip(jlo, 0, None).astype(np.int64)
    jhi = np.clip(jhi, None, m - 1).astype(np.int64)
    return jlo, jhi


def no_path_error(window, step_pattern: str, n: int, m: int) -> ShapeError:
    return ShapeError(
        f"window {window!r} with step_pattern {step_pattern!r} is too narrow for lengths "
        f"n={n}, m={m}: no warping path from (0, 0) to ({n - 1}, {m - 1}) exists"
    )
