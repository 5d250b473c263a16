"""The shapes VQA generator: every answer re-derived from the pixels, seeded, split by image."""

import numpy as np
import pytest

from polymodal.data.vqa_shapes import COLOURS, POSITIONS, QUESTION_TYPES, answer_set, make_vqa_shapes
from polymodal.errors import ConfigError, DatasetError


def _decode(image, grid=3):
    """Objects read back from the pixels: centre colour, shape from the filled fraction of the cell."""
    cell = image.shape[0] // grid
    objs = []
    for r in range(grid):
        for c in range(grid):
            patch = image[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell].astype(int)
            filled = np.any(patch != 255, axis=-1).mean()
            if filled == 0:
                continue
            centre = patch[cell // 2, cell // 2]
            colour = min(COLOURS, key=lambda k: np.abs(np.array(COLOURS[k]) - centre).sum())
            shape = "square" if filled > 0.44 else "circle" if filled > 0.31 else "triangle"
            objs.append((colour, shape, r, c))
    return objs


def _answer(words, objs):
    if words[:3] == ["what", "color", "is"]:
        (o,) = [o for o in objs if o[1] == words[4]]
        return o[0]
    if words[:3] == ["what", "shape", "is"]:
        (o,) = [o for o in objs if o[0] == words[4]]
        return o[1]
    if words[:2] == ["how", "many"]:
        attr = words[2] if words[2] in COLOURS else words[2][:-1]
        return str(sum(attr in (o[0], o[1]) for o in objs))
    (o,) = [o for o in objs if o[0] == words[3] and o[1] == words[4]]
    return POSITIONS[o[2] * 3 + o[3]]


def test_every_answer_matches_the_pixels():
    d = make_vqa_shapes(150, questions_per_type=2, seed=3)
    decoded = [_decode(im) for im in d.images]
    for i, scene in enumerate(d.scenes):
        assert sorted(decoded[i]) == sorted((o.colour, o.shape, o.row, o.col) for o in scene)
    for q in range(len(d)):
        assert d.answer_text(q) == _answer(d.questions[q], decoded[d.image_index[q]])


def test_seeded_types_answers_and_splits():
    a, b, c = make_vqa_shapes(60, seed=1), make_vqa_shapes(60, seed=1), make_vqa_shapes(60, seed=2)
    assert np.array_equal(a.images, b.images) and a.questions == b.questions and np.array_equal(a.answers, b.answers)
    assert not np.array_equal(a.images, c.images)
    assert set(a.question_type) == set(QUESTION_TYPES)
    assert a.answer_vocab == answer_set(4) and len(set(a.answer_vocab)) == len(a.answer_vocab)
    # every image asks a count question (always askable), at most questions_per_type per type
    types = {}
    for i, t in zip(a.image_index, a.question_type):
        types.setdefault(int(i), []).append(str(t))
    assert all(v.count("count") == 1 and max(v.count(t) for t in QUESTION_TYPES) == 1 for v in types.values())
    # questions follow their image's split; the image splits have the requested sizes
    img_split = a.extra["image_split"]
    assert np.array_equal(a.split, img_split[a.image_index])
    assert [int((img_split == s).sum()) for s in ("train", "val", "test")] == [42, 9, 9]
    assert set(a.image_index[a.indices("train")]).isdisjoint(a.image_index[a.indices("test")])


def test_errors():
    with pytest.raises(ConfigError, match="max_objects"):
        make_vqa_shapes(5, max_objects=10)
    with pytest.raises(ConfigError, match="multiple of grid"):
        make_vqa_shapes(5, image_size=35)
    with pytest.raises(DatasetError, match="split"):
        make_vqa_shapes(5).indices("dev")
