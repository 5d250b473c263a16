"""Cross-modal hashing (CCA-ITQ): ITQ monotonicity and orthogonality, Hamming
distance vs brute force, mAP vs scikit-learn, retrieval quality on mfeat."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from polymodal.errors import ConfigError, ShapeError
from polymodal.metrics.retrieval import mean_average_precision, retrieval_recall_at_k
from polymodal.representation.hashing import (
    CCAITQ,
    hamming_distance,
    hamming_search,
    itq,
    pack_codes,
)


def correlated(n=400, p=12, q=9, d=6, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    X = Z @ rng.normal(size=(d, p)) + 0.3 * rng.normal(size=(n, p))
    Y = Z @ rng.normal(size=(d, q)) + 0.3 * rng.normal(size=(n, q))
    return X, Y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_itq_loss_never_increases_and_rotation_orthogonal(seed):
    V = np.random.default_rng(seed).normal(size=(300, 8)) * np.linspace(3, 0.5, 8)
    V -= V.mean(0)
    res = itq(V, n_iter=40, seed=seed)
    assert np.all(np.diff(res.losses) <= 1e-8 * res.losses[0])
    assert res.losses[-1] < res.losses[0]
    R = res.rotation
    np.testing.assert_allclose(R @ R.T, np.eye(8), atol=1e-10)
    np.testing.assert_allclose(R.T @ R, np.eye(8), atol=1e-10)
    # recorded loss is the quantisation loss of the returned rotation
    VR = V @ R
    np.testing.assert_allclose(res.losses[-1], np.sum((np.where(VR >= 0, 1, -1) - VR) ** 2))


def test_itq_beats_random_rotations():
    """The learned rotation quantises better than any of 200 random rotations."""
    rng = np.random.default_rng(0)
    V = rng.normal(size=(500, 6)) * np.array([4, 2, 1, 1, 0.5, 0.3])
    loss = itq(V, n_iter=50).losses[-1]
    for _ in range(200):
        Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
        VQ = V @ Q
        assert loss <= np.sum((np.where(VQ >= 0, 1, -1) - VQ) ** 2)


@pytest.mark.parametrize("n_bits", [5, 8, 32, 64, 70, 300])
def test_hamming_equals_brute_force(n_bits):
    rng = np.random.default_rng(n_bits)
    A = rng.random((37, n_bits)) > 0.5
    B = rng.random((300, n_bits)) > 0.5
    brute = (A[:, None, :] != B[None, :, :]).sum(axis=2)
    D = hamming_distance(pack_codes(A), pack_codes(B), chunk=8)
    assert D.dtype == (np.uint8 if n_bits <= 255 else np.uint16)
    np.testing.assert_array_equal(D, brute)


def test_hamming_search_equals_stable_brute_force():
    rng = np.random.default_rng(3)
    A = rng.random((20, 24)) > 0.5
    B = rng.random((500, 24)) > 0.5
    brute = (A[:, None, :] != B[None, :, :]).sum(axis=2)
    idx, dist = hamming_search(pack_codes(A), pack_codes(B), k=15)
    for i in range(20):
        ref = sorted(range(500), key=lambda j: (brute[i, j], j))[:15]
        assert idx[i].tolist() == ref
        np.testing.assert_array_equal(dist[i], brute[i, ref])
    with pytest.raises(ConfigError, match="k must be"):
        hamming_search(pack_codes(A), pack_codes(B), k=501)


def test_pack_codes_accepts_pm1_and_bool():
    rng = np.random.default_rng(0)
    B = rng.random((10, 13)) > 0.5
    np.testing.assert_array_equal(pack_codes(B), pack_codes(np.where(B, 1, -1)))
    np.testing.assert_array_equal(np.unpackbits(pack_codes(B), axis=1)[:, :13].astype(bool), B)


def test_map_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    S = rng.integers(0, 6, size=(25, 40)).astype(float)  # many ties, like Hamming
    rel = rng.random((25, 40)) < 0.3
    rel[0] = False  # skipped query
    ref = np.mean([average_precision_score(rel[i], S[i]) for i in range(1, 25)])
    assert mean_average_precision(S, rel) == pytest.approx(ref, rel=1e-12)
    S2 = rng.normal(size=(25, 40))
    ref2 = np.mean([average_precision_score(rel[i], S2[i]) for i in range(1, 25)])
    assert mean_average_precision(S2, rel) == pytest.approx(ref2, rel=1e-12)


def test_codes_are_signs_of_rotated_cca_projection():
    X, Y = correlated()
    h = CCAITQ(n_bits=6, reg=1e-3, power=1.0, n_iter=20).fit(X, Y)
    Xc, Yc = h.cca_.transform(X, Y)
    rho = h.cca_.objective_values_  # the regularised eigenvalues (Gong et al.)
    np.testing.assert_allclose(h.embed_x(X), (Xc * rho) @ h.rotation_, atol=1e-10)
    np.testing.assert_allclose(h.embed_y(Y), (Yc * rho) @ h.rotation_, atol=1e-10)
    np.testing.assert_array_equal(h.encode_y(Y, packed=False), (Yc * rho) @ h.rotation_ >= 0)
    # paired items get close codes: the true pair is far nearer than a random one
    D = hamming_distance(h.encode_x(X), h.encode_y(Y)).astype(float)
    assert D.diagonal().mean() < 0.3 * D.mean()


def test_mfeat_hash_map_close_to_real_valued():
    from polymodal.data import load_dataset

    d = load_dataset("mfeat")
    X, Y, y = d.modalities["pix"].astype(float), d.modalities["fou"].astype(float), d.target
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1000], perm[1000:]
    rel = y[te][:, None] == y[tr][None, :]
    h = CCAITQ(n_bits=32, reg=1e-2).fit(X[tr], Y[tr])
    D = hamming_distance(h.encode_x(X[te]), h.encode_y(Y[tr])).astype(float)
    hash_map = mean_average_precision(-D, rel)
    ex, ey = h.embed_x(X[te]), h.embed_y(Y[tr])
    cos = (ex / np.linalg.norm(ex, axis=1, keepdims=True)) @ (ey / np.linalg.norm(ey, axis=1, keepdims=True)).T
    real_map = mean_average_precision(cos, rel)
    assert hash_map > 0.5 and hash_map > 0.85 * real_map  # chance is 0.1
    # R@1 counts Hamming ties pessimistically (all tied wrong items rank first)
    assert retrieval_recall_at_k(-D, rel, ks=(1,)).recall[1] > 55.0


def test_errors_name_the_argument():
    with pytest.raises(ConfigError, match="n_iter"):
        itq(np.ones((4, 2)), n_iter=0)
    with pytest.raises(ShapeError, match="V must be a 2-D array"):
        itq(np.ones(4))
    with pytest.raises(ShapeError, match="same n_bytes"):
        hamming_distance(np.zeros((2, 1), np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(ShapeError, match="packed uint8"):
        hamming_distance(np.zeros((2, 8)), np.zeros((2, 8)))
    with pytest.raises(ConfigError, match="not fitted"):
        CCAITQ().encode_x(np.ones((2, 2)))
    X, Y = correlated(n=50)
    with pytest.raises(ShapeError, match="n_samples"):
        CCAITQ(n_bits=2).fit(X, Y[:10])
    with pytest.raises(ShapeError, match="Y must have 9 features"):
        CCAITQ(n_bits=2).fit(X, Y).encode_y(X)
