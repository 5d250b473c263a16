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
    np.testing.assert_allclose(mcca.eigenvalues_, 1 + cca.canonical_correlations_, atol=1e-10)
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
