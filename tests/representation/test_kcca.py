"""KCCA: equals linear CCA with a linear kernel, equals the dual eigenproblem otherwise."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics.pairwise import rbf_kernel

from polymodal.errors import ConfigError, ShapeError
from polymodal.representation import CCA, KCCA


def linear_data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    X = Z @ rng.normal(size=(2, 5)) + rng.normal(size=(n, 5))
    Y = Z @ rng.normal(size=(2, 4)) + rng.normal(size=(n, 4))
    return X, Y


def nonlinear_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, size=(n, 1))
    X = np.hstack([t, rng.normal(size=(n, 1)) * 0.3])
    Y = np.hstack([t**2 + 0.05 * rng.normal(size=(n, 1)), rng.normal(size=(n, 1))])
    return X, Y


def centred(K):
    m = K.mean(0)
    return K - m[None, :] - m[:, None] + m.mean()


def dual_correlations(Kx, Ky, reg, k):
    """rho^2 = eig((Ky + cI)^-1 Kx (Kx + cI)^-1 Ky), c = reg (n - 1) / (1 - reg)."""
    n = len(Kx)
    c = reg * (n - 1) / (1 - reg)
    Kx, Ky = centred(Kx), centred(Ky)
    A = np.linalg.solve(Ky + c * np.eye(n), Kx) @ np.linalg.solve(Kx + c * np.eye(n), Ky)
    ev = np.sort(np.linalg.eigvals(A).real)[::-1][:k]
    return np.sqrt(np.clip(ev, 0, None))


@pytest.mark.parametrize("reg", [0.0, 0.2])
def test_linear_kernel_is_cca(reg):
    X, Y = linear_data()
    cca = CCA(n_components=3, reg=reg, scale=False).fit(X, Y)
    kcca = KCCA(n_components=3, kernel="linear", reg=reg).fit(X, Y)
    np.testing.assert_allclose(kcca.canonical_correlations_, cca.canonical_correlations_,
                               atol=1e-8)
    Xn, Yn = linear_data(n=40, seed=1)  # new points go through the kernel too
    for a, b in zip(kcca.transform(Xn, Yn), cca.transform(Xn, Yn)):
        a = a * np.sign((a * b).sum(0))
        np.testing.assert_allclose(a, b, atol=1e-7)


@pytest.mark.parametrize("kernel", ["rbf", "callable"])
def test_rbf_matches_dual_eigenproblem(kernel):
    X, Y = nonlinear_data()
    k = (lambda A, B: rbf_kernel(A, B, gamma=2.0)) if kernel == "callable" else "rbf"
    kcca = KCCA(n_components=3, kernel=k, gamma=2.0, reg=0.1).fit(X, Y)
    ref = dual_correlations(rbf_kernel(X, gamma=2.0), rbf_kernel(Y, gamma=2.0), 0.1, 3)
    np.testing.assert_allclose(kcca.objective_values_, ref, atol=1e-8)
    # canonical_correlations_ are the correlations of the training components
    Xc, Yc = kcca.transform(X, Y)
    r = [np.corrcoef(Xc[:, i], Yc[:, i])[0, 1] for i in range(3)]
    np.testing.assert_allclose(kcca.canonical_correlations_, r, atol=1e-8)
    assert r[0] > 0.9
    # linear CCA cannot see y = x^2
    assert CCA(n_components=1).fit(X, Y).canonical_correlations_[0] < 0.3


def test_poly_matches_dual_eigenproblem():
    from sklearn.metrics.pairwise import polynomial_kernel

    X, Y = nonlinear_data(n=120, seed=2)
    kcca = KCCA(n_components=2, kernel="poly", degree=2, coef0=1.0, gamma=1.0, reg=0.05)
    kcca.fit(X, Y)
    Kx = polynomial_kernel(X, degree=2, gamma=1.0, coef0=1.0)
    Ky = polynomial_kernel(Y, degree=2, gamma=1.0, coef0=1.0)
    np.testing.assert_allclose(kcca.objective_values_,
                               dual_correlations(Kx, Ky, 0.05, 2), atol=1e-8)


def test_nystroem_with_all_points_equals_exact():
    X, Y = nonlinear_data(n=150)
    exact = KCCA(n_components=2, gamma=2.0, reg=0.1).fit(X, Y)
    ny = KCCA(n_components=2, gamma=2.0, reg=0.1, approximation="nystroem",
              n_landmarks=150, chunk_size=37, random_state=0).fit(X, Y)
    np.testing.assert_allclose(ny.canonical_correlations_, exact.canonical_correlations_,
                               atol=1e-6)


def test_errors():
    X, Y = nonlinear_data(n=30)
    with pytest.raises(ConfigError, match=re.escape(
        "kernel must be one of ('rbf', 'poly', 'linear') or a callable; got 'cosine'"
    )):
        KCCA(kernel="cosine").fit(X, Y)
    with pytest.raises(ConfigError, match=re.escape(
        "approximation must be None or 'nystroem'; got 'rff'"
    )):
        KCCA(approximation="rff").fit(X, Y)
    with pytest.raises(ShapeError, match=re.escape(
        "Y must have the same number of samples as X (30); got 29"
    )):
        KCCA().fit(X, Y[:29])
    with pytest.raises(ShapeError, match=re.escape("kernel(A, B) must return shape (30, 30)")):
        KCCA(kernel=lambda A, B: np.ones((3, 3))).fit(X, Y)
    with pytest.raises(ConfigError, match=re.escape(
        "n_components must be an integer in [1, n_samples = 30]; got 31"
    )):
        KCCA(n_components=31).fit(X, Y)


@pytest.mark.slow
def test_nystroem_scales_to_100k():
    rng = np.random.default_rng(0)
    n = 100_000
    t = rng.uniform(-1, 1, size=(n, 1))
    X = np.hstack([t, 0.3 * rng.normal(size=(n, 2))])
    Y = np.hstack([np.cos(3 * t) + 0.05 * rng.normal(size=(n, 1)), rng.normal(size=(n, 2))])
    k = KCCA(n_components=2, gamma=1.0, reg=1e-3, approximation="nystroem",
             n_landmarks=300, random_state=0).fit(X, Y)
    assert k.canonical_correlations_[0] > 0.95
    assert CCA(n_components=1).fit(X, Y).canonical_correlations_[0] < 0.3
