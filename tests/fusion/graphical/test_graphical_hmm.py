"""HMM family vs brute-force enumeration, hmmlearn, and EM properties."""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import CoupledHMM, FactorialHMM, HMMClassifier, HMMLearnAdapter, MultiStreamHMM


def _rand_probs(rng, *shape):
    p = rng.random(shape) + 0.1
    return p / p.sum(-1, keepdims=True)


def _rand_cov(rng, K, d, kind):
    if kind == "diag":
        return rng.random((K, d)) + 0.3
    A = rng.normal(size=(K, d, d))
    return A @ A.transpose(0, 2, 1) + 0.5 * np.eye(d)


def _logN(x, mu, cov):
    cov = np.diag(cov) if cov.ndim == 1 else cov
    return multivariate_normal(mu, cov).logpdf(x)


def _brute(path_logp):
    """path_logp: dict path -> log p(x, path). Returns loglik, best path, marginal fn."""
    keys = list(path_logp)
    vals = np.array([path_logp[k] for k in keys])
    return logsumexp(vals), keys[int(np.argmax(vals))], keys, vals


@pytest.mark.parametrize("kind", ["diag", "full"])
def test_multistream_matches_brute_force(kind):
    rng = np.random.default_rng(0)
    K, T, dims = 3, 4, [2, 3]
    m = MultiStreamHMM(K, kind).set_params_manual(
        _rand_probs(rng, K), _rand_probs(rng, K, K), [rng.normal(size=(K, d)) for d in dims],
        [_rand_cov(rng, K, d, kind) for d in dims])
    x = [rng.normal(size=(T, d)) for d in dims]
    lp = {}
    for path in itertools.product(range(K), repeat=T):
        v = np.log(m.startprob_[path[0]]) + sum(np.log(m.transmat_[path[t - 1], path[t]]) for t in range(1, T))
        v += sum(_logN(x[c][t], m.means_[c][path[t]], m.covars_[c][path[t]]) for c in range(2) for t in range(T))
        lp[path] = v
    ll, best, keys, vals = _brute(lp)
    assert m.score([x]) == pytest.approx(ll, abs=1e-9)
    dec = m.decode(x)
    assert tuple(dec.states[:, 0]) == best and dec.log_prob == pytest.approx(vals.max(), abs=1e-9)
    post = m.posterior(x).gamma
    w = np.exp(vals - ll)
    for t in range(T):
        for k in range(K):
            assert post[t, k] == pytest.approx(sum(wi for p, wi in zip(keys, w) if p[t] == k), abs=1e-10)


def test_coupled_matches_brute_force():
    rng = np.random.default_rng(1)
    Ks, T, dims = (2, 3), 3, [1, 2]
    m = CoupledHMM(list(Ks), covariance_type="full").set_params_manual(
        [_rand_probs(rng, K) for K in Ks], [_rand_probs(rng, *Ks, K) for K in Ks],
        [rng.normal(size=(K, d)) for K, d in zip(Ks, dims)], [_rand_cov(rng, K, d, "full") for K, d in zip(Ks, dims)])
    x = [rng.normal(size=(T, d)) for d in dims]
    states = list(itertools.product(range(Ks[0]), range(Ks[1])))
    lp = {}
    for path in itertools.product(states, repeat=T):
        v = sum(np.log(m.startprob_[c][path[0][c]]) for c in range(2))
        for t in range(1, T):
            v += sum(np.log(m.transmat_[c][path[t - 1] + (path[t][c],)]) for c in range(2))
        v += sum(_logN(x[c][t], m.means_[c][path[t][c]], m.covars_[c][path[t][c]]) for c in range(2) for t in range(T))
        lp[path] = v
    ll, best, keys, vals = _brute(lp)
    assert m.score([x]) == pytest.approx(ll, abs=1e-9)
    assert [tuple(s) for s in m.decode(x).states] == list(best)
    marg = m.posterior(x).marginals[1]
    w = np.exp(vals - ll)
    for k in range(Ks[1]):
        assert marg[2, k] == pytest.approx(sum(wi for p, wi in zip(keys, w) if p[2][1] == k), abs=1e-10)


@pytest.mark.parametrize("kind", ["diag", "full"])
def test_factorial_exact_matches_brute_force_and_bounds(kind):
    rng = np.random.default_rng(2)
    Ks, T, D = (2, 3), 3, 2
    X = [rng.normal(size=(10, D)) for _ in range(2)]
    m = FactorialHMM(Ks, kind, inference="exact", n_iter=3).fit(X)
    x = rng.normal(size=(T, D)) * 2
    C = np.diag(m.covars_) if kind == "diag" else m.covars_
    states = list(itertools.product(range(Ks[0]), range(Ks[1])))
    lp = {}
    for path in itertools.product(states, repeat=T):
        v = sum(np.log(m.startprob_[c][path[0][c]]) for c in range(2))
        v += sum(np.log(m.transmat_[c][path[t - 1][c], path[t][c]]) for c in range(2) for t in range(1, T))
        v += sum(_logN(x[t], m.W_[0][:, path[t][0]] + m.W_[1][:, path[t][1]], C) for t in range(T))
        lp[path] = v
    ll, best, _, _ = _brute(lp)
    assert m.score([x]) == pytest.approx(ll, abs=1e-9)
    assert [tuple(s) for s in m.decode(x).states] == list(best)
    m.inference = "variational"
    assert m.score([x]) <= ll + 1e-9  # the structured mean-field value is a lower bound


def test_factorial_one_chain_variational_is_exact():
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(15, 2)) + (np.arange(15) > 7)[:, None] * 3 for _ in range(3)]
    m = FactorialHMM((3,), "full", inference="variational", n_iter=10).fit(X)
    v = m.score_samples(X)
    m.inference = "exact"
    np.testing.assert_allclose(v, m.score_samples(X), atol=1e-8)


def _toy(rng, n=4, T=25):
    return [[rng.normal(size=(T, 2)) + np.repeat([[0, 0], [2.5, -2]], [T // 2, T - T // 2], 0),
             rng.normal(size=(T, 1)) + np.repeat([[0], [2]], [T // 3, T - T // 3], 0)] for _ in range(n)]


@pytest.mark.parametrize("model", [
    MultiStreamHMM(3, "diag", n_iter=15, min_covar=1e-9), MultiStreamHMM(2, "full", n_iter=15, min_covar=1e-9),
    CoupledHMM(2, n_iter=15, min_covar=1e-9), CoupledHMM((2, 3), "none", "full", n_iter=15, min_covar=1e-9),
    FactorialHMM((2, 2), "diag", "exact", n_iter=15, min_covar=1e-9),
    FactorialHMM((2, 3), "full", "variational", n_iter=15, min_covar=1e-9)], ids=lambda m: type(m).__name__)
def test_em_never_decreases_log_likelihood(model):
    model.fit(_toy(np.random.default_rng(4)))
    ll = np.array(model.log_likelihoods_)
    assert len(ll) >= 3
    assert np.all(np.diff(ll) >= -1e-8 * np.abs(ll[1:]))
    assert ll[-1] > ll[0]


def test_zero_coupling_equals_independent_hmms():
    X = _toy(np.random.default_rng(5))
    chmm = CoupledHMM((2, 3), coupling="none", covariance_type="full", n_iter=8, tol=-1.0, random_state=7).fit(X)
    singles = [MultiStreamHMM(K, "full", n_iter=8, tol=-1.0, random_state=7).fit([[s[c]] for s in X])
               for c, K in enumerate((2, 3))]
    for c, h in enumerate(singles):
        np.testing.assert_allclose(chmm.means_[c], h.means_[0], atol=1e-8)
        own = chmm.transmat_[c][:, 0] if c == 0 else chmm.transmat_[c][0]  # table does not depend on the other chain
        np.testing.assert_allclose(own, h.transmat_, atol=1e-8)
    total = sum(h.score([[s[c]] for s in X]) for c, h in enumerate(singles))
    assert chmm.score(X) == pytest.approx(total, abs=1e-8)
    np.testing.assert_allclose(chmm.log_likelihoods_, np.sum([h.log_likelihoods_ for h in singles], 0), atol=1e-7)
    np.testing.assert_allclose(chmm.posterior(X[0]).marginals[1], singles[1].posterior([X[0][1]]).gamma, atol=1e-10)


@pytest.mark.parametrize("kind", ["diag", "full"])
def test_single_stream_matches_hmmlearn(kind):
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(6)
    K, d = 3, 2
    start, trans = _rand_probs(rng, K), _rand_probs(rng, K, K)
    means, covs = rng.normal(size=(K, d)), _rand_cov(rng, K, d, kind)
    ours = MultiStreamHMM(K, kind).set_params_manual(start, trans, [means], [covs])
    ref = GaussianHMM(K, covariance_type=kind, init_params="", params="")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = start, trans, means, covs
    x = rng.normal(size=(40, d))
    assert ours.score([[x]]) == pytest.approx(ref.score(x), abs=1e-8)
    np.testing.assert_allclose(ours.posterior([x]).gamma, ref.predict_proba(x), atol=1e-10)
    lp, path = ref.decode(x, algorithm="viterbi")
    assert ours.decode([x]).log_prob == pytest.approx(lp, abs=1e-8)
    np.testing.assert_array_equal(ours.decode([x]).states[:, 0], path)


def test_classifier_bayes_rule_and_hmmlearn_adapter():
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(8)
    X = [[rng.normal(size=(20, 2)) + c * np.sin(np.arange(20) / 3)[:, None]] for c in (0, 2) for _ in range(6)]
    y = np.repeat([0, 1], 6)
    clf = HMMClassifier(MultiStreamHMM(2, n_iter=10)).fit(X, y)
    scores = np.stack([m.score_samples(X) for m in clf.models_], 1) + np.log(0.5)
    np.testing.assert_allclose(clf.predict_proba(X), np.exp(scores - logsumexp(scores, 1, keepdims=True)))
    assert (clf.predict(X) == y).mean() >= 0.9
    ref = HMMClassifier(HMMLearnAdapter(GaussianHMM(2, n_iter=10, random_state=0))).fit(X, y)
    assert (ref.predict(X) == y).mean() >= 0.9


def test_bad_input_errors():
    rng = np.random.default_rng(9)
    with pytest.raises(ShapeError, match="equal length"):
        MultiStreamHMM(2).fit([[rng.normal(size=(10, 2)), rng.normal(size=(9, 1))]])
    with pytest.raises(ShapeError, match="equal length"):
        CoupledHMM(2).fit([[rng.normal(size=(10, 2)), rng.normal(size=(11, 1))]])
    with pytest.raises(ShapeError, match="empty sequence"):
        MultiStreamHMM(2).fit([[rng.normal(size=(10, 2))], [np.zeros((0, 2))]])
    with pytest.raises(ShapeError, match="0 samples"):
        FactorialHMM((2, 2)).fit([])
    with pytest.raises(ShapeError, match="zero variance"):
        MultiStreamHMM(2).fit([[np.c_[rng.normal(size=(10, 1)), np.ones((10, 1))]]])
    with pytest.raises(ShapeError, match="zero variance"):
        FactorialHMM((2,)).fit([np.c_[rng.normal(size=(10, 1)), np.ones((10, 1))]])
    with pytest.raises(ShapeError, match="variances must be > 0"):
        MultiStreamHMM(2).set_params_manual([0.5, 0.5], np.eye(2), [np.zeros((2, 1))], [np.array([[1.0], [0.0]])])
    with pytest.raises(ConfigError, match="MAX_JOINT_STATES"):
        CoupledHMM(70).fit([[rng.normal(size=(80, 1)), rng.normal(size=(80, 1))]])
    with pytest.raises(ConfigError, match="covariance_type"):
        MultiStreamHMM(2, "spherical")
    m = MultiStreamHMM(2, n_iter=2).fit([[rng.normal(size=(10, 2))]])
    with pytest.raises(ShapeError, match="expected 2 features"):
        m.score([[rng.normal(size=(10, 3))]])
