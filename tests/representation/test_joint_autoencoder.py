"""Ngiam et al. (2011) multimodal autoencoder: cross-modal reconstruction on mfeat."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from polymodal.data import load_dataset
from polymodal.data.splits import stratified_split
from polymodal.errors import ModalityError, ShapeError
from polymodal.representation.joint import MultimodalAutoencoder, MultimodalAutoencoderNetwork


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
    ae = MultimodalAutoencoder(hidden=128, shared=64, max_epochs=20, random_state=0)
    ae.fit([views["fac"][0], views["pix"][0]])  # view 0 = fac, view 1 = pix
    test = [views["fac"][1], views["pix"][1]]
    for missing, present in ((1, 0), (0, 1)):
        given = [test[0], None] if present == 0 else [None, test[1]]
        rec = ae.reconstruct(given)[missing]
        ae_mse = float(((rec - test[missing]) ** 2).mean())
        mean_mse = float((test[missing] ** 2).mean())  # train mean = 0 after standardisation
        print(f"reconstruct view {missing} from view {present}: AE MSE {ae_mse:.3f}, mean imputation {mean_mse:.3f}")
        assert ae_mse < 0.6 * mean_mse
    # passing the view with present=False is the same as leaving it out
    gone = ae.reconstruct(test, present=[None, np.zeros(len(test[1]), bool)])
    np.testing.assert_allclose(gone[1], ae.reconstruct([test[0], None])[1], rtol=1e-6)
    # the {name: array} form is the same model
    named = MultimodalAutoencoder(hidden=128, shared=64, max_epochs=1, random_state=0)
    seq = MultimodalAutoencoder(hidden=128, shared=64, max_epochs=1, random_state=0)
    small = [views["fac"][0][:200], views["pix"][0][:200]]
    np.testing.assert_array_equal(named.fit({"fac": small[0], "pix": small[1]}).transform({"fac": small[0]}),
                                  seq.fit(small).transform([small[0], None]))


def test_augmentation_shows_single_modalities_at_the_requested_rate(monkeypatch):
    seen = []
    original = MultimodalAutoencoderNetwork.fuse

    def spy(self, features, present):
        seen.append(torch.stack([present["view0"], present["view1"]], 1))
        return original(self, features, present)

    monkeypatch.setattr(MultimodalAutoencoderNetwork, "fuse", spy)
    rng = np.random.default_rng(0)
    MultimodalAutoencoder(hidden=4, shared=2, max_epochs=1, batch_size=500, random_state=0).fit(
        [rng.normal(size=(3000, 2)), rng.normal(size=(3000, 3))])
    p = torch.cat(seen).float()
    assert p.sum(1).min() >= 1  # never both missing
    single = (p.sum(1) == 1).float().mean().item()
    assert abs(single - 2 / 3) < 0.03
    assert abs(p[:, 0].mean().item() - 2 / 3) < 0.03  # each modality present in 1/3 + 1/3


def test_errors_name_modality_and_shape():
    ae = MultimodalAutoencoder(hidden=4, shared=2, max_epochs=1, random_state=0)
    with pytest.raises(NotFittedError):
        ae.transform({"a": np.zeros((2, 2))})
    ae.fit({"a": np.zeros((4, 2)), "b": np.zeros((4, 3))})
    with pytest.raises(ModalityError, match="'c'"):
        ae.transform({"c": np.zeros((2, 2))})
    with pytest.raises(ShapeError, match=r"'b': expected shape \(2, 3\), got \(2, 4\)"):
        ae.transform({"a": np.zeros((2, 2)), "b": np.zeros((2, 4))})
    with pytest.raises(ModalityError, match="fit needs every modality"):
        ae.fit([np.zeros((4, 2)), None])
