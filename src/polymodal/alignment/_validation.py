"""Input checks shared by the DTW family (clear errors, never silent NaNs)."""

from __future__ import annotations

import numpy as np

from polymodal.errors import ConfigError, ShapeError

WINDOW_KINDS = ("sakoe_chiba", "itakura", "itakura_dtw_python")


def as_sequence(x, name: str) -> np.ndarray:
    """Return ``x`` as a float64 (T, d) array; 1-D input becomes (T, 1)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ShapeError(f"{name} must be a real numeric array ({error})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ShapeError(f"{name} must have shape (T,) or (T, d), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ShapeError(f"{name} must be a non-empty sequence, got length 0 (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ShapeError(f"{name} must have at least one feature, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        steps = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise ShapeError(
            f"{name} must contain only finite values, got NaN or inf at time steps {steps}"
        )
    return arr


def check_pair(x: np.ndarray, y: np.ndarray, names=("x", "y")) -> None:
    if x.shape[1] != y.shape[1]:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same number of features: "
            f"{names[0]} has d={x.shape[1]}, {names[1]} has d={y.shape[1]}"
        )


def sakoe_chiba_bounds(n: int, m: int, radius: int) -> tuple[int, int]:
    """Band ``lo <= j - i <= hi``: ``|i - j| <= radius`` widened by the length
    difference (tslearn's ``sakoe_chiba_radius``; dtaidistance ``window = radius + 1``)."""
    return min(0, m - n) - radius, max(0, m - n) + radius


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
        lo, hi = sakoe_chiba_bounds(n, m, value)
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
