"""A seeded visual-question dataset: coloured shapes on a grid, questions on colour, shape, count, position."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polymodal.errors import ConfigError, DatasetError

__all__ = ["COLOURS", "POSITIONS", "QUESTION_TYPES", "SHAPES", "ShapeObject", "VQAShapes", "answer_set",
           "make_vqa_shapes", "render_scene"]

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 30), "blue": (30, 60, 220), "yellow": (230, 200, 20)}
SHAPES = ("square", "circle", "triangle")
QUESTION_TYPES = ("colour", "shape", "count", "position")
_ROWS, _COLS = ("top", "middle", "bottom"), ("left", "center", "right")
#: Position answers of a 3x3 grid, row-major: "top-left" ... "bottom-right".
POSITIONS = tuple(f"{r}-{c}" for r in _ROWS for c in _COLS)


def answer_set(max_objects: int = 4) -> tuple[str, ...]:
    """The fixed answers: colours, shapes, counts 0..max_objects, the 9 positions."""
    return tuple(COLOURS) + SHAPES + tuple(str(i) for i in range(max_objects + 1)) + POSITIONS


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene: colour, shape and grid cell (row, col)."""

    colour: str
    shape: str
    row: int
    col: int


def _mask(shape: str, size: int) -> np.ndarray:
    """Boolean (size, size) mask of a shape filling most of a cell."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    m = size * 0.15
    if shape == "square":
        return (x > m) & (x < size - m) & (y > m) & (y < size - m)
    if shape == "circle":
        return (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 2 - m) ** 2
    # triangle pointing up: apex at the top centre, base at the bottom
    t = (y - m) / (size - 2 * m)
    return (t >= 0) & (t <= 1) & (np.abs(x - size / 2) <= t * (size / 2 - m))


def render_scene(objects: list[ShapeObject], image_size: int = 36, grid: int = 3, background: int = 255) -> np.ndarray:
    """Draw ``objects`` on a ``grid`` x ``grid`` layout: an RGB uint8 image (S, S, 3)."""
    if image_size % grid:
        raise ConfigError(f"image_size must be a multiple of grid={grid}, got {image_size}")
    cell = image_size // grid
    img = np.full((image_size, image_size, 3), background, dtype=np.uint8)
    for o in objects:
        patch = img[o.row * cell:(o.row + 1) * cell, o.col * cell:(o.col + 1) * cell]
        patch[_mask(o.shape, cell)] = COLOURS[o.colour]
    return img


@dataclass
class VQAShapes:
    """Images (I, S, S, 3) uint8, questions (tokens) with their image index, type, answer id and split."""

    images: np.ndarray
    scenes: list[list[ShapeObject]]
    questions: list[list[str]]
    image_index: np.ndarray
    question_type: np.ndarray
    answers: np.ndarray
    answer_vocab: tuple[str, ...]
    split: np.ndarray
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.questions)

    def answer_text(self, i: int) -> str:
        """The answer of question ``i`` as a word."""
        return self.answer_vocab[int(self.answers[i])]

    def indices(self, split: str) -> np.ndarray:
        """Question indices of ``split`` (train, val or test)."""
        if split not in ("train", "val", "test"):
            raise DatasetError(f"split must be one of train, val, test, got {split!r}")
        return np.nonzero(self.split == split)[0]


def _questions(objs: list[ShapeObject], rng: np.random.Generator, max_objects: int):
    """All askable (type, tokens, answer) for one scene; questions only about uniquely described objects."""
    out = []
    for shape in SHAPES:
        match = [o for o in objs if o.shape == shape]
        if len(match) == 1:
            out.append(("colour", f"what color is the {shape} ?".split(), match[0].colour))
    for colour in COLOURS:
        match = [o for o in objs if o.colour == colour]
        if len(match) == 1:
            out.append(("shape", f"what shape is the {colour} object ?".split(), match[0].shape))
    for attr in list(COLOURS) + list(SHAPES):
        n = sum(o.colour == attr or o.shape == attr for o in objs)
        noun = "objects" if attr in COLOURS else f"{attr}s"
        words = f"how many {attr} {noun} are there ?" if attr in COLOURS else f"how many {noun} are there ?"
        out.append(("count", words.split(), str(n)))
    for o in objs:
        if sum(p.colour == o.colour and p.shape == o.shape for p in objs) == 1:
            out.append(("position", f"where is the {o.colour} {o.shape} ?".split(), POSITIONS[o.row * 3 + o.col]))
    return out


def make_vqa_shapes(n_images: int = 1000, questions_per_type: int = 1, image_size: int = 36, max_objects: int = 4,
                    seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> VQAShapes:
    """Generate the shapes VQA dataset (a CLEVR-like toy: Johnson et al., CVPR 2017; the VQA task of
    Antol et al., ICCV 2015), fully determined by ``seed``.

    Each image has 1..``max_objects`` objects (colour from :data:`COLOURS`, shape from
    :data:`SHAPES`) in distinct cells of a 3 x 3 grid. For each image and question type
    up to ``questions_per_type`` questions are drawn among those askable:
    ``colour`` ("what color is the circle ?", the shape unique in the scene), ``shape``
    ("what shape is the red object ?"), ``count`` ("how many circles are there ?",
    "how many red objects are there ?", 0..max_objects) and ``position``
    ("where is the red circle ?" -> "top-left" ... "bottom-right"). Answers index
    :func:`answer_set`. Images are split train/val/test by ``fractions`` (questions
    follow their image).

    Examples
    --------
    >>> d = make_vqa_shapes(20, seed=1)
    >>> d.images.shape, sorted(set(d.question_type.tolist()))
    ((20, 36, 36, 3), ['colour', 'count', 'position', 'shape'])
    """
    if n_images < 1 or questions_per_type < 1:
        raise ConfigError(f"n_images and questions_per_type must be >= 1, got {n_images}, {questions_per_type}")
    if not 1 <= max_objects <= 9:
        raise ConfigError(f"max_objects must be in [1, 9] (a 3x3 grid), got {max_objects}")
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ConfigError(f"fractions must be three non-negative numbers summing to 1, got {fractions!r}")
    rng = np.random.default_rng(seed)
    answers = answer_set(max_objects)
    index = {a: i for i, a in enumerate(answers)}
    colours = list(COLOURS)
    n_train = int(round(fractions[0] * n_images))
    n_val = int(round(fractions[1] * n_images))
    image_split = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * (n_images - n_train - n_val))
    image_split = image_split[rng.permutation(n_images)]
    images, scenes, qs, img_idx, qtype, ans = [], [], [], [], [], []
    for i in range(n_images):
        k = int(rng.integers(1, max_objects + 1))
        cells = rng.choice(9, size=k, replace=False)
        objs = [ShapeObject(colours[int(rng.integers(len(colours)))], SHAPES[int(rng.integers(len(SHAPES)))],
                            int(c) // 3, int(c) % 3) for c in cells]
        scenes.append(objs)
        images.append(render_scene(objs, image_size))
        pool = _questions(objs, rng, max_objects)
        for t in QUESTION_TYPES:
            cand = [q for q in pool if q[0] == t]
            for j in rng.permutation(len(cand))[:questions_per_type]:
                _, words, a = cand[int(j)]
                qs.append(words)
                img_idx.append(i)
                qtype.append(t)
                ans.append(index[a])
    img_idx = np.array(img_idx, dtype=np.int64)
    return VQAShapes(images=np.stack(images), scenes=scenes, questions=qs, image_index=img_idx,
                     question_type=np.array(qtype), answers=np.array(ans, dtype=np.int64), answer_vocab=answers,
                     split=image_split[img_idx], extra={"image_split": image_split, "seed": seed})
