r"""Multimodal vector-space arithmetic in a joint image-text space (Kiros et al. 2014).

In a space where images and words are embedded together (trained with a
ranking loss, :class:`~polymodal.representation.RankingLoss`), the image of a
*blue car* minus the word *blue* plus the word *red* lands near images of red
cars. :func:`analogy_query` forms that query; :func:`evaluate_analogies` scores
it over every (image, attribute value a, another value b) of a labelled gallery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from polymodal.errors import ConfigError, ModalityError, ShapeError

__all__ = ["analogy_query", "evaluate_analogies", "AnalogyResult"]


def _unit(x, eps: float = 1e-12):
    if isinstance(x, torch.Tensor):
        return x / x.norm(dim=-1, keepdim=True).clamp(min=eps)
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def analogy_query(image_emb, minus_emb, plus_emb):
    r"""The normalised arithmetic query :math:`q = \mathrm{n}(\mathrm{n}(x) - \mathrm{n}(w_a) + \mathrm{n}(w_b))`.

    Kiros, Salakhutdinov & Zemel, "Unifying visual-semantic embeddings with
    multimodal neural language models", NIPS Deep Learning Workshop 2014
    (Sec. 4.3: *image of a blue car - "blue" + "red"* retrieves red cars),
    with :math:`\mathrm{n}(v) = v / \lVert v \rVert_2`: every term is unit length, as
    the paper's embeddings are, and so is the query, so that cosine and dot
    product rank the gallery alike.

    Parameters
    ----------
    image_emb : array or Tensor (..., d) — :math:`x`, the image(s) embedded
    minus_emb, plus_emb : array or Tensor broadcastable to (..., d) — the words
        :math:`w_a` removed and :math:`w_b` added, embedded in the same space

    Returns the query with the broadcast shape (a Tensor if ``image_emb`` is one,
    else a float64 array).

    Examples
    --------
    >>> analogy_query(np.array([3.0, 4.0]), np.array([1.0, 0.0]), np.array([0.0, 2.0])).round(4).tolist()
    [-0.2169, 0.9762]
    """
    shapes = [tuple(np.shape(v)) for v in (image_emb, minus_emb, plus_emb)]
    if any(len(s) == 0 for s in shapes) or len({s[-1] for s in shapes}) != 1:
        raise ShapeError(f"image_emb, minus_emb and plus_emb must share the embedding size (last axis); "
                         f"got shapes {shapes}")
    if isinstance(image_emb, torch.Tensor):
        minus_emb = torch.as_tensor(minus_emb, dtype=image_emb.dtype, device=image_emb.device)
        plus_emb = torch.as_tensor(plus_emb, dtype=image_emb.dtype, device=image_emb.device)
    return _unit(_unit(image_emb) - _unit(minus_emb) + _unit(plus_emb))


@dataclass
class AnalogyResult:
    """Scores of :func:`evaluate_analogies`.

    ``precision[k]``: mean over all queries of the fraction of the top-k
    retrieved images that are targets (have the added value and keep every other
    attribute); ``hit[k]``: fraction of queries with at least one target in the
    top k; ``chance``: the expected precision of a random ranking (the mean
    fraction of targets in the gallery); the same per changed attribute in
    ``by_attribute`` / ``hit_by_attribute`` / ``chance_by_attribute``; ``n_queries`` per attribute;
    with ``keep_queries=True``, ``queries`` holds one entry per query: ``attribute``, ``image``
    (index), ``minus``, ``plus`` (values) and ``precision@k`` for each k (arrays of equal length).
    """

    precision: dict[int, float]
    hit: dict[int, float]
    chance: float
    by_attribute: dict[str, dict[int, float]] = field(default_factory=dict)
    hit_by_attribute: dict[str, dict[int, float]] = field(default_factory=dict)
    chance_by_attribute: dict[str, float] = field(default_factory=dict)
    n_queries: dict[str, int] = field(default_factory=dict)
    queries: dict[str, np.ndarray] | None = None


def evaluate_analogies(
    image_emb,
    attributes: Mapping[str, Sequence],
    word_emb: Mapping[str, np.ndarray],
    ks: Sequence[int] = (1, 5),
    change: Sequence[str] | None = None,
    keep_queries: bool = False,
    chunk: int = 1024,
) -> AnalogyResult:
    r"""Retrieval rate of arithmetic queries over every (image, a, b).

    For each attribute in ``change`` (e.g. colour), each gallery image ``i``
    with value :math:`a` = its own value and each other value :math:`b` of that
    attribute, the query :func:`analogy_query` ``(x_i, w_a, w_b)`` ranks the
    gallery (image ``i`` itself left out) by cosine; a retrieved image is a
    *target* when it has value :math:`b` and the same value as image ``i`` for
    every other attribute (e.g. the shape). Kiros et al. (2014) show such
    retrievals qualitatively; this is the quantitative version.

    Parameters
    ----------
    image_emb : array or Tensor (N, d) — the gallery embedded (also the query images)
    attributes : {name: sequence of N values} — e.g. ``{"colour": [...], "shape": [...]}``
    word_emb : {value: (d,) vector} — the joint-space embedding of each value's word
    ks : the k of precision@k / hit@k
    change : attributes to change (default: all)
    keep_queries : also return every query's precision@k (``AnalogyResult.queries``), e.g. to
        score only queries whose target combination was held out of training
    chunk : queries scored at once (memory ``chunk x N``)

    Examples
    --------
    >>> E = np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [0, 1, 0, 1]], float)  # colour + shape
    >>> attrs = {"colour": ["red", "blue", "red", "blue"], "shape": ["sq", "sq", "ci", "ci"]}
    >>> words = dict(zip(["red", "blue", "sq", "ci"], np.eye(4)))
    >>> evaluate_analogies(E, attrs, words, ks=(1,)).precision
    {1: 1.0}
    """
    E = image_emb.detach().cpu().numpy() if isinstance(image_emb, torch.Tensor) else np.asarray(image_emb, float)
    if E.ndim != 2:
        raise ShapeError(f"image_emb must be (N, d); got shape {E.shape}")
    n = len(E)
    labels = {}
    for name, values in attributes.items():
        values = np.asarray(values)
        if values.shape != (n,):
            raise ShapeError(f"attributes[{name!r}] must have one value per image ({n},); got {values.shape}")
        labels[name] = values
    change = list(attributes) if change is None else list(change)
    for name in change:
        if name not in labels:
            raise ModalityError(f"change names an unknown attribute {name!r}; attributes are {sorted(labels)}")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1 or ks[-1] > n - 1:
        raise ConfigError(f"ks must be in [1, N - 1 = {n - 1}]; got {ks}")
    if int(chunk) < 1:
        raise ConfigError(f"chunk must be >= 1; got {chunk!r}")
    unit = _unit(E)
    res = AnalogyResult(precision={}, hit={}, chance=0.0)
    kept: dict[str, list] = {"attribute": [], "image": [], "minus": [], "plus": [],
                             **{f"precision@{k}": [] for k in ks}}
    totals = {k: [0.0, 0.0] for k in ks}
    total_chance, total_n = 0.0, 0
    for name in change:
        values = labels[name]
        others = [labels[o] for o in labels if o != name]
        prec = {k: 0.0 for k in ks}
        hits = {k: 0.0 for k in ks}
        chance, count = 0.0, 0
        for b in np.unique(values):
            queries = np.nonzero(values != b)[0]
            if len(queries) == 0:
                continue
            for key in (b, *np.unique(values[queries])):
                if str(key) not in word_emb:
                    raise ModalityError(f"word_emb has no vector for {name} value {str(key)!r}")
            for idx in np.array_split(queries, -(-len(queries) // chunk)):  # bounded (chunk, N) scores
                w_a = np.stack([np.asarray(word_emb[str(v)], float) for v in values[idx]])
                q = analogy_query(unit[idx], w_a, np.asarray(word_emb[str(b)], float))
                scores = q @ unit.T
                scores[np.arange(len(idx)), idx] = -np.inf  # the query image is not in its own gallery
                top = np.argsort(-scores, axis=1, kind="stable")[:, :ks[-1]]
                target = np.repeat((values == b)[None, :], len(idx), axis=0)
                for o in others:
                    target = target & (o[None, :] == o[idx][:, None])
                good = np.take_along_axis(target, top, axis=1)
                if keep_queries:
                    kept["attribute"].append(np.full(len(idx), name, dtype=object))
                    kept["image"].append(idx)
                    kept["minus"].append(values[idx].astype(object))
                    kept["plus"].append(np.full(len(idx), b, dtype=object))
                    for k in ks:
                        kept[f"precision@{k}"].append(good[:, :k].mean(axis=1))
                for k in ks:
                    prec[k] += good[:, :k].mean(axis=1).sum()
                    hits[k] += good[:, :k].any(axis=1).sum()
                chance += (target.sum(axis=1) / (n - 1)).sum()
                count += len(idx)
        res.n_queries[name] = count
        res.by_attribute[name] = {k: prec[k] / max(count, 1) for k in ks}
        res.hit_by_attribute[name] = {k: hits[k] / max(count, 1) for k in ks}
        res.chance_by_attribute[name] = chance / max(count, 1)
        for k in ks:
            totals[k][0] += prec[k]
            totals[k][1] += hits[k]
        total_chance += chance
        total_n += count
    res.precision = {k: float(totals[k][0] / max(total_n, 1)) for k in ks}
    res.hit = {k: float(totals[k][1] / max(total_n, 1)) for k in ks}
    res.chance = float(total_chance / max(total_n, 1))
    res.by_attribute = {a: {k: float(v) for k, v in d.items()} for a, d in res.by_attribute.items()}
    res.hit_by_attribute = {a: {k: float(v) for k, v in d.items()} for a, d in res.hit_by_attribute.items()}
    res.chance_by_attribute = {a: float(v) for a, v in res.chance_by_attribute.items()}
    if keep_queries:
        res.queries = {key: np.concatenate(v) if v else np.empty(0) for key, v in kept.items()}
    return res
