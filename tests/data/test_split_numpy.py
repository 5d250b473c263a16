"""stratified_split draws scikit-learn's train_test_split (StratifiedShuffleSplit / ShuffleSplit) in
numpy: every index array equals scikit-learn's, in scikit-learn's order, on adversarial inputs, and
the inputs scikit-learn rejects raise a polymodal error naming the problem."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from polymodal.data.splits import _approximate_mode, _class_keys, _train_test_positions, stratified_split
from polymodal.errors import ConfigError, ShapeError

SIZES = [(0.2, 0.2), (0.1, 0.3), (0.0, 0.25), (0.15, 0.15), (0.3, 0.1), (1 / 3, 1 / 3), (0.05, 0.7), (0.25, 0.5)]


def _labels(rng: np.random.Generator, case: int) -> np.ndarray:
    """Targets of one kind per ``case % 10``: adversarial for the class allocation and the draws."""
    n = int(rng.integers(20, 400))
    kind = case % 10
    if kind == 0:  # balanced (ties in every class share), sorted
        k = int(rng.integers(2, 9))
        return np.repeat(np.arange(k), max(n // k, 2))
    if kind == 1:  # very unbalanced
        p = rng.dirichlet(np.full(int(rng.integers(2, 6)), 0.3))
        y = rng.choice(len(p), size=n, p=p)
    elif kind == 2:  # classes with exactly 2 members next to big ones
        y = np.r_[np.repeat([0, 1, 2], 2), rng.integers(3, 6, n)]
    elif kind == 3:  # many classes
        k = int(rng.integers(10, 40))
        y = np.r_[np.arange(k), np.arange(k), rng.integers(0, k, 3 * k)]
    elif kind == 4:  # strings
        y = rng.choice(np.array(["cat", "dog", "bird", "b", "Cat", ""]), size=n)
    elif kind == 5:  # integer labels with gaps, negative too
        y = rng.choice(np.array([-7, 3, 10, 1000, 10**12]), size=n)
    elif kind == 6:  # float and bool labels
        y = rng.choice(np.array([0.5, -1.25, 3.0]), size=n) if case % 20 < 10 else rng.integers(0, 2, n) == 1
    elif kind == 7:  # object labels (Python strings)
        y = rng.choice(np.array(["x", "yy", "z"], dtype=object), size=n)
    elif kind == 8:  # multi-label rows (each distinct row a class)
        y = rng.integers(0, 2, size=(n, 2))
    else:  # every class the same size but unsorted, few classes
        k = int(rng.integers(2, 5))
        y = rng.permutation(np.repeat(np.arange(k), int(rng.integers(2, 30))))
    return rng.permutation(y)


def _same_as_sklearn(y, seed, test_size, stratify=True):
    n, keys = len(y), _class_keys(np.asarray(y), "case") if stratify else None
    try:
        want = train_test_split(np.arange(n), test_size=test_size, stratify=y if stratify else None,
                                random_state=seed)
    except ValueError:
        with pytest.raises(ShapeError):
            _train_test_positions(n, test_size, keys, np.random.RandomState(seed), "case")
        return False
    got = _train_test_positions(n, test_size, keys, np.random.RandomState(seed), "case")
    for ours, theirs in zip(got, want):
        assert ours.dtype.kind == "i" and np.array_equal(ours, theirs), (y, seed, test_size)
    return True


def _reference(y, val, test, seed, stratify=True):
    """MultiBench's protocol with scikit-learn: what stratified_split did before it was numpy."""
    rest, te = train_test_split(np.arange(len(y)), test_size=test, stratify=y if stratify else None, random_state=seed)
    if val == 0:
        return np.sort(rest), np.array([], dtype=np.int64), np.sort(te)
    tr, va = train_test_split(rest, test_size=val / (1 - test), stratify=y[rest] if stratify else None,
                              random_state=seed)
    return np.sort(tr), np.sort(va), np.sort(te)


def test_one_split_equals_scikit_learns_in_order_on_hundreds_of_inputs():
    rng = np.random.default_rng(20)
    compared = 0
    for case in range(400):
        y = _labels(rng, case)
        if case % 3 == 0:  # an int test size (a count)
            test_size = int(rng.integers(1, len(y)))
        else:
            test_size = float(rng.choice([0.1, 0.2, 0.25, 0.3, 1 / 3, 0.5, 0.7, 0.9, 0.15, 0.05]))
        compared += _same_as_sklearn(y, int(rng.integers(0, 2**32)), test_size, stratify=case % 7 != 0)
    assert compared > 300  # most inputs are splittable; the others raised for both


def test_the_three_way_split_equals_the_scikit_learn_protocol():
    rng = np.random.default_rng(21)
    compared = 0
    for case in range(240):
        y = _labels(rng, case)
        val, test = SIZES[case % len(SIZES)]
        seed = int(rng.integers(0, 50)) if case % 2 else int(rng.integers(0, 2**32))
        stratify = case % 9 != 0
        try:
            want = _reference(y, val, test, seed, stratify)
        except ValueError:
            with pytest.raises(ShapeError):
                stratified_split(y, val_size=val, test_size=test, seed=seed, stratify=stratify)
            continue
        got = stratified_split(y, val_size=val, test_size=test, seed=seed, stratify=stratify)
        for ours, theirs in zip((got.train, got.val, got.test), want):
            assert np.array_equal(ours, theirs), (case, val, test, seed)
        assert got.train.dtype == got.val.dtype == got.test.dtype == np.int64
        compared += 1
    assert compared > 180


@pytest.mark.parametrize("n", [10, 30, 70, 100, 170, 1000])
@pytest.mark.parametrize("test_size", [0.1, 0.3, 0.7, 0.15, 0.35, 0.55])
def test_sizes_round_as_scikit_learn_where_the_float_product_is_off_an_integer(n, test_size):
    # 0.1 * 30 = 3.0000000000000004 and 0.7 * 10 = 7.000000000000001: ceil gives one more
    y = np.tile([0, 1], n // 2)
    _same_as_sklearn(y, 0, test_size) and _same_as_sklearn(y, 0, test_size, stratify=False)


def test_ties_in_the_class_allocation_are_broken_by_the_same_draws():
    # three classes of 5, 7 draws: the fractional parts tie and rng.choice breaks them
    for seed in range(60):
        y = np.repeat([2, 0, 1], 5)
        assert _same_as_sklearn(y, seed, 8)
        assert _same_as_sklearn(np.repeat(np.arange(6), 3), seed, 0.5)
    from sklearn.utils.extmath import _approximate_mode as theirs

    rng = np.random.default_rng(3)
    for _ in range(100):
        counts = rng.integers(1, 20, size=int(rng.integers(1, 12)))
        draws = int(rng.integers(0, counts.sum() + 1))
        seed = int(rng.integers(0, 1000))
        ours = _approximate_mode(counts, draws, np.random.RandomState(seed))
        assert np.array_equal(ours, theirs(counts, draws, np.random.RandomState(seed))) and ours.sum() == draws


def test_large_inputs_and_generator_seeds_match():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 37, 60_000)
    assert _same_as_sklearn(y, 123, 0.2) and _same_as_sklearn(y, 7, 0.2, stratify=False)
    y = rng.integers(0, 4, 300)
    for seed in (np.int64(4), np.uint32(2**32 - 1), 0):
        assert _same_as_sklearn(y, seed, 0.3)
    # a RandomState is used as is (both calls continue its stream); None is numpy's global one
    got = stratified_split(y, seed=np.random.RandomState(9))
    want = _reference(y, 0.2, 0.2, np.random.RandomState(9))
    assert all(np.array_equal(a, b) for a, b in zip((got.train, got.val, got.test), want))
    np.random.seed(11)
    got = stratified_split(y, seed=None)
    np.random.seed(11)
    want = _reference(y, 0.2, 0.2, None)
    assert all(np.array_equal(a, b) for a, b in zip((got.train, got.val, got.test), want))


@pytest.mark.parametrize("target,kwargs,message", [
    (np.r_[np.repeat([0, 1], 10), 5], {}, r"classes \[5\] have only 1 member"),
    (np.array(["a"] * 10 + ["b"] * 10 + ["c"]), {}, r"classes \['c'\] have only 1 member"),
    (np.repeat(np.arange(20), 3), {"test_size": 0.2}, r"test part \(12 of 60 samples\) is smaller than the number "
                                                       r"of classes \(20\)"),
    (np.repeat(np.arange(20), 3), {"test_size": 0.7, "val_size": 0.0}, r"train part \(18 of 60"),
    (np.repeat(np.arange(4), 3), {"val_size": 0.1, "test_size": 0.3}, r"validation split of the 8 left"),
    (np.r_[0, 0, 1, 1, 1, 1, 1], {"val_size": 0.3, "test_size": 0.3},
     r"validation split of the 4 left: classes \[0\] have only 1 member"),
    (np.zeros(1), {}, "leave no training samples"),
    (np.zeros(0), {}, "leave no training samples"),
    (np.array([0.0, 1.0, np.nan] * 10), {}, "NaN or infinite"),
    (np.array([0, 1, None] * 10, dtype=object), {}, "NaN or infinite|cannot be sorted"),
    (np.array(["a", 1] * 10, dtype=object), {}, "cannot be sorted"),
    (np.zeros((10, 2, 2)), {}, "1-D or 2-D, got shape"),
    (np.zeros(50), {"test_size": 0.0}, "split sizes must satisfy"),
    (np.zeros(50), {"val_size": 0.5, "test_size": 0.5}, "split sizes must satisfy"),
])
def test_what_scikit_learn_rejects_is_a_shape_error_naming_the_problem(target, kwargs, message):
    with pytest.raises(ShapeError, match=message):
        stratified_split(target, **kwargs)
    args = {"val_size": 0.2, "test_size": 0.2, "seed": 0, **kwargs}
    if 0 < args["test_size"] < 1 and args["val_size"] + args["test_size"] < 1:
        with pytest.raises((ValueError, TypeError)):
            _reference(target, args["val_size"], args["test_size"], args["seed"])


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0", np.random.default_rng(0)])
def test_a_seed_numpy_cannot_take_is_a_config_error(seed):
    with pytest.raises(ConfigError, match="seed must be an int"):
        stratified_split(np.repeat([0, 1], 10), seed=seed)


def test_drawing_a_split_imports_no_scikit_learn():
    code = ("import sys, numpy as np\nfrom polymodal.data.splits import stratified_split\n"
            "s = stratified_split(np.repeat(np.arange(5), 10), seed=1)\nprint(' '.join(map(str, s.test)))\n"
            "print(sorted({'sklearn', 'scipy', 'pandas'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[1] == "[]"
    assert out[0].split() == [str(i) for i in _reference(np.repeat(np.arange(5), 10), 0.2, 0.2, 1)[2]]
