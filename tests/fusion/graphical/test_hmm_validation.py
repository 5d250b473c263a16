"""Parameter and input validation of the HMM family (no kernel ever reads out
of bounds), and randomised agreement with hmmlearn on consistent parameters."""

import numpy as np
import pytest

from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import CoupledHMM, FactorialHMM, HMMClassifier, MultiStreamHMM
from polymodal.fusion.graphical import _core


def _probs(rng, *shape):
    p = rng.random(shape) + 0.1
    return p / p.sum(-1, keepdims=True)


def _cov(rng, K, d, kind):
    if kind == "diag":
        return rng.random((K, d)) + 0.3
    A = rng.normal(size=(K, d, d))
    return A @ A.transpose(0, 2, 1) + 0.5 * np.eye(d)


def _ms_params(rng, K=2, dims=(2, 1), kind="diag"):
    return (_probs(rng, K), _probs(rng, K, K), [rng.normal(size=(K, d)) for d in dims],
            [_cov(rng, K, d, kind) for d in dims])


# -- MultiStreamHMM ----------------------------------------------------------------
def test_multistream_refuses_params_of_another_state_count():
    rng = np.random.default_rng(0)
    with pytest.raises(ShapeError, match=r"startprob \(n_states=3\).*\(3,\), got \(2,\)"):
        MultiStreamHMM(3).set_params_manual(*_ms_params(rng, K=2))


def test_multistream_refuses_means_rows_not_matching_transmat():
    rng = np.random.default_rng(1)
    start, trans, means, covs = _ms_params(rng, K=2)
    means[1] = rng.normal(size=(3, 1))  # 3 rows, 2x2 transition matrix
    with pytest.raises(ShapeError, match=r"stream 1.*means.*\(2, d\).*\(3, 1\)"):
        MultiStreamHMM(2).set_params_manual(start, trans, means, covs)


@pytest.mark.parametrize("case", ["start_len", "trans_shape", "trans_rows", "trans_negative", "trans_nan", "start_nan",
                                  "n_covars", "covar_dim", "covar_full_shape", "means_nan", "covars_inf", "means_1d"])
def test_multistream_setter_checks_every_shape_and_probability(case):
    rng = np.random.default_rng(2)
    kind = "full" if case == "covar_full_shape" else "diag"
    start, trans, means, covs = _ms_params(rng, K=3, kind=kind)
    match = {"start_len": r"startprob.*\(3,\).*\(4,\)", "trans_shape": r"transmat.*\(3, 3\).*\(3, 2\)",
             "trans_rows": "sum to 1", "trans_negative": "non-negative", "trans_nan": "finite", "start_nan": "finite",
             "n_covars": r"2 streams.*1 covars", "covar_dim": r"stream 0.*covars.*\(3, 2\).*\(3, 5\)",
             "covar_full_shape": r"stream 1.*covars.*\(3, 1, 1\).*\(3, 2, 2\)", "means_nan": r"stream 0.*means.*finite",
             "covars_inf": r"stream 1.*covars.*finite", "means_1d": r"stream 0.*means.*\(3, d\)"}[case]
    if case == "start_len":
        start = _probs(rng, 4)
    elif case == "trans_shape":
        trans = _probs(rng, 3, 2)
    elif case == "trans_rows":
        trans = trans * 1.5
    elif case == "trans_negative":
        trans[0] = [1.5, -0.5, 0.0]
    elif case == "trans_nan":
        trans[1, 1] = np.nan
    elif case == "start_nan":
        start[0] = np.nan
    elif case == "n_covars":
        covs = covs[:1]
    elif case == "covar_dim":
        covs[0] = rng.random((3, 5)) + 0.5
    elif case == "covar_full_shape":
        covs[1] = _cov(rng, 3, 2, "full")
    elif case == "means_nan":
        means[0][1, 0] = np.nan
    elif case == "covars_inf":
        covs[1][0, 0] = np.inf
    elif case == "means_1d":
        means[0] = means[0][:, 0]
    with pytest.raises(ShapeError, match=match):
        MultiStreamHMM(3, kind).set_params_manual(start, trans, means, covs)


def test_multistream_scoring_revalidates_edited_attributes():
    """Parameters edited after fitting are checked before the numba kernels run."""
    rng = np.random.default_rng(3)
    X = [[rng.normal(size=(12, 2))] for _ in range(3)]
    m = MultiStreamHMM(3, n_iter=2).fit(X)
    m.transmat_ = np.full((2, 2), 0.5)  # 3-state emissions, 2x2 transitions
    for call in (m.score, m.predict, lambda X: m.posterior(X[0]), lambda X: m.decode(X[0])):
        with pytest.raises(ShapeError, match=r"transmat.*\(3, 3\).*\(2, 2\)"):
            call(X)


@pytest.mark.parametrize("bad, match", [
    (lambda rng: [[rng.normal(size=(6, 3)), rng.normal(size=(6, 1))]], "expected 2 features"),
    (lambda rng: [[np.full((6, 2), np.nan), rng.normal(size=(6, 1))]], "NaN or inf"),
    (lambda rng: [[np.zeros((0, 2)), np.zeros((0, 1))]], "empty sequence"),
    (lambda rng: [[rng.normal(size=(6, 2))]], "expected 2 streams"),
    (lambda rng: [[rng.normal(size=6), rng.normal(size=(6, 1))]], r"\(T, d\)"),
])
def test_observation_sequences_are_checked_before_scoring(bad, match):
    rng = np.random.default_rng(4)
    m = MultiStreamHMM(2).set_params_manual(*_ms_params(rng, K=2))
    with pytest.raises(ShapeError, match=match):
        m.score(bad(rng))


def test_stream_weights_must_be_finite():
    rng = np.random.default_rng(5)
    m = MultiStreamHMM(2, stream_weights=[1.0, np.nan]).set_params_manual(*_ms_params(rng, K=2))
    with pytest.raises(ConfigError, match="stream_weights"):
        m.score([[rng.normal(size=(5, 2)), rng.normal(size=(5, 1))]])


def test_n_states_must_be_a_positive_integer():
    rng = np.random.default_rng(6)
    with pytest.raises(ConfigError, match="n_states"):
        MultiStreamHMM(0).fit([[rng.normal(size=(10, 2))]])
    with pytest.raises(ConfigError, match="n_states"):
        CoupledHMM((2, 0)).fit([[rng.normal(size=(10, 2)), rng.normal(size=(10, 1))]])
    with pytest.raises(ConfigError, match="n_states"):
        FactorialHMM((2, -1)).fit([rng.normal(size=(10, 2))])


# -- kernels ------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["log_forward", "log_posteriors", "viterbi"])
def test_kernels_refuse_inconsistent_shapes(fn):
    f = getattr(_core, fn)
    ls, A, E = np.log(np.full(2, 0.5)), np.full((2, 2), 0.5), np.zeros((4, 3))
    with pytest.raises(ShapeError, match=r"log_emission.*S = 2 states.*\(4, 3\)"):
        f(ls, A, E)
    with pytest.raises(ShapeError, match=r"log_start must be \(2,\).*\(2, 2\).*\(3,\)"):
        f(np.log(np.full(3, 1 / 3)), A, np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"square"):
        f(ls, np.full((2, 3), 0.5), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="0 frames"):
        f(ls, A, np.zeros((0, 2)))
    with pytest.raises(ShapeError, match="NaN"):
        f(ls, A, np.full((3, 2), np.nan))
    with pytest.raises(ShapeError, match="transition matrix.*finite"):
        f(ls, np.array([[np.nan, 1.0], [0.5, 0.5]]), np.zeros((3, 2)))


def test_backward_kernel_refuses_inconsistent_shapes():
    with pytest.raises(ShapeError, match=r"log_emission.*S = 2 states.*\(4, 3\)"):
        _core.log_backward(np.full((2, 2), 0.5), np.zeros((4, 3)))


# -- CoupledHMM ---------------------------------------------------------------------
def _chmm_params(rng, Ks=(2, 3), dims=(1, 2), kind="diag"):
    return ([_probs(rng, K) for K in Ks], [_probs(rng, *Ks, K) for K in Ks],
            [rng.normal(size=(K, d)) for K, d in zip(Ks, dims)], [_cov(rng, K, d, kind) for K, d in zip(Ks, dims)])


def test_coupled_refuses_conditional_table_with_axes_swapped():
    rng = np.random.default_rng(7)
    start, trans, means, covs = _chmm_params(rng)
    trans[0] = np.ascontiguousarray(np.swapaxes(trans[0], 0, 1))  # (3, 2, 2): previous-state axes swapped
    with pytest.raises(ShapeError, match=r"chain 0.*transmat.*\(2, 3, 2\).*\(2, 2\).*\(3, 2, 2\)"):
        CoupledHMM((2, 3)).set_params_manual(start, trans, means, covs)


def test_coupled_refuses_chain_larger_than_n_states():
    rng = np.random.default_rng(8)
    start, trans, means, covs = _chmm_params(rng, Ks=(2, 3))
    with pytest.raises(ShapeError, match=r"chain 1.*n_states.*2.*3"):
        CoupledHMM(2).set_params_manual(start, trans, means, covs)


@pytest.mark.parametrize("case", ["n_start", "start_shape", "own_shape", "rows", "means_rows", "covars_shape",
                                  "n_states_len", "nan_table"])
def test_coupled_setter_checks_every_shape_and_probability(case):
    rng = np.random.default_rng(9)
    start, trans, means, covs = _chmm_params(rng)
    n_states = (2, 3)
    match = {"n_start": r"2 chains.*1 startprob", "start_shape": r"chain 1.*startprob.*\(3,\).*\(2,\)",
             "own_shape": r"chain 1.*transmat.*\(2, 3, 3\) or \(3, 3\).*got shape \(2, 2\)", "rows": r"chain 0.*transmat.*sum to 1",
             "means_rows": r"chain 0.*means.*\(2, d\).*\(3, 1\)", "covars_shape": r"chain 1.*covars.*\(3, 2\).*\(3, 1\)",
             "n_states_len": r"n_states.*one count per stream \(2\)", "nan_table": r"chain 1.*transmat.*finite"}[case]
    if case == "n_start":
        start = start[:1]
    elif case == "start_shape":
        start[1] = _probs(rng, 2)
    elif case == "own_shape":
        trans[1] = _probs(rng, 2, 2)
    elif case == "rows":
        trans[0] = trans[0] * 0.9
    elif case == "means_rows":
        means[0] = rng.normal(size=(3, 1))
    elif case == "covars_shape":
        covs[1] = rng.random((3, 1)) + 0.5
    elif case == "n_states_len":
        n_states = (2, 3, 2)
    elif case == "nan_table":
        trans[1][0, 0, 0] = np.nan
    with pytest.raises((ShapeError, ConfigError), match=match):
        CoupledHMM(n_states).set_params_manual(start, trans, means, covs)


def test_coupled_scoring_revalidates_edited_attributes():
    rng = np.random.default_rng(10)
    m = CoupledHMM((2, 3)).set_params_manual(*_chmm_params(rng))
    m.transmat_[0] = np.full((3, 2, 2), 0.5)
    with pytest.raises(ShapeError, match=r"chain 0.*transmat"):
        m.score([[rng.normal(size=(5, 1)), rng.normal(size=(5, 2))]])


# -- FactorialHMM -------------------------------------------------------------------
def _fhmm_params(rng, Ks=(2, 3), D=2, kind="diag"):
    covs = rng.random(D) + 0.3 if kind == "diag" else _cov(rng, 1, D, "full")[0]
    return [_probs(rng, K) for K in Ks], [_probs(rng, K, K) for K in Ks], [rng.normal(size=(D, K)) for K in Ks], covs


@pytest.mark.parametrize("case", ["n_chains", "start_shape", "trans_shape", "rows", "W_rows", "W_cols", "cov_shape",
                                  "cov_neg", "cov_full_asym", "W_nan"])
def test_factorial_setter_checks_every_shape_and_probability(case):
    rng = np.random.default_rng(11)
    kind = "full" if case == "cov_full_asym" else "diag"
    start, trans, W, covs = _fhmm_params(rng, kind=kind)
    match = {"n_chains": r"2 chains.*1 transmat", "start_shape": r"chain 0.*startprob.*\(2,\).*\(3,\)",
             "trans_shape": r"chain 1.*transmat.*\(3, 3\).*\(2, 2\)", "rows": r"chain 1.*transmat.*sum to 1",
             "W_rows": r"chain 1.*W.*\(2, 3\).*\(4, 3\)", "W_cols": r"chain 0.*W.*\(2, 2\).*\(2, 3\)",
             "cov_shape": r"covars.*\(2,\).*\(3,\)", "cov_neg": "variances must be > 0",
             "cov_full_asym": "symmetric positive definite", "W_nan": r"chain 0.*W.*finite"}[case]
    if case == "n_chains":
        trans = trans[:1]
    elif case == "start_shape":
        start[0] = _probs(rng, 3)
    elif case == "trans_shape":
        trans[1] = _probs(rng, 2, 2)
    elif case == "rows":
        trans[1][2] = [0.2, 0.2, 0.2]
    elif case == "W_rows":
        W[1] = rng.normal(size=(4, 3))
    elif case == "W_cols":
        W[0] = rng.normal(size=(2, 3))
    elif case == "cov_shape":
        covs = rng.random(3) + 0.3
    elif case == "cov_neg":
        covs[1] = -1.0
    elif case == "cov_full_asym":
        covs[0, 1] += 1.0
    elif case == "W_nan":
        W[0][0, 0] = np.nan
    with pytest.raises(ShapeError, match=match):
        FactorialHMM((2, 3), kind).set_params_manual(start, trans, W, covs)


def test_factorial_setter_then_scoring_checks_observations():
    rng = np.random.default_rng(12)
    m = FactorialHMM((2, 3)).set_params_manual(*_fhmm_params(rng))
    assert m.n_features_ == 2
    with pytest.raises(ShapeError, match="expected 2 features"):
        m.score([rng.normal(size=(5, 3))])
    with pytest.raises(ShapeError, match="NaN or inf"):
        m.score([np.full((5, 2), np.inf)])
    m.transmat_[0] = np.full((3, 3), 1 / 3)
    with pytest.raises(ShapeError, match=r"chain 0.*transmat.*\(2, 2\).*\(3, 3\)"):
        m.score([rng.normal(size=(5, 2))])


# -- randomised agreement with hmmlearn on consistent parameters --------------------
def _hmmlearn(start, trans, means, covs, kind):
    from hmmlearn.hmm import GaussianHMM

    ref = GaussianHMM(len(start), covariance_type=kind, init_params="", params="")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = start, trans, means, covs
    return ref


@pytest.mark.parametrize("seed", range(8))
def test_random_consistent_parameters_score_like_hmmlearn(seed):
    """Every model is a Gaussian HMM on its joint state space: a multi-stream
    HMM with block-diagonal covariances, a coupled HMM with the product of the
    chains' conditionals and block-diagonal covariances, a factorial HMM with
    means ``sum_m W^m s^m`` and the tied covariance. Random sizes, random
    parameters: log-likelihood, posteriors and Viterbi agree with hmmlearn."""
    from scipy.linalg import block_diag

    rng = np.random.default_rng(100 + seed)
    kind = "diag" if seed % 2 else "full"
    T = int(rng.integers(1, 30))
    dims = [int(d) for d in rng.integers(1, 4, size=int(rng.integers(1, 4)))]

    def full(c, K, d):  # our covariance -> a full (K, d, d) one
        return np.stack([np.diag(v) for v in c]) if kind == "diag" else c

    # multi-stream
    K = int(rng.integers(1, 5))
    start, trans, means, covs = _ms_params(rng, K, dims, kind)
    x = [rng.normal(size=(T, d)) for d in dims]
    ours = MultiStreamHMM(K, kind).set_params_manual(start, trans, means, covs)
    fc = [full(c, K, d) for c, d in zip(covs, dims)]
    ref = _hmmlearn(start, trans, np.concatenate(means, 1),
                    np.stack([block_diag(*[f[k] for f in fc]) for k in range(K)]), "full")
    xc = np.concatenate(x, 1)
    assert ours.score([x]) == pytest.approx(ref.score(xc), abs=1e-7)
    np.testing.assert_allclose(ours.posterior(x).gamma, ref.predict_proba(xc), atol=1e-8)
    assert ours.decode(x).log_prob == pytest.approx(ref.decode(xc)[0], abs=1e-7)

    # coupled (two chains)
    Ks = tuple(int(k) for k in rng.integers(1, 4, size=2))
    d2 = dims[:2] if len(dims) >= 2 else dims * 2
    start, ctrans, means, covs = _chmm_params(rng, Ks, d2, kind)
    ours = CoupledHMM(Ks, covariance_type=kind).set_params_manual(start, ctrans, means, covs)
    S = Ks[0] * Ks[1]
    dig = np.stack(np.unravel_index(np.arange(S), Ks), 1)
    jstart = start[0][dig[:, 0]] * start[1][dig[:, 1]]
    jtrans = np.array([[ctrans[0][tuple(dig[i])][dig[j, 0]] * ctrans[1][tuple(dig[i])][dig[j, 1]]
                        for j in range(S)] for i in range(S)])
    fc = [full(c, K, d) for c, K, d in zip(covs, Ks, d2)]
    ref = _hmmlearn(jstart, jtrans, np.stack([np.concatenate([means[0][a], means[1][b]]) for a, b in dig]),
                    np.stack([block_diag(fc[0][a], fc[1][b]) for a, b in dig]), "full")
    x = [rng.normal(size=(T, d)) for d in d2]
    xc = np.concatenate(x, 1)
    assert ours.score([x]) == pytest.approx(ref.score(xc), abs=1e-7)
    np.testing.assert_allclose(ours.posterior(x).gamma, ref.predict_proba(xc), atol=1e-8)

    # factorial (exact)
    D = int(rng.integers(1, 4))
    start, ftrans, W, C = _fhmm_params(rng, Ks, D, kind)
    ours = FactorialHMM(Ks, kind, inference="exact").set_params_manual(start, ftrans, W, C)
    Cf = np.diag(C) if kind == "diag" else C
    ref = _hmmlearn(start[0][dig[:, 0]] * start[1][dig[:, 1]],
                    ftrans[0][dig[:, 0]][:, dig[:, 0]] * ftrans[1][dig[:, 1]][:, dig[:, 1]],
                    np.stack([W[0][:, a] + W[1][:, b] for a, b in dig]), np.tile(Cf, (S, 1, 1)), "full")
    y = rng.normal(size=(T, D)) * 2
    assert ours.score([y]) == pytest.approx(ref.score(y), abs=1e-7)
    assert ours.decode(y).log_prob == pytest.approx(ref.decode(y)[0], abs=1e-7)


def test_classifier_refuses_mismatched_labels():
    rng = np.random.default_rng(13)
    X = [[rng.normal(size=(8, 2))] for _ in range(4)]
    with pytest.raises(ShapeError, match="4 samples but y has 3"):
        HMMClassifier(MultiStreamHMM(2, n_iter=2)).fit(X, [0, 1, 0])
    with pytest.raises(ShapeError, match=r"y must be 1-D"):
        HMMClassifier(MultiStreamHMM(2, n_iter=2)).fit(X, np.zeros((4, 2)))
