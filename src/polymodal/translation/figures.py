"""Attention-map figure: the image with each generated word's attention overlaid."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from polymodal.errors import ShapeError

__all__ = ["plot_attention", "upsample_attention"]


def upsample_attention(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of a (g, g') attention grid to ``size`` (H, W), each cell's
    weight spread evenly over its pixels (so the map still sums to the grid's total)."""
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim != 2:
        raise ShapeError(f"attention must be a 2-d grid (g, g), got shape {a.shape}")
    H, W = size
    rows = (np.arange(H) * a.shape[0]) // H
    cols = (np.arange(W) * a.shape[1]) // W
    up = a[rows][:, cols]
    counts = np.bincount(rows, minlength=a.shape[0])[:, None] * np.bincount(cols, minlength=a.shape[1])[None, :]
    return up / counts[rows][:, cols]


def plot_attention(image: np.ndarray, words: Sequence[str], attention: np.ndarray, path: str | os.PathLike | None = None,
                   columns: int = 5, alpha: float = 0.6, title: str | None = None):
    """Draw ``image`` once per word with that word's attention map overlaid (Xu et al., ICML 2015, Fig. 3).

    Parameters
    ----------
    image : (H, W, 3) uint8 or float in [0, 1]
    words : the T generated words (``<eos>`` may be included)
    attention : (T, g, g) attention weights, one grid per word
    path : optional file to save the figure to (PNG)
    columns, alpha : layout and overlay opacity

    Returns
    -------
    matplotlib.figure.Figure
        One axis per word; the overlay image of axis t is the upsampled map of word t.

    Examples
    --------
    >>> fig = plot_attention(np.zeros((8, 8, 3)), ["a", "b"], np.ones((2, 2, 2)) / 4)
    >>> len(fig.axes)
    2
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    img = np.asarray(image)
    att = np.asarray(attention, dtype=np.float64)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ShapeError(f"image must be (H, W, 3), got shape {img.shape}")
    if att.ndim != 3 or att.shape[0] != len(words):
        raise ShapeError(f"attention must be (T={len(words)}, g, g) for {len(words)} words, got shape {att.shape}")
    T = len(words)
    cols = max(1, min(columns, T))
    rows = max(1, -(-T // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows + (0.4 if title else 0)), squeeze=False)
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
    if path is not None:
        fig.savefig(path, dpi=80)
    return fig
