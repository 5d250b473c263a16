"""Autoencoders: linear tied AE = PCA, corruption statistics, denoising, greedy stacking."""

import copy

import numpy as np
import pytest
import torch

from polymodal.encoders.autoencoder import (
    DenoisingAutoencoder,
    DenoisingAutoencoderNetwork,
    StackedAutoencoder,
    StackedAutoencoderNetwork,
    TiedAutoencoder,
    TiedAutoencoderNetwork,
    corrupt,
)
from sklearn.exceptions import NotFittedError

from polymodal.errors import ConfigError, ShapeError
from polymodal.core.registry import registered


def _low_rank(n=400, d=8, k=2, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    scales = np.array([3.0, 2.0] + [noise] * (d - 2))
    return (rng.normal(size=(n, d)) * scales) @ basis.T + 1.0


def test_linear_tied_autoencoder_reaches_the_pca_optimum():
    X = _low_rank()
    est = TiedAutoencoder(hidden=2, activation="linear", max_epochs=150, lr=1e-2, batch_size=50, random_state=0).fit(X)
    ae = est.network_
    Xc = X - X.mean(0)
    eig = np.sort(np.linalg.eigvalsh(Xc.T @ Xc / len(X)))[::-1]
    pca_error = eig[2:].sum()  # mean squared residual of the best rank-2 affine reconstruction
    assert est.reconstruction_error(X) == pytest.approx(pca_error, rel=0.05)
    # the code spans the principal subspace: principal angles ~ 0
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    q = np.linalg.qr(ae.weight.detach().double().numpy().T)[0]
    cosines = np.linalg.svd(vt[:2] @ q, compute_uv=False)
    assert cosines.min() > 0.99


def test_tied_weights_are_one_parameter_and_gradients_are_exact():
    ae = TiedAutoencoderNetwork(5, 3, activation="tanh").double()
    assert sum(p.numel() for p in ae.parameters()) == 3 * 5 + 3 + 5
    x = torch.randn(4, 5, dtype=torch.float64)
    w = ae.weight
    assert torch.autograd.gradcheck(
        lambda W: (torch.tanh(x @ W.T + ae.bias) @ W + ae.decoder_bias), (w.detach().clone().requires_grad_(),))
    torch.testing.assert_close(ae.reconstruct(x), torch.tanh(x @ w.T + ae.bias) @ w + ae.decoder_bias)


def test_corruption_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 250, generator=g) + 5.0
    n = x.numel()
    m = corrupt(x, "masking", 0.3, g)
    assert abs((m == 0).float().mean().item() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    gauss = corrupt(x, "gaussian", 0.5, g) - x
    assert abs(gauss.std().item() - 0.5) < 0.005 and abs(gauss.mean().item()) < 0.005
    sp = corrupt(x, "salt_pepper", 0.2, g)
    changed = sp != x
    assert abs(changed.float().mean().item() - 0.2) < 0.005
    lo, hi = x.min(0).values.expand_as(x), x.max(0).values.expand_as(x)
    assert torch.all((sp[changed] == lo[changed]) | (sp[changed] == hi[changed]))
    assert torch.equal(corrupt(x, "gaussian", 0.0), x)
    with pytest.raises(ConfigError, match="noise"):
        corrupt(x, "dropout", 0.1)


def test_denoising_autoencoder_removes_noise_and_is_deterministic_in_eval():
    data = _low_rank(n=900)
    X = data[:600]
    dae = DenoisingAutoencoder(hidden=2, activation="linear", noise="gaussian", noise_level=0.5, max_epochs=60, lr=5e-3,
                               random_state=0).fit(X).network_
    x = torch.as_tensor(data[600:], dtype=torch.float32)
    noisy = corrupt(x, "gaussian", 0.5, torch.Generator().manual_seed(1))
    with torch.no_grad():
        denoised = dae.reconstruct(noisy)
    assert ((denoised - x) ** 2).sum(1).mean() < 0.5 * ((noisy - x) ** 2).sum(1).mean()
    torch.testing.assert_close(dae(x), dae(x))  # no corruption outside fit


def test_stacked_pretraining_is_greedy_and_fine_tuning_helps():
    X = _low_rank(n=300)
    torch.manual_seed(0)
    sae = StackedAutoencoderNetwork(8, [6, 3], activation="tanh")
    assert [layer.noise_level for layer in sae.layers] == [0.1, 0.2]  # increasing by layer
    first, second = copy.deepcopy(sae.layers[0]), copy.deepcopy(sae.layers[1])
    sae.pretrain(X, max_epochs=10, seed=3)
    first.fit_reconstruction(X, max_epochs=10, seed=3)  # layer 1 = a DAE fitted alone on X
    for a, b in zip(first.parameters(), sae.layers[0].parameters()):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        codes = first.encode(torch.as_tensor(X, dtype=torch.float32))
    second.fit_reconstruction(codes, max_epochs=10, seed=4)  # layer 2 = a DAE fitted on layer 1's codes
    for a, b in zip(second.parameters(), sae.layers[1].parameters()):
        torch.testing.assert_close(a, b)
    before = sae.reconstruction_error(X)
    sae.fine_tune(X, max_epochs=20)
    assert sae.reconstruction_error(X) < 0.8 * before
    assert sae(torch.zeros(2, 8)).shape == (2, 3) and sae.out_features == 3
    # the estimator = the same network (seeded init) pretrained then fine-tuned with the same seeds
    torch.manual_seed(0)
    net = StackedAutoencoderNetwork(8, [6, 3], activation="tanh").pretrain(X, max_epochs=4, seed=0)
    net.fine_tune(X, max_epochs=3, seed=0)
    est = StackedAutoencoder(hidden=[6, 3], activation="tanh", max_epochs=4, fine_tune_epochs=3, random_state=0).fit(X)
    with torch.no_grad():
        np.testing.assert_allclose(est.transform(X), net(torch.as_tensor(X, dtype=torch.float32)).double().numpy(),
                                   rtol=1e-6)


def test_registered_and_bad_input():
    enc = registered("encoder")
    assert {"tied_autoencoder", "denoising_autoencoder", "stacked_autoencoder"} <= set(enc)
    with pytest.raises(ShapeError, match=r"expected shape \(n, 8\), got \(5, 7\)"):
        TiedAutoencoderNetwork(8, 2).fit_reconstruction(np.zeros((5, 7)))
    with pytest.raises(ConfigError, match="noise_levels: expected 2"):
        StackedAutoencoderNetwork(8, [4, 2], noise_levels=[0.1])
    with pytest.raises(ConfigError, match="noise_levels: expected 2"):
        StackedAutoencoder(hidden=[4, 2], noise_levels=[0.1]).fit(np.zeros((5, 8)))
    with pytest.raises(NotFittedError):
        TiedAutoencoder().transform(np.zeros((5, 8)))
