"""CCA: exactness against an independent QR/SVD computation, sklearn parity, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.linalg import eigh, qr, svd
from sklearn.cross_decomposition import CCA as SkCCA
from sklearn.utils.estimator_checks import parametrize_with_checks

from polymodal.errors import ConfigError, ShapeError
from polymodal.representation import CCA


def correlated(n=400, p=8, q=6, d=3, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    X = Z @ rng.normal(size=(d, p)) + noise * rng.normal(size=(n, p)) + 3.0
    Y = Z @ rng.normal(size=(d, q)) + noise * rng.normal(size=(n, q)) - 1.0
    return X, Y


def qr_svd_correlations(X, Y):
    """Independent exact CCA: SVD of Qx^T Qy from the QR of each centred view."""
    Qx = qr(X - X.mean(0), mode="economic")[0]
    Qy = qr(Y - Y.mean(0), mode="economic")[0]
    return svd(Qx.T @ Qy, compute_uv=False)


def inv_sqrt(C):
    w, V = eigh(C)
    return (V / np.sqrt(w)) @ V.T


def rcca_correlations(X, Y, reg):
    """Independent regularised CCA on standardised views (symmetric whitening): the
    objective a^T Cxy b under a^T[(1-reg) Cxx + reg I]a = b^T[(1-reg) Cyy + reg I]b = 1."""
    Xs = (X - X.mean(0)) / X.std(0, ddof=1)
    Ys = (Y - Y.mean(0)) / Y.std(0, ddof=1)
    n = len(X)
    Cxx, Cyy, Cxy = Xs.T @ Xs / (n - 1), Ys.T @ Ys / (n - 1), Xs.T @ Ys / (n - 1)
    Cxx = (1 - reg) * Cxx + reg * np.eye(len(Cxx))
    Cyy = (1 - reg) * Cyy + reg * np.eye(len(Cyy))
    return svd(inv_sqrt(Cxx) @ Cxy @ inv_sqrt(Cyy), compute_uv=False)


@pytest.mark.parametrize("scale", [True, False])
def test_correlations_equal_qr_svd(scale):
    X, Y = correlated()
    cca = CCA(n_components=6, scale=scale).fit(X, Y)
    ref = qr_svd_correlations(X, Y)
    np.testing.assert_allclose(cca.canonical_correlations_, ref[:6], rtol=0, atol=1e-8)
    assert np.all(np.diff(cca.canonical_correlations_) <= 0)


def test_components_uncorrelated_unit_variance():
    X, Y = correlated()
    cca = CCA(n_components=5).fit(X, Y)
    Xc, Yc = cca.transform(X, Y)
    C = np.cov(np.hstack([Xc, Yc]).T)
    k = 5
    np.testing.assert_allclose(C[:k, :k], np.eye(k), atol=1e-8)
    np.testing.assert_allclose(C[k:, k:], np.eye(k), atol=1e-8)
    np.testing.assert_allclose(C[:k, k:], np.diag(cca.canonical_correlations_), atol=1e-8)
    # fit_transform is fit then transform; Y=None gives Xc only
    Xf, Yf = CCA(n_components=5).fit_transform(X, Y)
    np.testing.assert_allclose(Xf, Xc, atol=1e-12)
    np.testing.assert_allclose(cca.transform(X), Xc, atol=1e-12)
    assert cca.x_rotations_ is cca.x_weights_ and cca.y_rotations_ is cca.y_weights_


def test_matches_sklearn_up_to_sign():
    # well separated correlations, so NIPALS converges
    X, Y = correlated(n=600, p=6, q=5, d=3, noise=0.7, seed=1)
    ours = CCA(n_components=3).fit(X, Y)
    sk = SkCCA(n_components=3, max_iter=20000, tol=1e-14).fit(X, Y)
    for a, b in zip(ours.transform(X, Y), sk.transform(X, Y)):
        # sklearn scales weights to unit norm, we scale components to unit variance
        b = b / b.std(0, ddof=1)
        a = a * np.sign((a * b).sum(0))
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_predict_is_regression_on_components():
    X, Y = correlated(seed=2)
    cca = CCA(n_components=3).fit(X, Y)
    T = np.hstack([np.ones((len(X), 1)), cca.transform(X)])
    coef = np.linalg.lstsq(T, Y, rcond=None)[0]
    np.testing.assert_allclose(cca.predict(X), T @ coef, atol=1e-9)
    # loadings: inverse_transform regresses X on its components
    coef_x = np.linalg.lstsq(T, X, rcond=None)[0]
    np.testing.assert_allclose(cca.inverse_transform(cca.transform(X)), T @ coef_x, atol=1e-9)


@pytest.mark.parametrize("reg", [0.1, 0.5, 1.0])
def test_regularised_matches_independent(reg):
    X, Y = correlated(seed=3)
    cca = CCA(n_components=4, reg=reg).fit(X, Y)
    np.testing.assert_allclose(
        cca.objective_values_, rcca_correlations(X, Y, reg)[:4], atol=1e-10
    )


def pearson(A, B):
    A, B = A - A.mean(0), B - B.mean(0)
    return (A * B).sum(0) / np.sqrt((A * A).sum(0) * (B * B).sum(0))


def same_direction(A, B, atol):
    """Columns of A and B equal up to sign and scale."""
    A, B = A / np.linalg.norm(A, axis=0), B / np.linalg.norm(B, axis=0)
    np.testing.assert_allclose(A * np.sign((A * B).sum(0)), B, atol=atol)


# cca-zoo's convention (rCCA / RidgeCCA): within-view blocks (1-c) C + c I, cross block unchanged;
# c = 0 is CCA, c = 1 is PLS (the SVD of the cross-covariance).
@pytest.mark.parametrize("c", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_regularised_matches_cca_zoo_and_generalized_eigenproblem(c):
    RidgeCCA = pytest.importorskip("cca_zoo.linear").RidgeCCA
    X, Y = correlated(seed=6)
    k, p = 3, X.shape[1]
    cca = CCA(n_components=k, reg=c, scale=False).fit(X, Y)
    Xc, Yc = cca.transform(X, Y)
    # canonical_correlations_ are the correlations of the training components
    np.testing.assert_allclose(cca.canonical_correlations_, pearson(Xc, Yc), atol=1e-10)
    zoo = RidgeCCA(n_components=k, shrinkage=c).fit([X, Y])
    same_direction(cca.x_weights_, zoo.weights_[0], 1e-8)
    same_direction(cca.y_weights_, zoo.weights_[1], 1e-8)
    np.testing.assert_allclose(cca.canonical_correlations_, np.abs(pearson(*zoo.transform([X, Y]))), atol=1e-8)
    # the generalized eigenproblem [0 Cxy; Cyx 0] v = rho blockdiag(Dx, Dy) v written out
    C = np.cov(np.hstack([X, Y]).T)
    A = np.zeros_like(C)
    A[:p, p:], A[p:, :p] = C[:p, p:], C[p:, :p]
    D = (1 - c) * C + c * np.eye(len(C))
    D[:p, p:] = D[p:, :p] = 0.0
    w, V = eigh(A, D)  # V^T D V = I, so each view's half has D-norm 1/2
    w, V = w[::-1][:k], np.sqrt(2) * V[:, ::-1][:, :k]
    np.testing.assert_allclose(cca.objective_values_, w, atol=1e-10)
    for W, Vi in ((cca.x_weights_, V[:p]), (cca.y_weights_, V[p:])):
        np.testing.assert_allclose(W * np.sign((W * Vi).sum(0)), Vi, atol=1e-8)
    if c == 1.0:  # PLS: unit-norm weights, the top singular pairs of Cxy
        np.testing.assert_allclose(w, svd(C[:p, p:], compute_uv=False)[:k], atol=1e-10)
        np.testing.assert_allclose(np.linalg.norm(cca.x_weights_, axis=0), 1.0, atol=1e-12)


def test_more_features_than_samples_with_reg():
    X, Y = correlated(n=40, p=60, q=50, seed=4)
    cca = CCA(n_components=3, reg=0.2).fit(X, Y)
    np.testing.assert_allclose(
        cca.objective_values_, rcca_correlations(X, Y, 0.2)[:3], atol=1e-10
    )
    with pytest.raises(ShapeError, match=re.escape(
        "X has 60 features but only 40 samples: its covariance (rank <= n_samples - 1 = 39) "
        "is singular, so CCA with reg=0 is undefined; use reg > 0"
    )):
        CCA(n_components=3).fit(X, Y)


def test_large_offsets_are_centred_accurately():
    X, Y = correlated(seed=5)
    big = CCA(n_components=4).fit(X + 1e7, Y - 1e7)
    np.testing.assert_allclose(
        big.canonical_correlations_, qr_svd_correlations(X, Y)[:4], atol=1e-8
    )


def test_bad_inputs_exact_messages():
    X, Y = correlated(n=50)
    with pytest.raises(ShapeError, match=re.escape(
        "Y must have the same number of samples as X (50); got 49"
    )):
        CCA().fit(X, Y[:49])
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ShapeError, match=re.escape(
        "X contains NaN or inf in 1 entries (first at row 3, column 2: nan); expected finite values"
    )):
        CCA().fit(Xn, Y)
    Yi = Y.copy()
    Yi[7, 1] = np.inf
    with pytest.raises(ShapeError, match=re.escape(
        "Y contains NaN or inf in 1 entries (first at row 7, column 1: inf); expected finite values"
    )):
        CCA().fit(X, Yi)
    Xc = X.copy()
    Xc[:, 4] = 2.5
    with pytest.raises(ShapeError, match=re.escape(
        "X has 1 constant column(s) (variance 0, first at index 4), so its covariance is "
        "singular and CCA with reg=0 is undefined; use reg > 0 or drop the column(s)"
    )):
        CCA().fit(Xc, Y)
    CCA(reg=0.1).fit(Xc, Y)  # shrinkage makes it well posed
    with pytest.raises(ConfigError, match=re.escape(
        "n_components must be <= min(n_samples, n_features_X, n_features_Y) = 6; "
        "got n_components=7"
    )):
        CCA(n_components=7).fit(X, Y)
    with pytest.raises(ShapeError, match=re.escape(
        "X must be a 2-D array of shape (n_samples, n_features); got a 1-D array of "
        "shape (50,). Reshape your data"
    )):
        CCA().fit(X[:, 0], Y)
    with pytest.raises(ConfigError, match=re.escape("reg must be a real number in [0, 1]; got 1.5")):
        CCA(reg=1.5).fit(X, Y)
    with pytest.raises(ShapeError, match="requires y to be passed"):
        CCA().fit(X)
    Xd = np.hstack([X, X[:, :1] * 2.0])
    with pytest.raises(ShapeError, match=re.escape(
        "the covariance of X (9 x 9) is numerically singular"
    )):
        CCA().fit(Xd, Y)
    cca = CCA().fit(X, Y)
    with pytest.raises(ShapeError, match=re.escape("X has 7 features, but CCA is expecting 8")):
        cca.transform(X[:, :7])


# sklearn's own suite runs CCA with n_components=1 (its regression checks pass a
# 1-D y, so q = 1 < the default n_components=2); every check then applies and passes
# except two that sklearn itself skips: check_array_api_input (SCIPY_ARRAY_API unset)
# and check_regressor_data_not_an_array (skipped by sklearn for cross-decomposition
# estimators named CCA/PLS*, "not deterministic" - true of NIPALS, not of ours).
@parametrize_with_checks([CCA(n_components=1)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
