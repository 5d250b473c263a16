"""RBMs: exact partition functions by brute force, conditionals, CD-k/PCD raise the exact likelihood
(networks and the scikit-learn estimators that train them)."""

import math

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError, ShapeError
from sklearn.exceptions import NotFittedError

from polymodal.representation.rbm import (
    BernoulliRBM,
    BernoulliRBMNetwork,
    GaussianBernoulliRBM,
    GaussianBernoulliRBMNetwork,
    all_binary_states,
)


def _random_rbm(cls, nv, nh, seed=0, scale=0.7):
    rbm = cls(nv, nh).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rbm.W.copy_(torch.randn(nv, nh, generator=g, dtype=torch.float64) * scale)
        rbm.b.copy_(torch.randn(nv, generator=g, dtype=torch.float64) * scale)
        rbm.c.copy_(torch.randn(nh, generator=g, dtype=torch.float64) * scale)
    return rbm


def test_bernoulli_log_partition_and_free_energy_match_joint_enumeration():
    for nv, nh in ((8, 6), (5, 9)):  # enumerate visible, then hidden
        rbm = _random_rbm(BernoulliRBMNetwork, nv, nh)
        V, H = all_binary_states(nv), all_binary_states(nh)
        e = torch.stack([rbm.energy(V, h.expand(len(V), nh)) for h in H], 1)  # (2^nv, 2^nh)
        assert rbm.log_partition() == pytest.approx(float(torch.logsumexp(-e.flatten(), 0)), abs=1e-10)
        torch.testing.assert_close(rbm.free_energy(V), -torch.logsumexp(-e, 1))
        # p(h | v) from the joint equals the factorised sigmoid conditional
        cond = torch.softmax(-e, 1) @ H
        torch.testing.assert_close(cond, rbm.hidden_probs(V))


def test_gaussian_bernoulli_partition_matches_numerical_integration():
    rbm = _random_rbm(GaussianBernoulliRBMNetwork, 2, 3, scale=0.5)
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    vv = torch.cartesian_prod(grid, grid)
    step = float(grid[1] - grid[0])
    log_z = float(torch.logsumexp(-rbm.free_energy(vv), 0)) + 2 * math.log(step)
    assert rbm.log_partition() == pytest.approx(log_z, abs=1e-6)
    # conditional mean of v given h is b + W h
    h = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(rbm.visible_mean(h), rbm.b + h @ rbm.W.T)


def _patterns(n=400, seed=0):
    rng = np.random.default_rng(seed)
    protos = np.array([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], float)
    X = protos[rng.integers(0, 3, n)]
    flip = rng.random(X.shape) < 0.05
    return np.where(flip, 1 - X, X)


@pytest.mark.parametrize("persistent,k", [(False, 1), (False, 3), (True, 1)])
def test_cd_and_pcd_increase_the_exact_log_likelihood(persistent, k):
    X = _patterns()
    history = [BernoulliRBMNetwork(8, 6, seed=1).exact_log_likelihood(X)]  # the estimator's initial network
    rbm = BernoulliRBM(n_components=6, max_epochs=5, lr=0.1, k=k, persistent=persistent, batch_size=20,
                       warm_start=True)
    for _ in range(4):  # first fit: initial weights and CD seeded with 1, then 2, 3, 4 (warm start)
        rbm.set_params(random_state=len(history)).fit(X)
        history.append(rbm.exact_log_likelihood(X))
    print(f"exact log-likelihood, persistent={persistent}, k={k}: {[round(h, 3) for h in history]}")
    assert history[-1] > history[0] + 1.0, history  # starts at ~ -8 log 2 = -5.5
    assert history[2] > history[0] and history[-1] > history[1]
    uniform = -8 * math.log(2)
    assert history[0] == pytest.approx(uniform, abs=0.1)


def test_gaussian_bernoulli_cd_increases_the_exact_log_likelihood():
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 2.0, -1.0], [-2.0, 0.0, 1.5]])
    X = centres[rng.integers(0, 2, 500)] + 0.4 * rng.normal(size=(500, 3))
    X = (X - X.mean(0)) / X.std(0)
    before = GaussianBernoulliRBMNetwork(3, 4, seed=0).exact_log_likelihood(X)
    rbm = GaussianBernoulliRBM(n_components=4, max_epochs=30, lr=0.05, k=1, batch_size=25, random_state=0)
    after = rbm.fit(X).exact_log_likelihood(X)
    print(f"Gaussian-Bernoulli exact log-likelihood {before:.3f} -> {after:.3f}")
    assert after > before + 0.3, (before, after)


def test_errors():
    with pytest.raises(ShapeError, match=r"expected shape \(n, 8\), got \(3, 7\)"):
        BernoulliRBMNetwork(8, 2).contrastive_divergence(np.zeros((3, 7)))
    with pytest.raises(ConfigError, match="2\\^30"):
        BernoulliRBMNetwork(30, 40).log_partition()
    with pytest.raises(NotFittedError):
        BernoulliRBM().transform(np.zeros((3, 7)))
    with pytest.raises(ConfigError, match="need k >= 1"):
        BernoulliRBM(k=0).fit(np.zeros((3, 7)))


def test_estimator_equals_network_trained_by_hand():
    """The estimator is the network plus CD with the same seed: identical weights."""
    X = _patterns(60)
    net = BernoulliRBMNetwork(8, 3, seed=5).contrastive_divergence(X, max_epochs=2, lr=0.1, batch_size=16, seed=5)
    est = BernoulliRBM(n_components=3, max_epochs=2, lr=0.1, batch_size=16, random_state=5).fit(X)
    np.testing.assert_array_equal(est.components_, net.W.detach().T.double().numpy())
    np.testing.assert_allclose(est.transform(X), net.hidden_features(X), rtol=1e-6)
