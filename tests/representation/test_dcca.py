"""Deep CCA objective: closed-form value, gradcheck (also at repeated eigenvalues),
no NaN at small batches; DCCA/DCCAE modules and the final linear-CCA protocol."""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pytest
import torch
from scipy.linalg import eigh, svd
from torch import nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from sklearn.exceptions import NotFittedError

from polymodal.representation import (
    CCA, DCCA, DCCAE, DCCAENetwork, DCCANetwork, cca_correlation, cca_loss, sym_inv_sqrt,
)


def np_correlation(h1, h2, reg, k):
    """Independent numpy evaluation of the regularised DCCA objective."""
    m = len(h1)
    h1, h2 = h1 - h1.mean(0), h2 - h2.mean(0)
    s11 = h1.T @ h1 / (m - 1) + reg * np.eye(h1.shape[1])
    s22 = h2.T @ h2 / (m - 1) + reg * np.eye(h2.shape[1])

    def isq(A):
        w, V = eigh(A)
        return (V / np.sqrt(w)) @ V.T

    return svd(isq(s11) @ (h1.T @ h2 / (m - 1)) @ isq(s22), compute_uv=False)[:k].sum()


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("k", [None, 2])
@pytest.mark.parametrize("reg", [0.0, 1e-2])
def test_value_matches_numpy_and_linear_cca(k, reg):
    h1, h2 = rand(40, 4), rand(40, 3, seed=1) + 0.5 * rand(40, 4)[:, :3]
    got = cca_correlation(h1, h2, n_components=k, reg=reg, eps=1e-30).item()
    assert got == pytest.approx(np_correlation(h1.numpy(), h2.numpy(), reg, k or 3), abs=1e-10)
    if reg == 0.0:
        kk = k or 3
        cca = CCA(n_components=kk).fit(h1.numpy(), h2.numpy())
        assert got == pytest.approx(cca.canonical_correlations_.sum(), abs=1e-10)
    assert cca_loss(h1, h2, k, reg, 1e-30).item() == pytest.approx(-got, abs=1e-12)


def test_sym_inv_sqrt_gradcheck_including_repeated_eigenvalues():
    A = rand(5, 5)
    A = A @ A.T + torch.eye(5, dtype=torch.float64)
    Q = torch.linalg.qr(rand(5, 5, seed=3))[0]
    B = Q @ torch.diag(torch.tensor([2.0, 2.0, 2.0, 3.0, 3.0], dtype=torch.float64)) @ Q.T
    for M in (A, B):
        M = M.clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda a: sym_inv_sqrt((a + a.T) / 2), (M,))
        np.testing.assert_allclose(
            (sym_inv_sqrt(M) @ sym_inv_sqrt(M) @ M).detach().numpy(), np.eye(5), atol=1e-10)


@pytest.mark.parametrize("k", [None, 2])
def test_correlation_gradcheck(k):
    h1 = rand(12, 4).requires_grad_()
    h2 = rand(12, 3, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: cca_correlation(a, b, k, reg=1e-2), (h1, h2))


@pytest.mark.parametrize("batch", [6, 8, 9])
def test_no_nan_when_batch_close_to_output_dim(batch):
    torch.manual_seed(0)
    enc = {"a": nn.Linear(10, 8), "b": nn.Linear(7, 8)}
    model = DCCANetwork(enc, reg=1e-3)
    x = {"a": torch.randn(batch, 10), "b": torch.randn(batch, 7)}
    loss = model.loss(x)
    loss.backward()
    assert torch.isfinite(loss)
    for p in model.parameters():
        assert torch.isfinite(p.grad).all()
    # the repeated eigenvalue reg (rank-deficient batch) stays finite in float64 too
    h = rand(batch, 8, seed=5).requires_grad_()
    cca_loss(h, rand(batch, 8, seed=6), reg=1e-3).backward()
    assert torch.isfinite(h.grad).all()


def test_dccae_loss_is_correlation_plus_lambda_reconstruction():
    torch.manual_seed(0)
    enc = {"a": nn.Linear(5, 3), "b": nn.Linear(4, 3)}
    dec = {"a": nn.Linear(3, 5), "b": nn.Linear(3, 4)}
    x = {"a": torch.randn(20, 5), "b": torch.randn(20, 4)}
    model = DCCAENetwork(enc, dec, lam=0.7)
    h = model(x)
    corr = cca_loss(h["a"], h["b"], None, 1e-3)
    rec = sum(((dec[m](h[m]) - x[m]) ** 2).sum(1).mean() for m in "ab")
    torch.testing.assert_close(model.loss(x), corr + 0.7 * rec)
    torch.testing.assert_close(DCCAENetwork(enc, dec, lam=0.0).loss(x), DCCANetwork(enc).loss(x))


def _quiet():
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def test_fit_protocol_final_linear_cca():
    _quiet()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    Y = (X[:, :3] ** 2 + 0.1 * rng.normal(size=(64, 3))).astype(np.float32)
    enc = {"x": nn.Linear(4, 2), "y": nn.Linear(3, 2)}
    before = enc["x"].weight.detach().clone()
    model = DCCA(n_components=2, encoders=[enc["x"], enc["y"]], max_epochs=2, batch_size=32,
                 random_state=0).fit([X, Y])
    assert torch.equal(before, enc["x"].weight)  # the given encoder is copied, not trained in place
    assert not torch.equal(before, model.network_.encoders["view0"].weight)
    hx, hy = model.features([X, Y])
    ref = CCA(n_components=2, reg=1e-3).fit(hx, hy)
    np.testing.assert_allclose(model.linear_cca_.canonical_correlations_,
                               ref.canonical_correlations_, atol=1e-12)
    out = model.transform([X, Y])
    np.testing.assert_allclose(out[0], ref.transform(hx), atol=1e-10)
    np.testing.assert_allclose(model.transform({"x": X, "y": Y})[0], out[0])  # the old dict form


def test_errors():
    with pytest.raises(ModalityError, match=re.escape("DCCANetwork needs exactly 2 modalities; got ['a']")):
        DCCANetwork({"a": nn.Linear(2, 2)})
    model = DCCANetwork({"a": nn.Linear(2, 2), "b": nn.Linear(2, 2)})
    with pytest.raises(ModalityError, match=re.escape(
        "batch is missing modality 'b'; expected ['a', 'b'], got ['a', 'c']"
    )):
        model({"a": torch.randn(3, 2), "c": torch.randn(3, 2)})
    with pytest.raises(ShapeError, match=re.escape(
        "h1 and h2 must be 2-D (batch, dim) with the same batch size; got shapes (4, 2) and (3, 2)"
    )):
        cca_loss(torch.randn(4, 2), torch.randn(3, 2))
    with pytest.raises(ConfigError, match=re.escape("n_components must be in [1, 2]; got 3")):
        cca_loss(torch.randn(4, 2), torch.randn(4, 2), n_components=3)
    with pytest.raises(NotFittedError):
        DCCA().transform([np.ones((3, 2)), np.ones((3, 2))])
    with pytest.raises(ModalityError, match="DCCA needs exactly 2 views; got 3"):
        DCCA().fit([np.ones((3, 2))] * 3)
    with pytest.raises(ModalityError, match=re.escape(
        "decoders must have the encoders' modalities ['a', 'b']; got ['a']"
    )):
        DCCAENetwork({"a": nn.Linear(2, 2), "b": nn.Linear(2, 2)}, {"a": nn.Linear(2, 2)})


def nonlinear_views(n, seed):
    """Views are nonlinear functions of a shared latent z: x = R [z, noise], y = [z^2, noise]."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, size=(n, 2))
    R = np.linalg.qr(np.random.default_rng(99).normal(size=(4, 4)))[0]
    X = np.hstack([z, 0.3 * rng.normal(size=(n, 2))]) @ R
    Y = np.hstack([z**2 + 0.05 * rng.normal(size=(n, 2)), 0.3 * rng.normal(size=(n, 2))])
    return X.astype(np.float32), Y.astype(np.float32)


def total_test_correlation(A, B):
    return sum(np.corrcoef(A[:, i], B[:, i])[0, 1] for i in range(A.shape[1]))


@pytest.mark.parametrize("cls", [DCCA, DCCAE])
def test_dcca_beats_linear_cca_on_nonlinear_views(cls):
    """Views related through z -> z^2: linear CCA finds ~0 test correlation, DCCA
    (and DCCAE, its autoencoding variant) close to the maximum 2 (> linear + 1.5)."""
    _quiet()
    torch.manual_seed(0)
    Xtr, Ytr = nonlinear_views(500, 0)
    Xte, Yte = nonlinear_views(1000, 1)

    def mlp(p, q=2):
        return nn.Sequential(nn.Linear(p, 32), nn.Tanh(), nn.Linear(32, q))

    enc = {"x": mlp(4), "y": mlp(4)}
    kw = dict(n_components=2, encoders=[enc["x"], enc["y"]], max_epochs=100, batch_size=500, lr=2e-2,
              random_state=0)
    model = DCCA(**kw) if cls is DCCA else DCCAE(decoders=[mlp(2, 4), mlp(2, 4)], **kw)
    model.fit([Xtr, Ytr])
    out = model.transform([Xte, Yte])
    deep = total_test_correlation(out[0], out[1])
    lin = total_test_correlation(*CCA(n_components=2).fit(Xtr, Ytr).transform(Xte, Yte))
    print(f"total test correlation: {cls.__name__} {deep:.3f}, linear CCA {lin:.3f}")
    assert deep > lin + 1.5


def test_transform_of_a_row_does_not_depend_on_its_batch():
    # float32 inference gave a row's projection ~1e-6 apart in a batch of 40 and alone (BLAS blocking, amplified
    # by the final CCA's whitening), which failed scikit-learn's subset-invariance check at random
    _quiet()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    Y = X[:, :4] ** 2 + 0.1 * rng.normal(size=(120, 4))
    model = DCCA(n_components=2, hidden_sizes=(16,), max_epochs=3, random_state=0).fit([X, Y])
    full = model.transform([X, Y])
    for start in range(0, 120, 17):
        part = model.transform([X[start:start + 3], Y[start:start + 3]])
        for z, z_full in zip(part, full):
            np.testing.assert_allclose(z, z_full[start:start + 3], rtol=0, atol=1e-12)
