"""Vector-space arithmetic: closed form of the query, exact-arithmetic embedding, brute-force evaluator."""

import itertools

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation import analogy_query, evaluate_analogies

COLOURS, SHAPES, POSITIONS = ["red", "green", "blue", "yellow"], ["square", "circle", "triangle"], range(6)


def test_query_equals_closed_form():
    rng = np.random.default_rng(0)
    x, a, b = rng.standard_normal((5, 7)), rng.standard_normal(7), rng.standard_normal((5, 7))
    v = x / np.linalg.norm(x, axis=1, keepdims=True) - a / np.linalg.norm(a) + b / np.linalg.norm(b, axis=1)[:, None]
    q = analogy_query(x, a, b)
    np.testing.assert_allclose(q, v / np.linalg.norm(v, axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0)
    # the torch form gives the same numbers and carries gradients
    xt = torch.tensor(x, requires_grad=True)
    qt = analogy_query(xt, a, torch.tensor(b))
    np.testing.assert_allclose(qt.detach().numpy(), q, rtol=1e-12)
    qt.sum().backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all()
    # scale invariance of every term
    np.testing.assert_allclose(analogy_query(3 * x, 0.5 * a, 7 * b), q, rtol=1e-12)


def _exact_gallery(copies=2, noise=0.0, seed=0):
    """Embedding = colour vector + shape vector + a small position vector, all orthonormal directions."""
    rng = np.random.default_rng(seed)
    d = len(COLOURS) + len(SHAPES) + len(POSITIONS)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    word = {w: basis[i] for i, w in enumerate(COLOURS + SHAPES)}
    rows, colour, shape = [], [], []
    for c, s, p, _ in itertools.product(COLOURS, SHAPES, POSITIONS, range(copies)):
        rows.append(word[c] + word[s] + 0.3 * basis[len(COLOURS) + len(SHAPES) + p] + noise * rng.standard_normal(d))
        colour.append(c)
        shape.append(s)
    return np.array(rows), {"colour": colour, "shape": shape}, word


def test_exact_arithmetic_scores_one():
    E, attrs, words = _exact_gallery()
    res = evaluate_analogies(E, attrs, words, ks=(1, 5))
    assert res.precision == {1: 1.0, 5: 1.0} and res.hit == {1: 1.0, 5: 1.0}
    n = len(E)
    assert res.n_queries == {"colour": n * 3, "shape": n * 2}
    # chance: targets share the new value and the kept attribute, over the other N - 1 images
    assert res.chance_by_attribute["colour"] == pytest.approx(len(POSITIONS) * 2 / (n - 1))
    assert res.chance_by_attribute["shape"] == pytest.approx(len(POSITIONS) * 2 / (n - 1))
    # a shuffled embedding breaks it
    shuffled = E[np.random.default_rng(1).permutation(n)]
    assert evaluate_analogies(shuffled, attrs, words).precision[1] < 0.3


def _brute_force(E, attrs, words, k, change):
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores, hits, chance, count = 0.0, 0.0, 0.0, 0
    for i in range(len(E)):
        for b in sorted(set(attrs[change])):
            if b == attrs[change][i]:
                continue
            q = analogy_query(E[i], words[attrs[change][i]], words[b])
            sims = [(-float(q @ unit[j]), j) for j in range(len(E)) if j != i]
            top = [j for _, j in sorted(sims)[:k]]

            def is_target(j):
                return attrs[change][j] == b and all(attrs[o][j] == attrs[o][i] for o in attrs if o != change)

            good = [is_target(j) for j in top]
            scores += sum(good) / k
            hits += any(good)
            chance += sum(is_target(j) for j in range(len(E)) if j != i) / (len(E) - 1)
            count += 1
    return scores / count, hits / count, chance / count


def test_evaluator_equals_brute_force_on_a_noisy_embedding():
    E, attrs, words = _exact_gallery(copies=1, noise=0.5, seed=2)
    res = evaluate_analogies(E, attrs, words, ks=(1, 3))
    for change in ("colour", "shape"):
        for k in (1, 3):
            p, h, c = _brute_force(E, attrs, words, k, change)
            assert res.by_attribute[change][k] == pytest.approx(p, abs=1e-12)
            assert res.hit_by_attribute[change][k] == pytest.approx(h, abs=1e-12)
            assert res.chance_by_attribute[change] == pytest.approx(c, abs=1e-12)
    assert 0.0 < res.precision[1] < 1.0  # the noise makes it a real test


def test_changing_only_one_attribute():
    E, attrs, words = _exact_gallery()
    res = evaluate_analogies(torch.tensor(E), attrs, words, change=["shape"])
    assert list(res.by_attribute) == ["shape"] and res.precision[5] == 1.0


def test_bad_inputs():
    E, attrs, words = _exact_gallery(copies=1)
    with pytest.raises(ShapeError, match="embedding size"):
        analogy_query(np.zeros((2, 3)), np.zeros(4), np.zeros(3))
    with pytest.raises(ShapeError, match=r"attributes\['shape'\].*\(72,\); got \(3,\)"):
        evaluate_analogies(E, {"colour": attrs["colour"], "shape": ["a", "b", "c"]}, words)
    with pytest.raises(ModalityError, match="'yellow'"):
        evaluate_analogies(E, attrs, {w: v for w, v in words.items() if w != "yellow"})
    with pytest.raises(ModalityError, match="unknown attribute 'size'"):
        evaluate_analogies(E, attrs, words, change=["size"])
    with pytest.raises(ConfigError, match="ks"):
        evaluate_analogies(E, attrs, words, ks=(0,))
    with pytest.raises(ShapeError, match=r"\(N, d\)"):
        evaluate_analogies(E[0], attrs, words)


def test_kept_queries_average_to_the_totals():
    E, attrs, words = _exact_gallery(copies=1, noise=0.5, seed=4)
    res = evaluate_analogies(E, attrs, words, ks=(1, 5), keep_queries=True)
    q = res.queries
    assert len(q["image"]) == sum(res.n_queries.values())
    for k in (1, 5):
        assert q[f"precision@{k}"].mean() == pytest.approx(res.precision[k], abs=1e-12)
        colour = q["attribute"] == "colour"
        assert q[f"precision@{k}"][colour].mean() == pytest.approx(res.by_attribute["colour"][k], abs=1e-12)
    # each query's own precision@1 is the brute-force one
    for j in range(0, len(q["image"]), 37):
        i, a, b, attr = int(q["image"][j]), q["minus"][j], q["plus"][j], q["attribute"][j]
        assert attrs[attr][i] == a != b
        sims = analogy_query(E[i], words[a], words[b]) @ (E / np.linalg.norm(E, axis=1, keepdims=True)).T
        sims[i] = -np.inf
        top = int(np.argmax(sims))
        other = "shape" if attr == "colour" else "colour"
        assert q["precision@1"][j] == float(attrs[attr][top] == b and attrs[other][top] == attrs[other][i])


def test_chunked_scoring_and_a_single_attribute_equal_brute_force():
    E, attrs, words = _exact_gallery(copies=1, noise=0.5, seed=5)
    whole = evaluate_analogies(E, attrs, words, ks=(1, 3), keep_queries=True)
    parts = evaluate_analogies(E, attrs, words, ks=(1, 3), keep_queries=True, chunk=7)
    assert parts.precision == pytest.approx(whole.precision, abs=1e-12)
    assert parts.chance == pytest.approx(whole.chance, abs=1e-12)
    np.testing.assert_array_equal(parts.queries["precision@3"], whole.queries["precision@3"])
    # one attribute only: every other image of the new colour is a target
    only = {"colour": attrs["colour"]}
    res = evaluate_analogies(E, only, words, ks=(1, 3), chunk=5)
    p, h, c = _brute_force(E, only, words, 3, "colour")
    assert res.precision[3] == pytest.approx(p, abs=1e-12) and res.chance == pytest.approx(c, abs=1e-12)
    assert res.chance == pytest.approx(18 / (len(E) - 1))
