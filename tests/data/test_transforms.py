"""Standardizer: a scikit-learn transformer, per modality or on one array."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from polymodal.data import MultimodalDataset, Standardizer
from polymodal.data.preprocessing import preprocessing_state, standardizer_from_state
from polymodal.errors import ConfigError, ShapeError


def _data(seed=0, n=12):
    rng = np.random.default_rng(seed)
    vec = rng.normal(3.0, 2.0, size=(n, 4))
    vec[:, 2] = 7.0  # a constant feature
    img = rng.normal(size=(n, 2, 3))
    seq = [rng.normal(size=(t, 2)) for t in rng.integers(1, 5, size=n)]
    return vec, img, seq


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_array_form_equals_sklearn_standard_scaler(dtype):
    vec, _, _ = _data()
    x = vec.astype(dtype)
    ours, ref = Standardizer().fit(x), StandardScaler().fit(x)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-6)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-6)  # constant feature: scale 1 in both
    z = ours.transform(x)
    assert z.dtype == dtype and ours.n_features_in_ == 4
    np.testing.assert_allclose(z, ref.transform(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.inverse_transform(z), x, rtol=1e-5)


def test_per_modality_form_on_a_dataset_and_a_mapping():
    vec, img, seq = _data()
    ds = MultimodalDataset({"v": vec, "i": img, "s": seq}, np.arange(12) % 2)
    st = Standardizer().fit(ds)
    assert set(st.mean_) == {"v", "i"}  # the sequence modality has no statistics
    assert st.mean_["i"].shape == (2, 3) and st.scale_["v"][2] == 1.0
    out = st.transform(ds)
    assert isinstance(out, MultimodalDataset) and out.modalities["s"] is seq
    for m, x in (("v", vec), ("i", img)):
        expected = (x - x.mean(0)) / np.where(x.std(0) > 1e-12, x.std(0), 1.0)
        assert out.modalities[m].dtype == np.float32
        np.testing.assert_allclose(out.modalities[m], expected, rtol=1e-5, atol=1e-6)
    # a plain {modality: array} mapping is the same form
    st2 = Standardizer().fit({"v": vec, "i": img})
    np.testing.assert_array_equal(st2.transform({"v": vec, "i": img})["v"], out.modalities["v"])
    np.testing.assert_allclose(st2.inverse_transform(st2.transform({"v": vec, "i": img}))["i"], img,
                               rtol=1e-5, atol=1e-6)


def test_statistics_round_trip_through_the_checkpoint_state():
    vec, img, _ = _data()
    st = Standardizer().fit({"v": vec, "i": img})
    back = standardizer_from_state(preprocessing_state(st))
    for m in ("v", "i"):
        np.testing.assert_array_equal(back.mean_[m], st.mean_[m])
        np.testing.assert_array_equal(back.scale_[m], st.scale_[m])
    both = {"v": vec, "i": img}
    np.testing.assert_array_equal(back.transform(both)["v"], st.transform(both)["v"])


def test_bad_input_is_refused_naming_the_problem():
    vec, img, _ = _data()
    with pytest.raises(NotFittedError):
        Standardizer().transform(vec)
    with pytest.raises(ShapeError, match="fitted per modality"):
        Standardizer().fit({"v": vec}).transform(vec)
    with pytest.raises(ShapeError, match="fitted on one array"):
        Standardizer().fit(vec).transform({"v": vec})
    with pytest.raises(ShapeError, match=r"modality 'v': samples of shape \(3,\)"):
        Standardizer().fit({"v": vec}).transform({"v": vec[:, :3]})
    bad = vec.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ShapeError, match="modality 'v' contains NaN"):
        Standardizer().fit({"v": bad})
    with pytest.raises(ConfigError, match="fitted on one array"):
        preprocessing_state(Standardizer().fit(vec))
    with pytest.raises(ConfigError, match="scale finite and > 0"):
        Standardizer.from_statistics({"v": np.zeros(2)}, {"v": np.zeros(2)})


def test_samples_marked_missing_do_not_move_the_statistics():
    """Regression: the placeholders of missing samples (zeros here) once entered the mean and std."""
    rng = np.random.default_rng(3)
    a = rng.normal(5.0, 2.0, size=(40, 3))
    present = np.arange(40) % 3 != 0
    a[~present] = 0.0
    ds = MultimodalDataset({"a": a, "b": rng.normal(size=(40, 2))}, np.arange(40) % 2, present={"a": present})
    st = Standardizer().fit(ds)
    np.testing.assert_allclose(st.mean_["a"], a[present].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(st.scale_["a"], a[present].std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(st.mean_["b"], ds.modalities["b"].mean(axis=0), rtol=1e-12)
