"""MCCA / GCCA: reduce to CCA for two views, match brute-force references for three."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.linalg import eigh

from polymodal.errors import ModalityError, ShapeError
from polymodal.representation import CCA, GCCA, MCCA


def views(m=3, n=300, dims=(6, 5, 4), seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    return [Z @ rng.normal(size=(2, d)) + rng.normal(size=(n, d)) + i for i, d in
            zip(range(m), dims)]


def unit_cols(A):
    A = A - A.mean(0)
    return A / np.linalg.norm(A, axis=0)


def assert_same_up_to_sign(A, B, atol):
    A, B = unit_cols(A), unit_cols(B)
    A = A * np.sign((A * B).sum(0))
    np.testing.assert_allclose(A, B, atol=atol)


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_mcca_two_views_is_cca(reg):
    X, Y = views(m=2)
    cca = CCA(n_components=4, reg=reg).fit(X, Y)
    mcca = MCCA(n_components=4, reg=reg).fit([X, Y])
    np.testing.assert_allclose(mcca.canonical_correlations_, cca.canonical_correlations_,
                               atol=1e-10)
    np.testing.assert_allclose(mcca.objective_values_, cca.objective_values_, atol=1e-10)
    np.testing.assert_allclose(mcca.eigenvalues_, 1 + cca.objective_values_, atol=1e-10)
    for a, b in zip(mcca.transform([X, Y]), cca.transform(X, Y)):
        a = a * np.sign((a * b).sum(0))
        np.testing.assert_allclose(a, b, atol=1e-8)  # same scale: unit variance


def test_gcca_two_views_is_cca_up_to_scale():
    X, Y = views(m=2)
    cca = CCA(n_components=3).fit(X, Y)
    g = GCCA(n_components=3).fit([X, Y])
    for a, b in zip(g.transform([X, Y]), cca.transform(X, Y)):
        assert_same_up_to_sign(a, b, 1e-8)


def test_mcca_three_views_generalized_eigenproblem():
    V = views()
    Z = np.hstack(V)
    Z = (Z - Z.mean(0)) / Z.std(0, ddof=1)
    C = np.cov(Z.T)
    D = np.zeros_like(C)
    o = 0
    for v in V:
        d = v.shape[1]
        D[o:o + d, o:o + d] = C[o:o + d, o:o + d]
        o += d
    ref = eigh(C, D, eigvals_only=True)[::-1][:3]
    m = MCCA(n_components=3).fit(V)
    np.testing.assert_allclose(m.eigenvalues_, ref, atol=1e-10)
    # each view's components have unit variance
    for c in m.transform(V):
        np.testing.assert_allclose(c.var(0, ddof=1), 1.0, atol=1e-10)


def test_gcca_three_views_matches_n_by_n_maxvar():
    V = views(n=120)
    Vs = [(v - v.mean(0)) / v.std(0, ddof=1) for v in V]
    P = sum(v @ np.linalg.solve(v.T @ v, v.T) for v in Vs)
    w, G = np.linalg.eigh(P)
    w, G = w[::-1][:3], G[:, ::-1][:, :3]
    g = GCCA(n_components=3).fit(V)
    np.testing.assert_allclose(g.eigenvalues_, w, atol=1e-10)
    assert_same_up_to_sign(g.shared_components_, G, 1e-8)
    np.testing.assert_allclose(g.shared_components_.T @ g.shared_components_,
                               (len(G) - 1) * np.eye(3), atol=1e-8)
    # weights_ are the least-squares maps of each view onto G
    for v, W, c in zip(Vs, g.weights_, g.transform(V)):
        Wls = np.linalg.lstsq(v, g.shared_components_, rcond=None)[0]
        np.testing.assert_allclose(W, Wls, atol=1e-8)
        np.testing.assert_allclose(c, v @ Wls, atol=1e-8)


def test_errors():
    V = views()
    for est in (MCCA(), GCCA()):
        name = type(est).__name__
        with pytest.raises(ModalityError, match=re.escape(
            f"{name} needs at least 2 views; got 1 view(s)"
        )):
            est.fit(V[:1])
        with pytest.raises(ModalityError, match=re.escape(
            f"{name} expects views as a list of 2-D arrays; got ndarray"
        )):
            est.fit(V[0])
        with pytest.raises(ShapeError, match=re.escape(
            "views[2] must have the same number of samples as views[0] (300); got 299"
        )):
            est.fit([V[0], V[1], V[2][:299]])
        bad = V[1].copy()
        bad[0, 0] = np.nan
        with pytest.raises(ShapeError, match=re.escape("views[1] contains NaN or inf")):
            est.fit([V[0], bad])
        const = V[2].copy()
        const[:, 1] = 4.0
        with pytest.raises(ShapeError, match=re.escape(
            f"views[2] has 1 constant column(s) (variance 0, first at index 1), so its "
            f"covariance is singular and {name} with reg=0 is undefined"
        )):
            est.fit([V[0], V[1], const])
        with pytest.raises(ShapeError, match=re.escape("views[0] must be a 2-D array")):
            est.fit([V[0][:, 0], V[1]])
        est.fit(V)
        with pytest.raises(ShapeError, match=re.escape(
            f"views have [6, 5, 3] features, but {name} is expecting [6, 5, 4]"
        )):
            est.transform([V[0], V[1], V[2][:, :3]])


def mean_pairwise_correlation(comps):
    def corr(a, b):
        a, b = a - a.mean(0), b - b.mean(0)
        return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
    m = len(comps)
    return np.mean([corr(comps[i], comps[j]) for i in range(m) for j in range(i + 1, m)], axis=0)


def unit_dirs_match(A, B, atol):
    A, B = A / np.linalg.norm(A, axis=0), B / np.linalg.norm(B, axis=0)
    np.testing.assert_allclose(A * np.sign((A * B).sum(0)), B, atol=atol)


def regularised_blocks(V, c):
    """Cross blocks A of the covariance of the stacked views (zero diagonal blocks) and
    D = blockdiag((1-c) C_ii + c I) (cca-zoo's convention)."""
    C = np.cov(np.hstack(V).T)
    A, D = C.copy(), np.zeros_like(C)
    o = 0
    for v in V:
        d = v.shape[1]
        D[o:o + d, o:o + d] = (1 - c) * C[o:o + d, o:o + d] + c * np.eye(d)
        A[o:o + d, o:o + d] = 0.0
        o += d
    return A, D


# one convention for the family (cca-zoo's): within-view blocks (1-c) C_ii + c I, cross blocks
# unchanged; c = 0 is CCA, c = 1 is PLS
@pytest.mark.parametrize("c", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_mcca_regularised_matches_cca_zoo_and_eigenproblem(c):
    ZooMCCA = pytest.importorskip("cca_zoo.linear").MCCA
    V, k = views(seed=1), 3
    m = MCCA(n_components=k, reg=c, scale=False).fit(V)
    zoo = ZooMCCA(n_components=k, shrinkage=c, pca=False).fit(V)
    for W, Wz in zip(m.weights_, zoo.weights_):
        unit_dirs_match(W, Wz, 1e-8)
    comps = m.transform(V)
    np.testing.assert_allclose(m.canonical_correlations_, mean_pairwise_correlation(comps), atol=1e-10)
    # SUMCOR: (C - blockdiag(C_ii)) v = mu D v, written out; eigenvalues_ = 1 + mu
    A, D = regularised_blocks(V, c)
    mu = eigh(A, D, eigvals_only=True)[::-1][:k]
    np.testing.assert_allclose(m.eigenvalues_, 1 + mu, atol=1e-10)
    np.testing.assert_allclose(m.objective_values_, mu / (len(V) - 1), atol=1e-10)


@pytest.mark.parametrize("c", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_gcca_regularised_matches_cca_zoo_and_maxvar(c):
    ZooGCCA = pytest.importorskip("cca_zoo.linear").GCCA
    V, k = views(n=120, seed=2), 3
    n = len(V[0])
    g = GCCA(n_components=k, reg=c, scale=False).fit(V)
    G = g.shared_components_
    np.testing.assert_allclose(G.T @ G, (n - 1) * np.eye(k), atol=1e-8)
    # G: top eigenvectors of sum_i X_i [(1-c) C_ii + c I]^{-1} X_i^T / (n - 1)
    Vc = [v - v.mean(0) for v in V]
    P = sum(v @ np.linalg.solve((1 - c) * np.cov(v.T) + c * np.eye(v.shape[1]), v.T) for v in Vc) / (n - 1)
    w, E = np.linalg.eigh(P)
    np.testing.assert_allclose(g.eigenvalues_, w[::-1][:k], atol=1e-10)
    unit_dirs_match(G, E[:, ::-1][:, :k], 1e-8)
    zoo = ZooGCCA(n_components=k, shrinkage=c).fit(V)
    for W, Wz, v in zip(g.weights_, zoo.weights_, Vc):
        np.testing.assert_allclose(W * np.sign((W * Wz).sum(0)), Wz, atol=1e-8)
        # each view's weights are its regularised regression onto G
        Cr = (1 - c) * np.cov(v.T) + c * np.eye(v.shape[1])
        np.testing.assert_allclose(W, np.linalg.solve(Cr, v.T @ G / (n - 1)), atol=1e-8)
