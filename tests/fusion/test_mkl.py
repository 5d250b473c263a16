"""EasyMKL: QP vs a generic solver, weights formula, synthetic signal view, SVC equivalence."""

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.svm import SVC

from polymodal.errors import ShapeError
from polymodal.fusion.mkl import MKLClassifier, easymkl_gamma, project_simplex


def test_project_simplex_matches_generic_solver():
    rng = np.random.default_rng(0)
    for _ in range(5):
        v = rng.normal(size=7) * 2
        x = project_simplex(v)
        ref = minimize(lambda z: ((z - v) ** 2).sum(), np.full(7, 1 / 7), method="SLSQP",
                       bounds=[(0, None)] * 7, constraints=[{"type": "eq", "fun": lambda z: z.sum() - 1}],
                       options={"ftol": 1e-14, "maxiter": 500}).x
        np.testing.assert_allclose(x, ref, atol=1e-6)
        assert x.min() >= 0 and np.isclose(x.sum(), 1)


def test_easymkl_qp_matches_slsqp_for_one_and_many_problems():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    K = np.exp(-0.3 * ((X[:, None] - X[None]) ** 2).sum(-1))
    Y = np.stack([np.where(rng.random(30) < 0.4, 1.0, -1.0) for _ in range(3)], 1)
    lam = 0.2
    G = easymkl_gamma(K, Y, lam, max_iter=5000, tol=1e-14)
    for p in range(3):
        y = Y[:, p]
        obj = lambda g: (1 - lam) * (y * g) @ K @ (y * g) + lam * g @ g  # noqa: E731
        cons = [{"type": "eq", "fun": lambda g, s=s: g[y == s].sum() - 1} for s in (1.0, -1.0)]
        ref = minimize(obj, np.where(y > 0, 1 / (y > 0).sum(), 1 / (y < 0).sum()), method="SLSQP",
                       bounds=[(0, None)] * 30, constraints=cons, options={"ftol": 1e-15, "maxiter": 1000}).x
        np.testing.assert_allclose(obj(G[:, p]), obj(ref), rtol=1e-6)
        np.testing.assert_allclose(G[:, p], ref, atol=1e-4)
        np.testing.assert_allclose(easymkl_gamma(K, y, lam, max_iter=5000, tol=1e-14), G[:, p], atol=1e-6)


def _synthetic(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = rng.normal(size=(n, 5)) + 1.5 * (2 * y[:, None] - 1)
    return [rng.normal(size=(n, 8)), signal, rng.normal(size=(n, 6))], y


def test_binary_weights_follow_easymkl_formula_and_signal_view_dominates():
    Xs, y = _synthetic()
    clf = MKLClassifier(lam=0.1).fit(Xs, y)
    w = clf.kernel_weights_
    assert np.all(w >= 0) and np.isclose(w.sum(), 1.0)
    # the formula, by hand: eta_r ∝ (y*gamma)^T K_r (y*gamma), gamma from the QP on the summed kernel
    Ks = clf.base_kernels(Xs)
    yy = np.where(y == clf.classes_[1], 1.0, -1.0)
    g = easymkl_gamma(Ks.sum(0), yy, 0.1)
    d = np.array([(yy * g) @ K @ (yy * g) for K in Ks])
    np.testing.assert_allclose(w, d / d.sum(), rtol=1e-4, atol=1e-6)
    per_view = np.array([sum(wi for wi, k in zip(w, clf.kernels_) if k.view == v) for v in range(3)])
    assert per_view[1] > 0.75, per_view
    assert clf.score(*_synthetic(seed=1)) > 0.9


def test_multiclass_weights_are_convex_and_predictions_equal_svc_on_combined_kernel():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 30)
    Xs = [rng.normal(size=(90, 3)) + np.eye(3)[y] * 2, rng.normal(size=(90, 4))]
    clf = MKLClassifier(rbf_gammas=(1.0,), poly_degrees=(2,)).fit(Xs, y)
    assert clf.weights_per_class_.shape == (3, 6)
    assert np.all(clf.weights_per_class_ >= 0) and np.allclose(clf.weights_per_class_.sum(1), 1)
    assert np.all(clf.kernel_weights_ >= 0) and np.isclose(clf.kernel_weights_.sum(), 1)
    test = [rng.normal(size=(20, 3)), rng.normal(size=(20, 4))]
    Ktr = np.tensordot(clf.kernel_weights_, clf.base_kernels(Xs), axes=1)
    Kte = np.tensordot(clf.kernel_weights_, clf.base_kernels(test), axes=1)
    ref = SVC(kernel="precomputed").fit(Ktr, y)
    np.testing.assert_array_equal(clf.predict(test), ref.predict(Kte))
    # a single array split by `views` is the same model
    split = MKLClassifier(rbf_gammas=(1.0,), poly_degrees=(2,), views=[3, 4]).fit(np.hstack(Xs), y)
    np.testing.assert_allclose(split.kernel_weights_, clf.kernel_weights_)


def test_bad_views_raise_shape_errors():
    Xs, y = _synthetic(n=40)
    clf = MKLClassifier().fit(Xs, y)
    with pytest.raises(ShapeError, match=r"expected views with \[8, 5, 6\] features, got \[8, 5, 5\]"):
        clf.predict([Xs[0], Xs[1], Xs[2][:, :5]])
    with pytest.raises(ShapeError, match="view 1: expected shape"):
        MKLClassifier().fit([Xs[0], Xs[1][:10]], y)
    with pytest.raises(ShapeError, match="sum to 5 columns, X has 19"):
        MKLClassifier(views=[2, 3]).fit(np.hstack(Xs), y)


def test_passes_sklearn_check_estimator():
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(MKLClassifier(rbf_gammas=(1.0,), poly_degrees=(2,)), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed, failed


# -- fidelity to the authors' EasyMKL (issue 14): the QP is on the SUM of the kernels ----------------
def _easymkl_reference(Ks, yy, lam):
    """Aiolli & Donini (Neurocomputing 2015), re-expressed: gamma minimises
    (1 - lam) gamma^T Y K Y gamma + lam ||gamma||^2 over the two class simplices with
    K = sum_r K_r (solved here by SLSQP), eta_r = gamma^T Y K_r Y gamma normalised to sum 1."""
    n = len(yy)
    Q = (1 - lam) * (yy[:, None] * Ks.sum(0) * yy[None, :]) + lam * np.eye(n)
    cons = [{"type": "eq", "fun": lambda g, s=s: g[yy == s].sum() - 1, "jac": lambda g, s=s: (yy == s) * 1.0}
            for s in (1.0, -1.0)]
    g = minimize(lambda g: g @ Q @ g, np.where(yy > 0, 1 / (yy > 0).sum(), 1 / (yy < 0).sum()),
                 jac=lambda g: 2 * Q @ g, method="SLSQP", bounds=[(0, None)] * n, constraints=cons,
                 options={"ftol": 1e-15, "maxiter": 2000}).x
    d = np.array([(yy * g) @ K @ (yy * g) for K in Ks])
    return d / d.sum()


@pytest.mark.parametrize("lam", [0.1, 0.5])
def test_binary_weights_and_decisions_match_authors_algorithm(lam):
    Xs, y = _synthetic(n=60)
    clf = MKLClassifier(lam=lam, rbf_gammas=(0.25, 4.0)).fit(Xs, y)
    Ks = clf.base_kernels(Xs)
    eta = _easymkl_reference(Ks, np.where(y == clf.classes_[1], 1.0, -1.0), lam)
    np.testing.assert_allclose(clf.kernel_weights_, eta, atol=5e-4)  # FISTA tol 1e-6: ~1.5e-4
    test = _synthetic(n=30, seed=1)[0]
    ref = SVC(kernel="precomputed").fit(np.tensordot(eta, Ks, axes=1), y)
    np.testing.assert_allclose(clf.decision_function(test), ref.decision_function(
        np.tensordot(eta, clf.base_kernels(test), axes=1)), atol=1e-3)


@pytest.mark.filterwarnings("ignore::UserWarning")  # MKLpy's gamma.T on a 1-D tensor
def test_binary_matches_mklpy_easymkl():
    pytest.importorskip("cvxopt")
    torch = pytest.importorskip("torch")
    EasyMKL = pytest.importorskip("MKLpy.algorithms").EasyMKL
    Xs, y = _synthetic(n=60)
    clf = MKLClassifier(lam=0.1, rbf_gammas=(0.25, 4.0)).fit(Xs, y)
    Ks = clf.base_kernels(Xs)
    ref = EasyMKL(learner=SVC(kernel="precomputed", C=1.0), lam=0.1, solver="cvxopt")
    ref.fit([torch.from_numpy(K) for K in Ks], torch.from_numpy(y))
    np.testing.assert_allclose(clf.kernel_weights_, ref.solution.weights.numpy(), atol=5e-4)
    test = _synthetic(n=30, seed=1)[0]
    Kte = [torch.from_numpy(K) for K in clf.base_kernels(test)]
    np.testing.assert_allclose(clf.decision_function(test), np.asarray(ref.decision_function(Kte)), atol=1e-3)
