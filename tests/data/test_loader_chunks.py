"""IndexBatchLoader gathers many batches' rows at once; each batch must equal indexing it alone."""

import numpy as np
import pytest
import torch

from polymodal.data import IndexBatchLoader, MultimodalDataset
from polymodal.data import loader as loader_module
from polymodal.data.loader import epoch_permutation


def _dataset(n=23):
    rng = np.random.default_rng(0)
    present = rng.random(n) > 0.3
    image = rng.normal(size=(n, 2, 3))
    image[~present] = 0.0
    return MultimodalDataset({"a": rng.normal(size=(n, 5)), "img": image}, rng.integers(0, 3, n),
                             present={"img": present})


@pytest.mark.parametrize("gather_bytes", [1, 200, 1000, 4 << 20])  # one batch, a few, all in one chunk
@pytest.mark.parametrize("batch_size, drop_last", [(4, False), (4, True), (5, False), (23, False), (30, False)])
def test_chunked_batches_equal_indexing_each_batch_alone(monkeypatch, gather_bytes, batch_size, drop_last):
    monkeypatch.setattr(loader_module, "GATHER_BYTES", gather_bytes)
    ds = _dataset()
    loader = IndexBatchLoader(ds, batch_size, shuffle=True, seed=3, drop_last=drop_last)
    loader.set_epoch(2)
    order = epoch_permutation(len(ds), 3, 2, True)
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    expected = [order[s:s + batch_size] for s in range(0, stop, batch_size)]
    batches = list(loader)
    assert len(batches) == len(expected) == len(loader)
    for batch, index in zip(batches, expected):
        assert batch.ids == index.tolist()
        for m, values in ds.modalities.items():
            assert torch.equal(batch.inputs[m], torch.as_tensor(values[index.numpy()], dtype=torch.float32))
        assert torch.equal(batch.present["img"], torch.as_tensor(ds.present["img"][index.numpy()]))
        assert torch.equal(batch.target, torch.as_tensor(ds.target[index.numpy()]).long())


def test_changing_a_batch_in_place_leaves_the_dataset_and_later_epochs_alone():
    ds = _dataset()
    loader = IndexBatchLoader(ds, 4)
    first = [b.inputs["a"].clone() for b in loader]
    for batch in loader:
        batch.inputs["a"].fill_(7.0)
    assert all(torch.equal(a, b.inputs["a"]) for a, b in zip(first, loader))
