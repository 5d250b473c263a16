"""Readers refuse bad files before allocating or training (issue 19)."""

import json
import os
import pickle

import numpy as np
import pytest

from polymodal.data import MultimodalDataset, load_karpathy_captions, read_avmnist, safe_pickle
from polymodal.errors import DatasetError, ShapeError


class _Forge:
    def __init__(self, shape):
        self.shape = shape

    def __reduce__(self):
        return (np.ndarray, (self.shape,))


def test_safe_pickle_byte_limit_is_configurable(monkeypatch):
    data = pickle.dumps(_Forge((1000,)), protocol=2)  # an 8000-byte uninitialised array
    assert safe_pickle.loads(data).shape == (1000,)
    with pytest.raises(DatasetError, match=r"shape \(1000,\).*limit"):
        safe_pickle.loads(data, max_bytes=4000)
    monkeypatch.setenv("POLYMODAL_PICKLE_MAX_BYTES", "4000")
    with pytest.raises(DatasetError, match="limit"):
        safe_pickle.loads(data)
    monkeypatch.setenv("POLYMODAL_PICKLE_MAX_BYTES", "lots")
    with pytest.raises(DatasetError, match="POLYMODAL_PICKLE_MAX_BYTES"):
        safe_pickle.loads(data)


def test_safe_pickle_round_trips_plain_data_under_the_limit():
    value = {"a": np.arange(12.0).reshape(3, 4), "b": [np.int64(3), "x"], "c": np.ones(2, np.float32)}
    for protocol in (2, 4, 5):
        back = safe_pickle.loads(pickle.dumps(value, protocol=protocol), max_bytes=200)
        assert np.array_equal(back["a"], value["a"]) and back["b"] == [3, "x"] and back["c"].dtype == np.float32


def _avmnist(d, image, labels=(0, 1, 2)):
    (d / "image").mkdir(parents=True)
    (d / "audio").mkdir()
    for part in ("train", "test"):
        np.save(d / "image" / f"{part}_data.npy", image)
        np.save(d / "audio" / f"{part}_data.npy", np.zeros((len(labels), 112, 112), np.uint8))
        np.save(d / f"{part}_labels.npy", np.asarray(labels))


def test_avmnist_refuses_inf_and_lying_headers(tmp_path):
    image = np.zeros((3, 784), np.float32)
    image[2, 10] = np.inf
    _avmnist(tmp_path / "inf", image)
    with pytest.raises(DatasetError, match=r"train_data.npy: row 2 contains NaN or inf"):
        read_avmnist(tmp_path / "inf", val_size=1)
    _avmnist(tmp_path / "liar", np.zeros((3, 784), np.uint8))
    with open(tmp_path / "liar" / "train_labels.npy", "wb") as h:  # claims 745 GiB, holds 16 bytes
        np.lib.format.write_array_header_1_0(h, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (100_000, 1_000_000)})
        h.write(b"\0" * 16)
    with pytest.raises(DatasetError, match="train_labels.npy: not a plain numeric .npy file"):
        read_avmnist(tmp_path / "liar", val_size=1)


def _karpathy(path, filename, filepath=None):
    rec = {"filename": filename, "split": "train", "sentences": [{"raw": "a b", "tokens": ["a", "b"]}]}
    if filepath is not None:
        rec["filepath"] = filepath
    path.write_text(json.dumps({"images": [rec]}))
    return path


def test_karpathy_paths_stay_under_images_dir(tmp_path):
    root = tmp_path / "images"
    (root / "val2014").mkdir(parents=True)
    ok = load_karpathy_captions(_karpathy(tmp_path / "ok.json", "a.jpg", "val2014"), root)
    assert ok.images[0].path == os.path.join(str(root), "val2014", "a.jpg")
    for name, (filename, filepath) in {"dotdot": ("../../etc/hostname", None), "abs": ("/etc/hostname", None),
                                       "dir": ("hostname", "../../../etc")}.items():
        with pytest.raises(DatasetError, match="outside images_dir"):
            load_karpathy_captions(_karpathy(tmp_path / f"{name}.json", filename, filepath), root)
    os.symlink("/etc", root / "out")
    with pytest.raises(DatasetError, match="outside images_dir"):
        load_karpathy_captions(_karpathy(tmp_path / "link.json", "hostname", "out"), root)
    # without images_dir the file names are kept as they are (nothing is opened)
    assert load_karpathy_captions(tmp_path / "dotdot.json").images[0].path is None


def test_class_labels_need_0_to_k_minus_1_or_an_explicit_encoder():
    x = np.zeros((6, 2))
    with pytest.raises(ShapeError, match=r"class set \{0, 1, 7\}.*encode_labels=True"):
        MultimodalDataset({"x": x}, np.array([0, 1, 7, 0, 1, 7]))
    ds = MultimodalDataset({"x": x}, np.array([0, 1, 7, 0, 1, 7]), encode_labels=True)
    assert ds.n_classes == 3 and ds.classes == [0, 1, 7] and ds.target.tolist() == [0, 1, 2, 0, 1, 2]
    ds = MultimodalDataset({"x": x}, np.array([0, 1, 7, 0, 1, 7]), n_classes=8)  # declared absent classes
    assert ds.n_classes == 8
    ds = MultimodalDataset({"x": x}, np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0]))  # integer-valued floats
    assert ds.target.dtype == np.int64 and ds.n_classes == 3
    assert ds.subset([0, 1]).n_classes == 3  # a split without class 2 keeps 3 outputs
    with pytest.raises(ShapeError, match="got 0.5 at sample 0"):
        MultimodalDataset({"x": x}, np.array([0.5, 1.5, 0.5, 1.5, 0.5, 1.5]))
    # regression targets are not class labels
    assert MultimodalDataset({"x": x}, np.linspace(0, 1, 6), task="regression").n_outputs == 1
