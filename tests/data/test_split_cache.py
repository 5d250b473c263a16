"""The on-disk split cache returns scikit-learn's split (stratified_split) and never another one."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from polymodal.data.split_cache import CACHE_ENV, cached_stratified_split, split_cache_dir
from polymodal.data.splits import stratified_split


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    return tmp_path / "splits"


@pytest.mark.parametrize("n,val,test,seed,stratify", [(200, 0.2, 0.2, 0, True), (203, 0.1, 0.3, 5, True),
                                                      (97, 0.0, 0.25, 2, True), (150, 0.2, 0.2, 1, False)])
def test_a_hit_returns_scikit_learns_split(cache, n, val, test, seed, stratify):
    y = np.random.default_rng(seed).integers(0, 5, size=n)
    expected = stratified_split(y, val_size=val, test_size=test, seed=seed, stratify=stratify)
    first = cached_stratified_split(y, val_size=val, test_size=test, seed=seed, stratify=stratify)
    assert len(list(cache.glob("*.npz"))) == 1
    second = cached_stratified_split(y, val_size=val, test_size=test, seed=seed, stratify=stratify)
    assert _same(first, expected) and _same(second, expected)
    # another seed, other targets: other keys
    cached_stratified_split(y, val_size=val, test_size=test, seed=seed + 1, stratify=stratify)
    cached_stratified_split(np.roll(y, 1), val_size=val, test_size=test, seed=seed, stratify=stratify)
    assert len(list(cache.glob("*.npz"))) == 3


def test_a_damaged_or_wrong_file_is_redrawn_not_used(cache):
    y = np.repeat(np.arange(4), 30)
    expected = stratified_split(y, seed=3)
    cached_stratified_split(y, seed=3)
    (path,) = cache.glob("*.npz")
    for damage in (b"", b"not a zip", path.read_bytes()[:100]):
        path.write_bytes(damage)
        assert _same(cached_stratified_split(y, seed=3), expected)
    np.savez(path, train=expected.train, val=expected.val, test=expected.test[:-1])
    assert _same(cached_stratified_split(y, seed=3), expected)  # not a partition of range(n): redrawn
    np.savez(path, train=expected.train[1:], val=expected.val, test=np.sort(np.r_[expected.test, expected.train[0]]))
    assert _same(cached_stratified_split(y, seed=3), expected)  # other sizes than scikit-learn draws: redrawn
    np.savez(path, train=expected.train[::-1], val=expected.val, test=expected.test)
    assert _same(cached_stratified_split(y, seed=3), expected)  # not sorted: redrawn
    assert _same(cached_stratified_split(y, seed=3), expected) and len(list(cache.glob("*"))) == 1


def test_off_and_unwritable_folders_still_split(tmp_path, monkeypatch):
    y = np.repeat(np.arange(3), 20)
    monkeypatch.setenv(CACHE_ENV, "off")
    assert split_cache_dir() is None and _same(cached_stratified_split(y), stratified_split(y))
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker))  # <file>/splits cannot be created
    assert _same(cached_stratified_split(y), stratified_split(y))
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr("pathlib.Path.home", classmethod(lambda cls: (_ for _ in ()).throw(RuntimeError("no home"))))
    assert split_cache_dir() is None and _same(cached_stratified_split(y), stratified_split(y))


def test_a_cached_split_needs_no_scikit_learn(cache):
    code = ("import sys, numpy as np\nfrom polymodal.data.split_cache import cached_stratified_split\n"
            "s = cached_stratified_split(np.repeat(np.arange(5), 10), seed=1)\n"
            "print('sklearn' in sys.modules, ' '.join(map(str, s.test)))")
    env = dict(os.environ, **{CACHE_ENV: str(cache.parent)})
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            .stdout.split(" ", 1) for _ in range(2)]
    assert [r[0] for r in runs] == ["True", "False"] and runs[0][1] == runs[1][1]
    assert runs[1][1].split() == [str(i) for i in stratified_split(np.repeat(np.arange(5), 10), seed=1).test]
