"""MahalanobisScore (Lee et al., NeurIPS 2018): class means and the shared within-class covariance against
their definitions, distances against scikit-learn's EmpiricalCovariance on the same residuals and against
a brute-force inverse, the confidence score against Eq. 2, separation of shifted samples, and clear errors."""

import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance
from sklearn.exceptions import NotFittedError

from polymodal.errors import ShapeError
from polymodal.fusion.quality import MahalanobisScore


def _data(seed=0, n=300, d=5, k=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    mix = rng.normal(size=(d, d))
    X = rng.normal(size=(n, d)) @ mix + 3.0 * rng.normal(size=(k, d))[y]
    return X, y


def test_means_covariance_and_distances_match_sklearn_and_the_closed_form():
    X, y = _data()
    est = MahalanobisScore().fit(X, y)
    means = np.stack([X[y == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(est.means_, means, rtol=1e-12)
    resid = X - means[y]
    np.testing.assert_allclose(est.covariance_, resid.T @ resid / len(X), rtol=1e-10)  # Eq. 1: 1/N, not 1/(N-1)
    ref = EmpiricalCovariance(assume_centered=True).fit(resid)  # the paper's code fits sklearn on the residuals
    np.testing.assert_allclose(est.covariance_, ref.covariance_, rtol=1e-10)
    Z = np.random.default_rng(1).normal(size=(7, 5)) * 4
    d2 = est.mahalanobis(Z)
    np.testing.assert_allclose(d2, np.stack([ref.mahalanobis(Z - m) for m in means], 1), rtol=1e-8)
    inv = np.linalg.inv(resid.T @ resid / len(X))
    brute = np.array([[(z - m) @ inv @ (z - m) for m in means] for z in Z])
    np.testing.assert_allclose(d2, brute, rtol=1e-8)
    np.testing.assert_allclose(est.score_samples(Z), -brute.min(1), rtol=1e-8)  # M(x) = max_c -d_c(x)


def test_one_dimension_closed_form_and_string_labels():
    X = np.array([[-1.0], [1.0], [9.0], [11.0]])  # class means 0 and 10, within-class variance 1
    est = MahalanobisScore().fit(X, np.array(["a", "a", "b", "b"]))
    assert est.classes_.tolist() == ["a", "b"]
    np.testing.assert_allclose(est.mahalanobis(np.array([[3.0], [10.0]])), [[9.0, 49.0], [100.0, 0.0]])
    np.testing.assert_allclose(est.score_samples(np.array([[3.0], [10.0]])), [-9.0, 0.0], atol=1e-12)


def test_a_singular_covariance_uses_the_pseudo_inverse():
    X, y = _data(d=3)
    X = np.hstack([X, X[:, :1]])  # a duplicated column: Sigma is singular
    est = MahalanobisScore().fit(X, y)
    ref = EmpiricalCovariance(assume_centered=True).fit(X - est.means_[y])  # sklearn uses pinvh too
    np.testing.assert_allclose(est.precision_, ref.precision_, rtol=1e-6, atol=1e-8)
    assert np.isfinite(est.mahalanobis(X[:5])).all()


def test_shifted_samples_score_lower_than_held_out_in_distribution_ones():
    X, y = _data(n=600)
    est = MahalanobisScore().fit(X[:400], y[:400])
    inside = est.score_samples(X[400:])
    outside = est.score_samples(X[400:] + np.random.default_rng(2).normal(size=(200, 5)) * 3.0)
    assert np.median(inside) > np.percentile(outside, 90)


def test_bad_input_raises_clear_errors():
    with pytest.raises(NotFittedError):
        MahalanobisScore().score_samples(np.zeros((2, 3)))
    X, y = _data()
    with pytest.raises(ShapeError, match="more samples than classes"):
        MahalanobisScore().fit(X[:2], [0, 1])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ShapeError, match="NaN"):
        MahalanobisScore().fit(bad, y)
    est = MahalanobisScore().fit(X, y)
    with pytest.raises(ShapeError, match="NaN"):
        est.mahalanobis(bad)
    with pytest.raises(ShapeError, match="5 features"):
        est.mahalanobis(X[:, :4])
    with pytest.raises(ShapeError, match="inconsistent numbers of samples"):
        MahalanobisScore().fit(X, y[:-1])


def test_relative_distance_matches_its_definition_and_ignores_a_shared_shift():
    X, y = _data()
    est = MahalanobisScore(relative=True).fit(X, y)
    background = EmpiricalCovariance().fit(X)  # all of X, centred on its mean, 1/N
    Z = np.random.default_rng(3).normal(size=(6, 5)) * 4
    expected = -(est.mahalanobis(Z) - background.mahalanobis(Z)[:, None]).min(1)
    np.testing.assert_allclose(est.score_samples(Z), expected, rtol=1e-8)
    plain = MahalanobisScore().fit(X, y)
    np.testing.assert_allclose(plain.mahalanobis(Z), est.mahalanobis(Z))
    # 1-D, two classes at 0 and 10 with within-class variance 1: total variance 26, total mean 5
    X1 = np.array([[-1.0], [1.0], [9.0], [11.0]])
    rel = MahalanobisScore(relative=True).fit(X1, [0, 0, 1, 1])
    np.testing.assert_allclose(rel.score_samples(np.array([[3.0]])), [-(9.0 - 4.0 / 26.0)])
