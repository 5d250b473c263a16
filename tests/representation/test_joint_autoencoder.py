"""Ngiam et al. (2011) multimodal autoencoder: cross-modal reconstruction on mfeat."""

import numpy as np
import pytest
import torch

from polymodal.data import load_dataset
from polymodal.data.splits import stratified_split
from polymodal.errors import ModalityError, ShapeError
from polymodal.representation.joint import MultimodalAutoencoder


@pytest.fixture(scope="module")
def views():
    ds = load_dataset("mfeat")
    sp = stratified_split(ds.target, val_size=0.2, test_size=0.2, seed=0)
    out = {}
    for v in ("fac", "pix"):
        X = np.asarray(ds.modalities[v])
        m, s = X[sp.train].mean(0), X[sp.train].std(0)
        s[s == 0] = 1
        out[v] = ((X[sp.train] - m) / s, (X[sp.test] - m) / s)
    return out


def test_reconstructs_a_removed_view_better_than_mean_imputation(views):
    torch.manual_seed(0)
    ae = MultimodalAutoencoder({"fac": 216, "pix": 240}, hidden=128, shared=64)
    ae.fit({v: views[v][0] for v in views}, epochs=20, seed=0)
    test = {v: views[v][1] for v in views}
    for missing, present in (("pix", "fac"), ("fac", "pix")):
        rec = ae.reconstruct({present: test[present]})[missing]
        ae_mse = float(((rec - test[missing]) ** 2).mean())
        mean_mse = float((test[missing] ** 2).mean())  # train mean = 0 after standardisation
        print(f"reconstruct {missing} from {present}: AE MSE {ae_mse:.3f}, mean imputation {mean_mse:.3f}")
        assert ae_mse < 0.6 * mean_mse
    # passing the view with present=False is the same as leaving it out
    gone = ae.reconstruct(test, present={"pix": np.zeros(len(test["pix"]), bool)})
    np.testing.assert_allclose(gone["pix"], ae.reconstruct({"fac": test["fac"]})["pix"], rtol=1e-6)


def test_augmentation_shows_single_modalities_at_the_requested_rate():
    ae = MultimodalAutoencoder({"a": 2, "b": 3}, hidden=4, shared=2)
    seen = []
    original = ae.fuse

    def spy(features, present):
        seen.append(torch.stack([present["a"], present["b"]], 1))
        return original(features, present)

    ae.fuse = spy
    rng = np.random.default_rng(0)
    ae.fit({"a": rng.normal(size=(3000, 2)), "b": rng.normal(size=(3000, 3))}, epochs=1, batch_size=500)
    p = torch.cat(seen).float()
    assert p.sum(1).min() >= 1  # never both missing
    single = (p.sum(1) == 1).float().mean().item()
    assert abs(single - 2 / 3) < 0.03
    assert abs(p[:, 0].mean().item() - 2 / 3) < 0.03  # each modality present in 1/3 + 1/3


def test_errors_name_modality_and_shape():
    ae = MultimodalAutoencoder({"a": 2, "b": 3}, hidden=4, shared=2)
    with pytest.raises(ModalityError, match="'c'"):
        ae.transform({"c": np.zeros((2, 2))})
    with pytest.raises(ShapeError, match=r"'b': expected shape \(2, 3\), got \(2, 4\)"):
        ae.transform({"a": np.zeros((2, 2)), "b": np.zeros((2, 4))})
    with pytest.raises(ModalityError, match="fit needs every modality"):
        ae.fit({"a": np.zeros((4, 2))})
