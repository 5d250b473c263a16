"""AV-MNIST reader on files written in MultiBench's .npy layout."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.data import list_datasets, load_dataset, read_avmnist
from polymodal.errors import DatasetError


def _write(root, n_train=7, n_test=3, seed=0, image_cols=784):
    rng = np.random.default_rng(seed)
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(exist_ok=True)
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        image = rng.integers(0, 256, size=(n, image_cols)).astype(np.uint8)
        audio = rng.integers(0, 256, size=(n, 112, 112)).astype(np.uint8)
        labels = rng.integers(0, 10, size=n)
        np.save(root / "image" / f"{part}_data.npy", image)
        np.save(root / "audio" / f"{part}_data.npy", audio)
        np.save(root / f"{part}_labels.npy", labels)
        arrays[part] = (image, audio, labels)
    return arrays


def test_avmnist_round_trip(tmp_path):
    raw = _write(tmp_path)
    s = read_avmnist(tmp_path, val_size=2)
    image, audio, labels = raw["train"]
    assert len(s.train) == 5 and len(s.valid) == 2 and len(s.test) == 3
    np.testing.assert_allclose(s.train.modalities["image"][4, 0], image[4].reshape(28, 28) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(s.valid.modalities["audio"][1, 0], audio[6] / 255.0, rtol=1e-6)
    assert s.valid.target.tolist() == labels[5:].tolist()  # the last training rows validate
    assert s.valid.ids == [5, 6]
    assert s.test.target.tolist() == raw["test"][2].tolist()
    assert s.train.specs["image"].shape == (1, 28, 28) and s.train.specs["audio"].shape == (1, 112, 112)
    raw_s = read_avmnist(tmp_path, val_size=2, normalize=False)
    np.testing.assert_array_equal(raw_s.test.modalities["image"][:, 0].reshape(3, 784), raw["test"][0])


def test_avmnist_catalog(tmp_path, monkeypatch):
    raw = _write(tmp_path)
    info = {i.name: i for i in list_datasets()}["avmnist"]
    monkeypatch.delenv("POLYMODAL_AVMNIST", raising=False)
    assert info.availability()[0] is False
    monkeypatch.setenv("POLYMODAL_AVMNIST", str(tmp_path))
    assert info.availability()[0] is True
    full = load_dataset("avmnist", val_size=1)
    assert len(full) == 10 and full.n_classes == 10
    assert full.target.tolist() == raw["train"][2].tolist() + raw["test"][2].tolist()


def test_avmnist_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_avmnist(tmp_path / "none")
    _write(tmp_path, image_cols=780)
    with pytest.raises(DatasetError, match=r"\(N, 784\)"):
        read_avmnist(tmp_path, val_size=1)
    _write(tmp_path)
    np.save(tmp_path / "test_labels.npy", np.arange(4))
    with pytest.raises(DatasetError, match="labels 4"):
        read_avmnist(tmp_path, val_size=1)
    _write(tmp_path)
    with pytest.raises(DatasetError, match="val_size"):
        read_avmnist(tmp_path, val_size=7)
    np.save(tmp_path / "train_labels.npy", np.array([object()] * 7, dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="not a plain numeric"):
        read_avmnist(tmp_path, val_size=1)
