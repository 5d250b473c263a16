import numpy as np
import pytest
import torch

from polymodal.data import (
    Batch,
    IndexBatchLoader,
    ModalitySpec,
    MultimodalDataset,
    Standardizer,
    collate,
    make_loader,
    pad_sequences,
    stratified_split,
)
from polymodal.errors import ModalityError, ShapeError


def small(n=10):
    rng = np.random.default_rng(0)
    return MultimodalDataset({"a": rng.normal(size=(n, 3)), "b": rng.normal(size=(n, 2))}, np.arange(n) % 2)


def test_different_sample_counts_named():
    with pytest.raises(ModalityError, match=r"modalities have different numbers of samples: 'a' has 5, 'b' has 4"):
        MultimodalDataset({"a": np.zeros((5, 2)), "b": np.zeros((4, 2))})


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_nan_inf_named(bad, word):
    x = np.zeros((5, 3))
    x[3, 1] = bad
    with pytest.raises(ShapeError, match=rf"modality 'img' contains {word} at sample 3, index \(1,\)"):
        MultimodalDataset({"img": x, "txt": np.zeros((5, 2))})


def test_nan_in_variable_length_sequence_named():
    seqs = [np.zeros((3, 2)), np.zeros((4, 2))]
    seqs[1][2, 0] = np.nan
    with pytest.raises(ShapeError, match=r"modality 'audio' contains NaN at sample 1, index \(2, 0\)"):
        MultimodalDataset({"audio": seqs})


def test_one_dimensional_modality_explained():
    with pytest.raises(ShapeError, match=r"modality 'x': expected an array of shape \(n_samples, n_features\), got a 1-D"):
        MultimodalDataset({"x": np.zeros(5)})


def test_spec_inference_subset_select():
    ds = MultimodalDataset({"v": np.zeros((4, 3)), "s": [np.zeros((t, 2)) for t in (1, 2, 3, 4)], "i": np.zeros((4, 1, 5, 5))})
    assert ds.specs["v"] == ModalitySpec("v", "vector", (3,))
    assert ds.specs["s"].variable_length and ds.specs["s"].dim == 2
    assert ds.specs["i"].kind == "image"
    sub = ds.subset([3, 1]).select(["s"])
    assert [x.shape[0] for x in sub.modalities["s"]] == [4, 2] and sub.ids == [3, 1]


def test_pad_sequences_and_collate_masks():
    seqs = [torch.arange(2.0).reshape(2, 1), torch.arange(4.0).reshape(4, 1)]
    padded, lengths, mask = pad_sequences(seqs)
    assert padded[0, :, 0].tolist() == [0, 1, 0, 0] and lengths.tolist() == [2, 4]
    assert mask.tolist() == [[True, True, False, False], [True] * 4]
    ds = MultimodalDataset({"s": [s.numpy() for s in seqs], "v": np.ones((2, 3))}, np.array([0, 1]),
                           present={"v": np.array([True, False])})
    batch = collate([ds[0], ds[1]])
    assert batch.lengths["s"].tolist() == [2, 4] and "v" not in batch.lengths
    assert batch.present["v"].tolist() == [True, False]
    torch.testing.assert_close(batch["s"], padded)


def test_batch_unknown_modality_and_drop():
    b = Batch({"a": torch.ones(2, 3)}, torch.tensor([0, 1]))
    with pytest.raises(ModalityError, match=r"unknown modality 'z'; this batch has \['a'\]"):
        b["z"]
    d = b.drop("a")
    assert d["a"].abs().sum() == 0 and d.present["a"].tolist() == [False, False]
    assert b["a"].sum() == 6  # original untouched


def test_stratified_split_matches_multibench_protocol():
    from sklearn.model_selection import train_test_split

    y = np.repeat(np.arange(10), 200)
    s = stratified_split(y, seed=3)
    idx = np.arange(2000)
    rest, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=3)
    train, val = train_test_split(rest, test_size=0.25, stratify=y[rest], random_state=3)
    for ours, theirs in ((s.train, train), (s.val, val), (s.test, test)):
        np.testing.assert_array_equal(ours, np.sort(theirs))
    assert len(set(s.train) | set(s.val) | set(s.test)) == 2000
    np.testing.assert_array_equal(np.bincount(y[s.test]), np.full(10, 40))


def test_standardizer_uses_train_statistics_only():
    train, test = small(10), small(10).map_modalities(lambda m, v: v + 5)
    st = Standardizer().fit(train)
    z = st.transform(test).modalities["a"]
    expected = (test.modalities["a"] - train.modalities["a"].mean(0)) / train.modalities["a"].std(0)
    np.testing.assert_allclose(z, expected, rtol=1e-5)


def test_index_loader_is_a_seeded_permutation_per_epoch():
    ds = small(10)
    loader = IndexBatchLoader(ds, 4, shuffle=True, seed=1)
    loader.set_epoch(0)
    first = [i for b in loader for i in b.ids]
    again = [i for b in loader for i in b.ids]
    loader.set_epoch(1)
    second = [i for b in loader for i in b.ids]
    assert sorted(first) == list(range(10)) and first == again and first != second
    assert len(loader) == 3 and [len(b) for b in loader] == [4, 4, 2]
    b = next(iter(IndexBatchLoader(ds, 10)))
    torch.testing.assert_close(b["a"], torch.as_tensor(ds.modalities["a"], dtype=torch.float32))
    assert b.target.dtype == torch.long


def test_make_loader_pads_variable_length():
    ds = MultimodalDataset({"s": [np.ones((t, 2)) for t in (1, 3)]}, np.array([0, 1]))
    batch = next(iter(make_loader(ds, 2)))
    assert batch["s"].shape == (2, 3, 2) and batch.mask["s"].sum().item() == 4
