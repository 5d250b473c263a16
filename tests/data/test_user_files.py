"""User files as datasets from one config block: .npz, CSV/Parquet, Hugging Face save_to_disk,
a loader of one's own by import path; the existing readers through data.options."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from polymodal.data import load_dataset
from polymodal.errors import ConfigError, DatasetError
from polymodal.training import fit
from polymodal.training.config import parse_config
from polymodal.training.engine import build_datamodule


def _two_views(n=240, seed=0):
    """Label = sign(a.u + b.v): both views carry half the signal (either alone ~75%)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 5)), rng.normal(size=(n, 3))
    y = (a @ np.array([1.0, -1.0, 0.5, 0.0, 0.0]) + b @ np.array([1.0, 1.0, -0.5]) > 0).astype(np.int64)
    return a.astype(np.float32), b.astype(np.float32), y


def _config(tmp_path, data, **model):
    return {
        "name": "run", "output_dir": str(tmp_path / "runs"), "seed": 0, "data": {"batch_size": 32, **data},
        "model": {"encoder": {"name": "identity"}, "fusion": {"name": "concat"}, "head": {"name": "mlp", "hidden": []},
                  **model},
        "optim": {"lr": 0.05}, "trainer": {"max_epochs": 30, "patience": None, "progress": False},
    }


def _learns(result):
    assert result.test_metrics["accuracy"] >= 0.9  # chance 0.5; one view alone ~0.75


def test_npz_round_trip_and_training(tmp_path):
    a, b, y = _two_views()
    np.savez(tmp_path / "d.npz", a=a, b=b, label=y)
    ds = load_dataset("npz", path=tmp_path / "d.npz", target="label")
    assert list(ds.modalities) == ["a", "b"]
    np.testing.assert_array_equal(ds.modalities["b"], b)
    np.testing.assert_array_equal(ds.target, y)
    assert list(load_dataset("npz", path=tmp_path / "d.npz", target="label", modalities=["b"]).modalities) == ["b"]
    _learns(fit(_config(tmp_path, {"name": "npz", "options": {"path": str(tmp_path / "d.npz"), "target": "label"}})))


def test_npz_errors_name_the_array_and_key(tmp_path):
    a, b, y = _two_views(20)
    np.savez(tmp_path / "d.npz", a=a, b=b, y=y)
    with pytest.raises(DatasetError, match=r"no target array 'target'.*\['a', 'b', 'y'\]"):
        load_dataset("npz", path=tmp_path / "d.npz")
    with pytest.raises(DatasetError, match="no array 'c'"):
        load_dataset("npz", path=tmp_path / "d.npz", target="y", modalities=["a", "c"])
    with pytest.raises(DatasetError, match="file not found"):
        load_dataset("npz", path=tmp_path / "absent.npz")
    with pytest.raises(ConfigError, match=r"unknown config key 'data.options.colour'.*allowed: \['path'"):
        load_dataset("npz", path=tmp_path / "d.npz", colour="red")
    with pytest.raises(ConfigError, match="needs config key 'data.options.path'"):
        load_dataset("npz")


def _frame(n=240):
    import pandas as pd

    a, b, y = _two_views(n)
    frame = pd.DataFrame({**{f"a_{i}": a[:, i] for i in range(5)}, **{f"b{i}": b[:, i] for i in range(3)},
                          "label": np.where(y == 1, "yes", "no")})
    return frame, a, b, y


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_table_groups_columns_into_modalities_and_trains(tmp_path, suffix):
    frame, a, b, y = _frame()
    path = tmp_path / f"t.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    options = {"path": str(path), "target": "label", "encode_labels": True,
               "modalities": {"a": ["a_*"], "b": ["b0", "b1", "b2"]}}
    ds = load_dataset("table", **options)
    np.testing.assert_allclose(ds.modalities["a"], a, rtol=1e-6)
    np.testing.assert_allclose(ds.modalities["b"], b, rtol=1e-6)
    assert ds.classes == ["no", "yes"] and ds.target.tolist() == y.tolist()
    if suffix == "csv":
        _learns(fit(_config(tmp_path, {"name": "table", "options": options})))


def test_table_empty_group_is_a_missing_modality_and_partial_is_an_error(tmp_path):
    frame, a, b, y = _frame(20)
    frame.loc[3, ["b0", "b1", "b2"]] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = load_dataset("table", path=tmp_path / "t.csv", target="label", encode_labels=True,
                      modalities={"a": "a_*", "b": "b*"})
    assert ds.present["b"].tolist() == [i != 3 for i in range(20)] and "a" not in ds.present
    assert (ds.modalities["b"][3] == 0).all()
    frame.loc[5, "a_2"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DatasetError, match=r"row 5 has an empty value in column 'a_2' of modality 'a'"):
        load_dataset("table", path=tmp_path / "t.csv", target="label", modalities={"a": "a_*", "b": "b*"})
    with pytest.raises(DatasetError, match=r"modalities.c': no column matches 'c_\*'"):
        load_dataset("table", path=tmp_path / "t.csv", target="label", modalities={"c": "c_*"})


def test_hf_save_to_disk_dataset_trains_and_offline_hub_name_is_one_clear_error(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    a, b, y = _two_views()
    features = datasets.Features({"a": datasets.Sequence(datasets.Value("float32"), length=5),
                                  "b0": datasets.Value("float32"), "b1": datasets.Value("float32"),
                                  "b2": datasets.Value("float32"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    hf = datasets.Dataset.from_dict({"a": a.tolist(), "b0": b[:, 0], "b1": b[:, 1], "b2": b[:, 2],
                                     "label": y.tolist()}, features=features)
    datasets.DatasetDict({"train": hf, "test": hf.select(range(10))}).save_to_disk(str(tmp_path / "hf"))
    options = {"path": str(tmp_path / "hf"), "split": "train", "modalities": {"a": "a", "b": ["b0", "b1", "b2"]}}
    ds = load_dataset("hf", **options)
    np.testing.assert_allclose(ds.modalities["a"], a, rtol=1e-6)
    np.testing.assert_allclose(ds.modalities["b"], b, rtol=1e-6)
    assert ds.classes == ["neg", "pos"] and ds.target.tolist() == y.tolist()
    with pytest.raises(ConfigError, match=r"has splits \['test', 'train'\]: choose one"):
        load_dataset("hf", path=str(tmp_path / "hf"), modalities=["a"])
    _learns(fit(_config(tmp_path, {"name": "hf", "options": options})))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError, match=r"'polymodal-test/absent'.*offline.*save_to_disk"):
        load_dataset("hf", path="polymodal-test/absent", modalities=["a"])


def test_own_loader_and_own_encoder_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_pkg_h17").mkdir()
    (tmp_path / "my_pkg_h17" / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        import torch
        from polymodal.data import MultimodalDataset

        def load_mine(n=240, seed=0):
            rng = np.random.default_rng(seed)
            a, b = rng.normal(size=(n, 5)), rng.normal(size=(n, 3))
            y = (a[:, 0] * b[:, 0] > 0).astype(np.int64)  # XOR of signs: needs a product of the views
            return MultimodalDataset({"a": a.astype(np.float32), "b": b.astype(np.float32)}, y)

        class FirstFeature(torch.nn.Module):
            def __init__(self, in_features):
                super().__init__()
                self.out_features = 1
            def forward(self, x):
                return x[:, :1]

        class NoSize(torch.nn.Module):
            def __init__(self, in_features):
                super().__init__()
            def forward(self, x):
                return x
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _config(tmp_path, {"name": "my_pkg_h17:load_mine"}, encoder={"name": "my_pkg_h17:FirstFeature"},
                  fusion={"name": "product"})
    result = fit(cfg)
    assert result.test_metrics["accuracy"] >= 0.9  # the product of the two first features solves XOR
    bad = _config(tmp_path, {"name": "my_pkg_h17:load_mine"}, encoder={"name": "my_pkg_h17:NoSize"})
    bad["name"] = "bad"
    with pytest.raises(ConfigError, match=r"'model.encoder': encoder 'my_pkg_h17:NoSize' has no 'out_features'.*"
                                          r"self.out_features = d"):
        fit(bad)
    for name, match in (("my_pkg_h17:Absent", "has no attribute 'Absent'"),
                        ("no_such_pkg_h17:X", "cannot import module 'no_such_pkg_h17'")):
        with pytest.raises(ConfigError, match=match):
            fit(_config(tmp_path / "other", {"name": "my_pkg_h17:load_mine"}, encoder={"name": name}))
    sys.modules.pop("my_pkg_h17", None)


def test_existing_readers_take_their_path_from_data_options(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "image").mkdir()
    (tmp_path / "audio").mkdir()
    for part, n in (("train", 12), ("test", 4)):
        np.save(tmp_path / "image" / f"{part}_data.npy", rng.integers(0, 256, (n, 784)).astype(np.uint8))
        np.save(tmp_path / "audio" / f"{part}_data.npy", rng.integers(0, 256, (n, 112, 112)).astype(np.uint8))
        np.save(tmp_path / f"{part}_labels.npy", np.arange(n) % 2)
    cfg = parse_config({"data": {"name": "avmnist", "options": {"path": str(tmp_path), "split": "train", "val_size": 2},
                                 "val_size": 0.25, "test_size": 0.25}})
    dm = build_datamodule(cfg)
    assert dm.dataset.name == "avmnist" and len(dm.dataset) == 10 and dm.specs["audio"].shape == (1, 112, 112)
