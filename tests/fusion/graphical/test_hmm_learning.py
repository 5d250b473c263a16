"""The HMM classifiers learn, by EM, tasks only their dynamics solve: the
order of two regimes (a bag of frames is at chance), and for the coupled
HMM which stream leads the other (independent per-stream chains, the same
model without coupling, are at chance)."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.fusion.graphical import CoupledHMM, HMMClassifier, MultiStreamHMM


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
