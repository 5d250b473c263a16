"""Pictures of alignments: cost matrix with the warping path, the two
sequences drawn aligned, attention heatmaps (matplotlib, no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from polymodal.alignment._validation import as_sequence
from polymodal.errors import ShapeError

__all__ = ["plot_cost_matrix", "plot_aligned", "plot_attention", "upsample_attention"]


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


def upsample_attention(attention, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of a (g, g') attention grid to ``size`` (H, W), each cell's
    weight spread evenly over its pixels (so the map still sums to the grid's total).

    >>> upsample_attention(np.array([[1.0, 0.0], [0.0, 0.0]]), (2, 4)).tolist()
    [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim != 2:
        raise ShapeError(f"attention must be a 2-d grid (g, g), got shape {a.shape}")
    H, W = size
    rows = (np.arange(H) * a.shape[0]) // H
    cols = (np.arange(W) * a.shape[1]) // W
    up = a[rows][:, cols]
    counts = np.bincount(rows, minlength=a.shape[0])[:, None] * np.bincount(cols, minlength=a.shape[1])[None, :]
    return up / counts[rows][:, cols]


def plot_attention(weights, *, query_labels=None, key_labels=None, image=None, path=None,
                   columns: int = 5, alpha: float = 0.6, title: str | None = None) -> Figure:
    """Attention weights as a picture: a soft alignment of every query to the keys.

    Without ``image``: a heatmap of ``weights`` (n_queries, n_keys), e.g. the
    weights returned by the attention modules. With ``image`` (H, W, 3; uint8 or
    float in [0, 1]): ``weights`` (T, g, g) holds one attention grid per query
    (a generated word), and the image is drawn once per query with that grid
    upsampled (:func:`upsample_attention`) and overlaid, as in Xu et al., "Show,
    attend and tell", ICML 2015, Fig. 3; ``query_labels`` (the words) title the
    panels, laid out in ``columns`` columns with overlay opacity ``alpha``.

    Parameters
    ----------
    weights : array (n_queries, n_keys), or (T, g, g) with ``image``
    query_labels, key_labels : sequences of str, optional
    image : array (H, W, 3), optional
    path : file to save the figure to (PNG), optional
    columns, alpha : layout and overlay opacity (with ``image``)
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_attention(np.eye(3))
    >>> fig.axes[0].images[0].get_array().shape
    (3, 3)
    >>> fig = plot_attention(np.ones((2, 2, 2)) / 4, image=np.zeros((8, 8, 3)), query_labels=["a", "b"])
    >>> len(fig.axes)
    2
    """
    W = np.asarray(weights, dtype=np.float64)
    if image is not None:
        fig = _attention_overlay(np.asarray(image), W, query_labels, columns, alpha, title)
    else:
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
        ax.set_title("attention" if title is None else title)
    if path is not None:
        fig.savefig(path, dpi=80)
    return fig


def _attention_overlay(img: np.ndarray, att: np.ndarray, words, columns: int, alpha: float,
                       title: str | None) -> Figure:
    T = att.shape[0] if att.ndim == 3 else -1
    words = [str(t) for t in range(T)] if words is None else list(words)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ShapeError(f"image must be (H, W, 3), got shape {img.shape}")
    if att.ndim != 3 or att.shape[0] != len(words):
        raise ShapeError(f"weights must be (T={len(words)}, g, g) for {len(words)} words, got shape {att.shape}")
    T = len(words)
    cols = max(1, min(columns, T))
    rows = max(1, -(-T // cols))
    fig = Figure(figsize=(2.0 * cols, 2.2 * rows + (0.4 if title else 0)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for t, word in enumerate(words):
        ax = axes.flat[t]
        ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
        up = upsample_attention(att[t], img.shape[:2])
        ax.imshow(up, cmap="jet", alpha=alpha, vmin=0, vmax=up.max() if up.max() > 0 else 1)
        ax.set_title(word, fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
