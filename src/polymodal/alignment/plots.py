"""Pictures of alignments: cost matrix with the warping path, the two
sequences drawn aligned, attention heatmaps (matplotlib, no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from polymodal.alignment._validation import as_sequence
from polymodal.errors import ShapeError

__all__ = ["plot_cost_matrix", "plot_aligned", "plot_attention"]


def _path(path, n: int, m: int) -> np.ndarray:
    p = np.asarray(path)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise ShapeError(f"path must have shape (L, 2) with L >= 1, got {p.shape}")
    if p[:, 0].max() >= n or p[:, 1].max() >= m or p.min() < 0:
        raise ShapeError(f"path indices must lie in [0, {n}) x [0, {m}), got max {tuple(p.max(axis=0))}")
    return p


def plot_cost_matrix(cost_matrix, path=None, *, title: str = "DTW cost matrix") -> Figure:
    """Heatmap of an (n, m) cost matrix (x's time down, y's time across) with
    the warping path on top.

    >>> from polymodal.alignment import dtw
    >>> r = dtw([0.0, 1.0, 2.0], [0.0, 2.0], return_path=True, return_cost_matrix=True)
    >>> fig = plot_cost_matrix(r.local_cost_matrix, r.path)
    >>> fig.axes[0].lines[0].get_xdata().tolist()
    [0, 0, 1]
    """
    C = np.asarray(cost_matrix, dtype=np.float64)
    if C.ndim != 2:
        raise ShapeError(f"cost_matrix must have shape (n, m), got {C.shape}")
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    im = ax.imshow(np.where(np.isfinite(C), C, np.nan), origin="lower", aspect="auto",
                   cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax)
    if path is not None:
        p = _path(path, *C.shape)
        ax.plot(p[:, 1], p[:, 0], color="white", linewidth=1.5)
    ax.set_xlabel("y time step")
    ax.set_ylabel("x time step")
    ax.set_title(title)
    return fig


def plot_aligned(x, y, path, *, feature: int = 0, offset: float | None = None) -> Figure:
    """The two sequences (one feature each) drawn one above the other, with a
    grey line joining every aligned pair of the path.

    >>> fig = plot_aligned([0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0], [[0, 0], [0, 1], [1, 2], [2, 3]])
    >>> len(fig.axes[0].lines)
    6
    """
    xs, ys = as_sequence(x, "x"), as_sequence(y, "y")
    p = _path(path, len(xs), len(ys))
    if not 0 <= feature < min(xs.shape[1], ys.shape[1]):
        raise ShapeError(f"feature must be in [0, {min(xs.shape[1], ys.shape[1])}), got {feature}")
    a, b = xs[:, feature], ys[:, feature]
    if offset is None:
        offset = 1.5 * max(np.ptp(a), np.ptp(b), 1e-12)
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.plot(np.arange(len(a)), a + offset, color="C0", label="x")
    ax.plot(np.arange(len(b)), b, color="C1", label="y")
    for i, j in p:
        ax.plot([i, j], [a[i] + offset, b[j]], color="0.6", linewidth=0.5)
    ax.set_xlabel("time step")
    ax.legend(loc="upper right")
    return fig


def plot_attention(weights, *, query_labels=None, key_labels=None,
                   title: str = "attention") -> Figure:
    """Heatmap of an attention matrix (n_queries, n_keys), e.g. the weights
    returned by the attention modules (a soft alignment).

    >>> fig = plot_attention(np.eye(3))
    >>> fig.axes[0].images[0].get_array().shape
    (3, 3)
    """
    W = np.asarray(weights, dtype=np.float64)
    if W.ndim != 2:
        raise ShapeError(f"weights must have shape (n_queries, n_keys), got {W.shape}")
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    im = ax.imshow(W, aspect="auto", cmap="magma", interpolation="nearest", vmin=0)
    fig.colorbar(im, ax=ax)
    if query_labels is not None:
        ax.set_yticks(range(W.shape[0]), labels=list(query_labels))
    if key_labels is not None:
        ax.set_xticks(range(W.shape[1]), labels=list(key_labels), rotation=90)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title)
    return fig
