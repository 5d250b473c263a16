"""The graphical models read polymodal's data model directly: a MultimodalDataset
of sequence modalities or a collated Batch (padding removed with its lengths)
gives exactly what the equivalent list of per-sample dicts gives."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.data import MultimodalDataset, collate
from polymodal.errors import ShapeError
from polymodal.fusion.graphical import HMMClassifier, MultiStreamHMM, MultiViewHCRF
from polymodal.fusion.graphical._core import as_samples


def _dataset(n=12, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 9, size=n)
    y = np.arange(n) % 2
    a = [rng.normal(loc=2.0 * y[i], size=(t, 2)) for i, t in enumerate(lengths)]
    b = [rng.normal(loc=-1.0 * y[i], size=(t, 3)) for i, t in enumerate(lengths)]
    return MultimodalDataset({"a": a, "b": b}, y), a, b, y


def test_dataset_and_batch_become_the_per_sample_dicts():
    ds, a, b, _ = _dataset()
    for source in (ds, collate([ds[i] for i in range(len(ds))])):
        samples = as_samples(source, ["b", "a"])
        assert [list(s) for s in samples] == [["b", "a"]] * len(ds)
        for i, s in enumerate(samples):  # padding is cut at each sample's own length
            np.testing.assert_allclose(s["a"], a[i], rtol=1e-6)
            np.testing.assert_allclose(s["b"], b[i], rtol=1e-6)
    assert as_samples([1, 2]) == [1, 2]  # anything else passes through


def test_hmm_classifier_and_hcrf_give_the_same_answers_from_a_dataset():
    ds, a, b, y = _dataset()
    dicts = [{"a": a[i], "b": b[i]} for i in range(len(y))]
    clf = HMMClassifier(MultiStreamHMM(2, n_iter=5, random_state=0))
    from_lists = clf.fit(dicts, y).decision_function(dicts)
    from_dataset = clf.fit(ds, ds.target).decision_function(ds)
    np.testing.assert_allclose(from_dataset, from_lists, rtol=1e-5)

    hcrf = MultiViewHCRF(n_hidden=2, max_epochs=5, random_state=0)
    p_lists = hcrf.fit(dicts, y).predict_proba(dicts)
    p_batch = hcrf.predict_proba(collate([ds[i] for i in range(len(ds))]))
    np.testing.assert_allclose(p_batch, p_lists, rtol=1e-5, atol=1e-7)
    p_dataset = hcrf.fit(ds, ds.target).predict_proba(ds)
    np.testing.assert_allclose(p_dataset, p_lists, rtol=1e-5, atol=1e-7)


def test_missing_stream_and_unknown_modality_are_refused():
    ds, a, b, y = _dataset()
    present = {"a": np.ones(len(y), bool), "b": np.r_[True, False, np.ones(len(y) - 2, bool)]}
    gappy = MultimodalDataset({"a": a, "b": b}, y, present=present)
    with pytest.raises(ShapeError, match="modality 'b' is missing for sample 1"):
        as_samples(gappy)
    with pytest.raises(ShapeError, match=r"modalities \['c'\] are not in the data"):
        as_samples(ds, ["a", "c"])
