"""The HMM classifiers learn, by EM, tasks only their dynamics solve: the
order of two regimes (a bag of frames is at chance), and for the coupled
HMM which stream leads the other (independent per-stream chains, the same
model without coupling, are at chance)."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.fusion.graphical import CoupledHMM, FactorialHMM, HMMClassifier, MultiStreamHMM


def _regime_order(n, seed, T=20):
    """Two streams, two regimes (means (+1, -1) and (-1, +1)); every sequence
    spends a random share of its frames in each. Class 0: regime A first,
    class 1: regime B first. Frame statistics do not depend on the class."""
    rng = np.random.default_rng(seed)
    X, y = [], rng.integers(0, 2, n)
    for c in y:
        cut = int(rng.integers(5, T - 4))
        first, second = ((1.0, -1.0), (-1.0, 1.0))[::1 if c == 0 else -1]
        mean = np.r_[np.tile(first, (cut, 1)), np.tile(second, (T - cut, 1))]
        X.append([mean[:, :1] + 0.8 * rng.standard_normal((T, 1)), mean[:, 1:] + 0.8 * rng.standard_normal((T, 1))])
    return X, y


def test_hmm_classifier_learns_regime_order_that_a_bag_of_frames_misses():
    """HMMClassifier(MultiStreamHMM(2)) >= 0.95 test accuracy; a logistic
    regression on each sequence's per-stream mean and standard deviation
    (order-free statistics) < 0.65."""
    from sklearn.linear_model import LogisticRegression

    X, y = _regime_order(40, 0)
    Xt, yt = _regime_order(200, 1)
    clf = HMMClassifier(MultiStreamHMM(2, n_iter=20)).fit(X, y)
    acc = float(np.mean(clf.predict(Xt) == yt))

    def stats(X):
        return np.array([np.r_[[s.mean() for s in x], [s.std() for s in x]] for x in X])

    bag = LogisticRegression().fit(stats(X), y).score(stats(Xt), yt)
    print(f"HMM classifier {acc:.3f}, bag of frames {bag:.3f}")
    assert bag < 0.65
    assert acc >= 0.95


def _lead_lag(n, seed, T=24, switch=0.2):
    """Two one-feature streams (means -1 / +1 per state, noise 0.5) copying
    one stationary two-state telegraph chain ``s`` one step apart. Class 0:
    b follows a (``b_t = a_{t-1}``); class 1: a follows b. Each stream alone is
    the same stationary chain in both classes; only the cross-stream timing
    tells them apart."""
    rng = np.random.default_rng(seed)
    X, y = [], rng.integers(0, 2, n)
    for c in y:
        flips = rng.random(T) < switch
        s = (rng.integers(0, 2) + np.r_[0, np.cumsum(flips)]) % 2 * 2.0 - 1.0  # T + 1 states
        lead, follow = s[1:], s[:-1]
        a, b = (lead, follow) if c == 0 else (follow, lead)
        X.append([a[:, None] + 0.5 * rng.standard_normal((T, 1)), b[:, None] + 0.5 * rng.standard_normal((T, 1))])
    return X, y


def test_coupled_hmm_learns_which_stream_leads_where_uncoupled_chains_cannot():
    """Coupled HMM classifier >= 0.9 test accuracy; the same model with
    ``coupling="none"`` (independent chains: p(x) = p(a) p(b)) < 0.65."""
    X, y = _lead_lag(40, 0)
    Xt, yt = _lead_lag(200, 1)
    accs = {}
    for coupling in ("full", "none"):
        clf = HMMClassifier(CoupledHMM(2, coupling=coupling, n_iter=25)).fit(X, y)
        accs[coupling] = float(np.mean(clf.predict(Xt) == yt))
    print(accs)
    assert accs["none"] < 0.65
    assert accs["full"] >= 0.9


def _sample_factorial(n, T, seed):
    """Two independent sticky 2-state chains; y_t = W1 s1_t + W2 s2_t + noise
    (0.4): four mean levels (0, 0), (3, 0), (0, 3), (3, 3) from two binary causes."""
    rng = np.random.default_rng(seed)
    W = [np.array([[0.0, 3.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 3.0]])]
    A = np.array([[0.9, 0.1], [0.1, 0.9]])
    X = []
    for _ in range(n):
        y = 0.4 * rng.standard_normal((T, 2))
        for Wm in W:
            s = [int(rng.integers(2))]
            for _ in range(T - 1):
                s.append(int(rng.random() < A[s[-1], 1]))
            y += Wm[:, s].T
        X.append(y)
    return X, W, A


def test_factorial_hmm_learns_two_independent_causes_a_single_chain_of_their_size_cannot():
    """FactorialHMM((2, 2)) fitted by EM scores held-out data within 0.05 nats
    per frame of the generating parameters and recovers the four joint means
    (within 0.25); an HMM with one chain of the same size (2 states) is at
    least 0.5 nats per frame worse."""
    X, W, A = _sample_factorial(20, 40, 0)
    Xt, _, _ = _sample_factorial(20, 40, 1)
    frames = sum(len(x) for x in Xt)
    fhmm = FactorialHMM((2, 2), n_iter=60, random_state=0).fit(X)
    true = FactorialHMM((2, 2)).set_params_manual([np.full(2, 0.5)] * 2, [A, A], W, np.full(2, 0.16))
    hmm = MultiStreamHMM(2, n_iter=60).fit([[x] for x in X])
    ll_f, ll_true, ll_hmm = fhmm.score(Xt) / frames, true.score(Xt) / frames, hmm.score([[x] for x in Xt]) / frames
    print(f"per-frame held-out log-likelihood: factorial {ll_f:.3f}, generating {ll_true:.3f}, 2-state HMM {ll_hmm:.3f}")
    assert ll_f >= ll_true - 0.05
    assert ll_hmm <= ll_f - 0.5
    means = np.array([fhmm.W_[0][:, i] + fhmm.W_[1][:, j] for i in range(2) for j in range(2)])
    want = np.array([[0, 0], [3, 0], [0, 3], [3, 3]], float)
    assert max(np.abs(means - w).sum(1).min() for w in want) < 0.25


def test_hcrf_learns_regime_order_that_a_bag_of_frames_misses():
    """The discriminative counterpart (Quattoni et al. 2007): an HCRF with 3
    hidden states trained on the regime-order task (frames of both streams
    concatenated) reaches >= 0.9 test accuracy where order-free statistics are
    at chance (first test)."""
    from polymodal.fusion.graphical import HCRF

    X, y = _regime_order(40, 0)
    Xt, yt = _regime_order(200, 1)
    cat = lambda X: [np.concatenate(x, 1) for x in X]  # noqa: E731
    m = HCRF(n_hidden=3, max_epochs=25, random_state=0).fit(cat(X), y)
    acc = float(np.mean(m.predict(cat(Xt)) == yt))
    print(f"HCRF {acc:.3f}")
    assert acc >= 0.9
