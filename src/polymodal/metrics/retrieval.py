"""Cross-modal retrieval metrics: R@K, median and mean rank, both directions; mean average precision.

Conventions (VSE++, Faghri et al., BMVC 2018; LAVIS / ALBEF, Li et al.,
NeurIPS 2021): a query may have several ground-truth gallery items (an image
and its 5 captions); its rank is that of its *best-ranked* ground truth, and it
is a hit at K when that rank is <= K. R@K is reported in percent, the median
rank as ``floor(median(rank - 1)) + 1`` and the mean rank as ``mean(rank)``
(VSE++'s ``medr``/``meanr``). Ties are counted pessimistically: every
non-relevant item scoring at least as high as the best ground truth ranks
before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from polymodal.errors import ConfigError, ShapeError

__all__ = [
    "RetrievalResult",
    "BidirectionalRetrievalResult",
    "relevance_matrix",
    "ground_truth_ranks",
    "retrieval_recall_at_k",
    "recall_curve",
    "evaluate_retrieval",
    "mean_average_precision",
    "plot_recall_curve",
]


@dataclass
class RetrievalResult:
    """Retrieval scores of one direction.

    ``recall[k]`` is R@K in percent, ``ranks`` the 1-based rank of each query's
    best ground truth (n_queries,).
    """

    recall: dict[int, float]
    median_rank: float
    mean_rank: float
    ranks: np.ndarray = field(repr=False)

    @property
    def n_queries(self) -> int:
        return int(self.ranks.shape[0])


@dataclass
class BidirectionalRetrievalResult:
    """Both directions: queries -> gallery and gallery -> queries."""

    query_to_gallery: RetrievalResult
    gallery_to_query: RetrievalResult

    @property
    def rsum(self) -> float:
        """Sum of all recalls of both directions (the "R-sum" of VSE papers)."""
        return float(sum(self.query_to_gallery.recall.values())
                     + sum(self.gallery_to_query.recall.values()))


def _np(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _real(x, name: str) -> np.ndarray:
    """``x`` as float64, or a ShapeError naming it (strings, objects, complex values)."""
    x = _np(x, name)
    if np.iscomplexobj(x):
        raise ShapeError(f"{name} must be real; got complex values")
    try:
        return x.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ShapeError(f"{name} must be a real numeric array ({error})") from None


def _similarity(similarity) -> np.ndarray:
    S = _real(similarity, "similarity")
    if S.ndim != 2:
        raise ShapeError(f"similarity must be 2-D (n_queries, n_gallery); got shape {S.shape}")
    if 0 in S.shape:
        raise ShapeError(f"similarity is empty: shape {S.shape}; expected at least one query and one gallery item")
    if not np.isfinite(S).all():
        raise ShapeError("similarity contains NaN or inf; expected finite values")
    return S


def _indices(values, name: str) -> np.ndarray:
    """Integer indices from ``values``; a non-integer value (0.5, NaN) is a ShapeError, not truncated."""
    arr = _real(values, name)
    bad = arr[~np.isfinite(arr) | (arr != np.round(arr))] if arr.size else arr[:0]
    if bad.size:
        raise ShapeError(f"{name} must hold integer indices; got {bad.ravel()[0]}")
    return arr.astype(np.int64)


def relevance_matrix(relevance, n_queries: int, n_gallery: int) -> np.ndarray:
    """Dense boolean (n_queries, n_gallery) relevance from any accepted form.

    ``relevance`` is a boolean/0-1 matrix (n_queries, n_gallery), a 1-D integer
    array (n_queries,) with one ground-truth gallery index per query, or a
    sequence of n_queries lists of gallery indices.

    Examples
    --------
    >>> relevance_matrix([[0, 2], [1]], 2, 3).astype(int).tolist()
    [[1, 0, 1], [0, 1, 0]]
    """
    if isinstance(relevance, (np.ndarray, torch.Tensor)) and relevance.ndim == 2:
        rel = _np(relevance, "relevance")
        if rel.shape != (n_queries, n_gallery):
            raise ShapeError(
                f"relevance must have shape ({n_queries}, {n_gallery}); got {rel.shape}"
            )
        return rel.astype(bool)
    if isinstance(relevance, (np.ndarray, torch.Tensor)) and relevance.ndim == 1:
        idx = _indices(relevance, "relevance")
        lists: Sequence = [[int(i)] for i in idx]
    elif isinstance(relevance, Sequence):
        lists = relevance
    else:
        raise ShapeError(
            "relevance must be a (n_queries, n_gallery) matrix, a (n_queries,) index "
            f"array or a list of index lists; got {type(relevance).__name__}"
        )
    if len(lists) != n_queries:
        raise ShapeError(f"relevance must have {n_queries} entries (one per query); got {len(lists)}")
    rel = np.zeros((n_queries, n_gallery), dtype=bool)
    for q, items in enumerate(lists):
        items = np.atleast_1d(_indices(items, f"relevance[{q}]"))
        bad = items[(items < 0) | (items >= n_gallery)]
        if bad.size:
            raise ShapeError(
                f"relevance[{q}] has gallery index {int(bad[0])} outside [0, {n_gallery - 1}]"
            )
        rel[q, items] = True
    return rel


def ground_truth_ranks(similarity, relevance) -> np.ndarray:
    """1-based rank of each query's best-ranked ground truth; returns (n_queries,).

    ``similarity`` (n_queries, n_gallery), higher is better; ``relevance`` as in
    :func:`relevance_matrix`. Every query needs at least one ground truth.

    Examples
    --------
    >>> import numpy as np
    >>> ground_truth_ranks(np.array([[0.1, 0.9, 0.5]]), [[0, 2]]).tolist()
    [2]
    """
    S = _similarity(similarity)
    rel = relevance_matrix(relevance, *S.shape)
    empty = np.flatnonzero(~rel.any(axis=1))
    if empty.size:
        raise ShapeError(
            f"every query needs a ground truth; query {empty[0]} (and {empty.size - 1} "
            f"more) has none"
        )
    best = np.where(rel, S, -np.inf).max(axis=1)
    return 1 + ((S >= best[:, None]) & ~rel).sum(axis=1)


def mean_average_precision(similarity, relevance) -> float:
    """Mean over queries of the average precision of ranking the gallery by score.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over distinct score thresholds, so tied
    items (frequent with Hamming distances) form one group - the same definition
    as :func:`sklearn.metrics.average_precision_score`. ``similarity`` (n_q, n_g),
    higher is better (pass ``-distance``); ``relevance`` as in
    :func:`relevance_matrix`. Queries without any relevant item are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> mean_average_precision(np.array([[0.9, 0.5, 0.1]]), np.array([[True, False, True]]))
    0.8333333333333333
    """
    S = _similarity(similarity)
    rel = relevance_matrix(relevance, *S.shape)
    keep = rel.any(axis=1)
    if not keep.any():
        raise ShapeError("relevance has no relevant item for any query; mAP is undefined")
    S, rel = S[keep], rel[keep]
    order = np.argsort(-S, axis=1, kind="stable")
    s = np.take_along_axis(S, order, axis=1)
    r = np.take_along_axis(rel, order, axis=1)
    n_q, n_g = S.shape
    pos = np.arange(n_g)
    end = np.ones_like(s, dtype=bool)
    end[:, :-1] = s[:, :-1] != s[:, 1:]
    # index of the last item of each item's tie group: reverse running minimum
    group_end = np.minimum.accumulate(np.where(end, pos, n_g)[:, ::-1], axis=1)[:, ::-1]
    tp = np.cumsum(r, axis=1)
    prec_at_end = np.take_along_axis(tp, group_end, axis=1) / (group_end + 1)
    ap = (r * prec_at_end).sum(axis=1) / r.sum(axis=1)
    return float(ap.mean())


def _summarise(ranks: np.ndarray, ks: Sequence[int]) -> RetrievalResult:
    recall = {int(k): 100.0 * float((ranks <= k).mean()) for k in ks}
    return RetrievalResult(
        recall=recall,
        median_rank=float(np.floor(np.median(ranks - 1)) + 1),
        mean_rank=float(ranks.mean()),
        ranks=ranks,
    )


def _check_ks(ks) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ConfigError(f"ks must be positive integers; got {ks!r}")
    return ks


def retrieval_recall_at_k(similarity, relevance, ks: Sequence[int] = (1, 5, 10)) -> RetrievalResult:
    """R@K (percent), median and mean rank of queries (rows) against a gallery.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.array([[0.9, 0.1, 0.3], [0.2, 0.1, 0.8]])
    >>> r = retrieval_recall_at_k(S, [[0], [0, 1]], ks=(1, 2))
    >>> r.recall, r.median_rank
    ({1: 50.0, 2: 100.0}, 1.0)
    """
    return _summarise(ground_truth_ranks(similarity, relevance), _check_ks(ks))


def recall_curve(ranks: np.ndarray, max_k: int) -> np.ndarray:
    """R@K in percent for K = 1..max_k from the ranks; returns (max_k,).

    Examples
    --------
    >>> recall_curve(np.array([1, 3, 2, 1]), 3).tolist()
    [50.0, 75.0, 100.0]
    """
    if isinstance(max_k, bool) or not isinstance(max_k, (int, np.integer)) or max_k < 1:
        raise ConfigError(f"max_k must be an integer >= 1; got {max_k!r}")
    ranks = _indices(ranks, "ranks")
    if ranks.ndim != 1 or ranks.size == 0:
        raise ShapeError(f"ranks must be a non-empty 1-D array (one rank per query); got shape {ranks.shape}")
    if ranks.min() < 1:
        raise ShapeError(f"ranks are 1-based (1 = the first retrieved item); got {int(ranks.min())}")
    counts = np.bincount(np.minimum(ranks, max_k + 1), minlength=max_k + 2)[1:max_k + 1]
    return 100.0 * np.cumsum(counts) / ranks.shape[0]


def evaluate_retrieval(
    query_embeddings,
    gallery_embeddings,
    relevance,
    ks: Sequence[int] = (1, 5, 10),
    metric: str = "cosine",
) -> BidirectionalRetrievalResult:
    """Retrieval in both directions from embeddings (n_queries, d), (n_gallery, d).

    Similarity is cosine (``metric="cosine"``) or the dot product (``"dot"``).
    The reverse direction (gallery items as queries) uses the transposed
    relevance and includes only gallery items with at least one relevant query.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.eye(3); g = np.repeat(np.eye(3), 2, axis=0)  # 2 captions per image
    >>> res = evaluate_retrieval(q, g, [[0, 1], [2, 3], [4, 5]], ks=(1,))
    >>> res.query_to_gallery.recall[1], res.gallery_to_query.recall[1]
    (100.0, 100.0)
    """
    Q = _real(query_embeddings, "query_embeddings")
    G = _real(gallery_embeddings, "gallery_embeddings")
    if Q.ndim != 2 or G.ndim != 2 or Q.shape[1] != G.shape[1]:
        raise ShapeError(
            "query_embeddings and gallery_embeddings must be 2-D with the same dim; got "
            f"shapes {Q.shape} and {G.shape}"
        )
    if metric == "cosine":
        Q = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
        G = G / np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-12)
    elif metric != "dot":
        raise ConfigError(f"metric must be 'cosine' or 'dot'; got {metric!r}")
    ks = _check_ks(ks)
    S = Q @ G.T
    rel = relevance_matrix(relevance, *S.shape)
    forward = _summarise(ground_truth_ranks(S, rel), ks)
    has = rel.any(axis=0)
    backward = _summarise(ground_truth_ranks(S.T[has], rel.T[has]), ks)
    return BidirectionalRetrievalResult(forward, backward)


def plot_recall_curve(
    results: RetrievalResult | Mapping[str, RetrievalResult],
    max_k: int | None = None,
    path: str | None = None,
    title: str = "Recall@K",
):
    """Plot R@K against K (log-scaled K) for one or several named results.

    Draws with matplotlib's Agg canvas (no display needed); saves to ``path``
    when given and returns the ``matplotlib.figure.Figure``.

    Examples
    --------
    >>> import numpy as np
    >>> r = retrieval_recall_at_k(np.eye(4), np.arange(4))
    >>> fig = plot_recall_curve({"identity": r}, max_k=4)
    >>> fig.axes[0].get_ylabel()
    'R@K (%)'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(results, RetrievalResult):
        results = {"": results}
    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, res in results.items():
        m = max_k or int(res.ranks.max())
        ax.plot(np.arange(1, m + 1), recall_curve(res.ranks, m), label=name or None)
    ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel("R@K (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    if any(results):
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
