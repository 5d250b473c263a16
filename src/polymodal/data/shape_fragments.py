"""Scenes of coloured shapes described by sentences, with the true word-to-region alignment.

The data of fragment-level alignment (:mod:`polymodal.alignment.fragments`,
Karpathy, Joulin & Fei-Fei 2014): the scenes of
:mod:`polymodal.data.vqa_shapes` cut into region crops, each sentence cut into
fragments, and which region each fragment names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from polymodal.errors import ConfigError, ShapeError

__all__ = ["ShapeFragments", "make_shape_fragments"]


@dataclass
class ShapeFragments:
    """Scenes of coloured shapes with their descriptions, the true word-to-region alignment known.

    ``images`` (N, S, S, 3) uint8 (noise-free, for plotting); ``regions``
    (N, R, 3*c*c) float32 crops of the grid cells holding objects (row-major
    cell order, channel-first flattening, values in [0, 1] plus noise);
    ``region_mask`` (N, R); ``cells`` (N, R, 2) grid (row, col), -1 on
    padding; ``words`` (N, T, k) word ids of the sentence fragments;
    ``word_mask`` (N, T); ``target`` (N, T) the true region of each fragment
    (-1 on padding); ``sentences`` the sentences; ``vocab`` the words;
    ``scenes`` the objects in region order."""

    images: np.ndarray
    regions: torch.Tensor
    region_mask: torch.Tensor
    cells: torch.Tensor
    words: torch.Tensor
    word_mask: torch.Tensor
    target: torch.Tensor
    sentences: list[str]
    vocab: tuple[str, ...]
    scenes: list

    def __len__(self) -> int:
        return len(self.sentences)

    def matches(self) -> torch.Tensor:
        """(N, R, T) bool: the object of region r carries every word of fragment t."""
        obj = torch.full(self.region_mask.shape + (2,), -1, dtype=torch.long)
        index = {w: i for i, w in enumerate(self.vocab)}
        for n, scene in enumerate(self.scenes):
            for r, o in enumerate(scene):
                obj[n, r, 0], obj[n, r, 1] = index[o.colour], index[o.shape]
        has = (self.words[:, None, :, :, None] == obj[:, :, None, None, :]).any(-1).all(-1)
        return has & self.region_mask[:, :, None] & self.word_mask[:, None, :]

    def alignment_accuracy(self, region: torch.Tensor) -> float:
        """Fraction of real fragments whose predicted region (N, T) holds an object with all their words."""
        if tuple(region.shape) != tuple(self.target.shape):
            raise ShapeError(f"region must have shape {tuple(self.target.shape)}; got {tuple(region.shape)}")
        ok = self.matches().gather(1, region.clamp(min=0)[:, None, :]).squeeze(1)
        return float(ok[self.word_mask].float().mean())

    def positive_precision(self, positive: torch.Tensor) -> float:
        """Fraction of inferred positive (region, fragment) labels (N, R, T) that are true matches."""
        matches = self.matches()
        if tuple(positive.shape) != tuple(matches.shape):
            raise ShapeError(f"positive must have shape {tuple(matches.shape)}; got {tuple(positive.shape)}")
        positive = positive.bool() & self.region_mask[:, :, None] & self.word_mask[:, None, :]
        return float((positive & matches).sum() / positive.sum().clamp(min=1))

    def chance_accuracy(self) -> float:
        """Expected alignment accuracy of a uniformly random region per fragment."""
        frac = self.matches().sum(1).float() / self.region_mask.sum(1, keepdim=True).float()
        return float(frac[self.word_mask].mean())

    def relevance(self) -> np.ndarray:
        """(N, N) bool: sentence l describes image k exactly (same set of objects)."""
        keys = [frozenset((o.colour, o.shape) for o in s) for s in self.scenes]
        return np.array([[a == b for b in keys] for a in keys])


def make_shape_fragments(n_scenes: int = 200, min_objects: int = 2, max_objects: int = 3, fragment: str = "pair",
                         image_size: int = 36, noise: float = 0.1, seed: int = 0) -> ShapeFragments:
    """Seeded scenes from :func:`polymodal.data.vqa_shapes.render_scene` with a sentence each.

    Every scene has ``min_objects``..``max_objects`` objects with distinct
    (colour, shape) in distinct cells of the 3 x 3 grid; the regions are the
    occupied cells; the sentence names the objects in random order ("blue
    square red circle"). ``fragment="pair"``: one fragment per object, the
    (colour, shape) word pair (k = 2); ``"word"``: one fragment per word
    (k = 1). Gaussian ``noise`` (std, on [0, 1] pixels) is added to the crops.

    Examples
    --------
    >>> d = make_shape_fragments(4, seed=1)
    >>> d.regions.shape[-1], d.words.shape[-1], round(d.chance_accuracy(), 2) < 0.5
    (432, 2, True)
    """
    from polymodal.data.vqa_shapes import COLOURS, SHAPES, ShapeObject, render_scene

    if fragment not in ("pair", "word"):
        raise ConfigError(f"fragment must be 'pair' or 'word'; got {fragment!r}")
    if not 1 <= min_objects <= max_objects <= 9:
        raise ConfigError(f"need 1 <= min_objects <= max_objects <= 9; got {min_objects}, {max_objects}")
    if n_scenes < 1:
        raise ConfigError(f"n_scenes must be >= 1; got {n_scenes}")
    if image_size < 9:  # a 3 x 3 grid of cells of at least 3 pixels
        raise ConfigError(f"image_size must be >= 9 (3 x 3 cells of >= 3 pixels); got {image_size}")
    rng = np.random.default_rng(seed)
    vocab = tuple(COLOURS) + tuple(SHAPES)
    index = {w: i for i, w in enumerate(vocab)}
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    cell = image_size // 3
    k = 2 if fragment == "pair" else 1
    R, T = max_objects, max_objects * (1 if k == 2 else 2)
    images = np.zeros((n_scenes, image_size, image_size, 3), dtype=np.uint8)
    regions = np.zeros((n_scenes, R, 3 * cell * cell), dtype=np.float32)
    cells = np.full((n_scenes, R, 2), -1, dtype=np.int64)
    words = np.zeros((n_scenes, T, k), dtype=np.int64)
    target = np.full((n_scenes, T), -1, dtype=np.int64)
    n_obj = np.zeros(n_scenes, dtype=np.int64)
    sentences, scenes = [], []
    for n in range(n_scenes):
        m = int(rng.integers(min_objects, max_objects + 1))
        where = np.sort(rng.choice(9, size=m, replace=False))
        what = rng.choice(len(kinds), size=m, replace=False)
        objs = [ShapeObject(*kinds[int(w)], int(c) // 3, int(c) % 3) for c, w in zip(where, what)]
        img = render_scene(objs, image_size)
        images[n], n_obj[n] = img, m
        pix = img.astype(np.float32) / 255.0 + noise * rng.standard_normal(img.shape).astype(np.float32)
        for r, o in enumerate(objs):
            crop = pix[o.row * cell:(o.row + 1) * cell, o.col * cell:(o.col + 1) * cell]
            regions[n, r] = crop.transpose(2, 0, 1).reshape(-1)
            cells[n, r] = (o.row, o.col)
        order = rng.permutation(m)
        sentences.append(" ".join(f"{objs[r].colour} {objs[r].shape}" for r in order))
        for j, r in enumerate(order):
            o = objs[int(r)]
            if k == 2:
                words[n, j] = (index[o.colour], index[o.shape])
                target[n, j] = r
            else:
                words[n, 2 * j, 0], words[n, 2 * j + 1, 0] = index[o.colour], index[o.shape]
                target[n, 2 * j] = target[n, 2 * j + 1] = r
        scenes.append(objs)
    region_mask = np.arange(R)[None] < n_obj[:, None]
    word_mask = target >= 0
    return ShapeFragments(images=images, regions=torch.from_numpy(regions), region_mask=torch.from_numpy(region_mask),
                          cells=torch.from_numpy(cells), words=torch.from_numpy(words),
                          word_mask=torch.from_numpy(word_mask), target=torch.from_numpy(target),
                          sentences=sentences, vocab=vocab, scenes=scenes)
