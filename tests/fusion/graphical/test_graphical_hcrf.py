"""HCRF / multi-view HCRF / LDCRF vs brute-force enumeration of latent states (float64)."""

import itertools

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.fusion.graphical import HCRF, LatentDynamicCRF, MultiViewHCRF


def _randomise(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m


def _brute_mv_scores(m, x, T):
    """log sum_h exp psi(y, h, x) by enumerating every latent sequence of every view."""
    views = m.views
    H = [m.n_hidden[v] for v in views]
    out = []
    for y in range(m.n_classes):
        terms = []
        for seq in itertools.product(itertools.product(*[range(k) for k in H]), repeat=T):
            psi = 0.0
            for t in range(T):
                for i, v in enumerate(views):
                    h = seq[t][i]
                    psi = psi + m.obs[v][h] @ x[v][0, t] + m.label[v][y, h]
                    if t > 0:
                        psi = psi + m.within[v][y, seq[t - 1][i], h]
                for v, w in m.pairs:
                    i, j = views.index(v), views.index(w)
                    if m.topology == "linked":
                        psi = psi + m.cross[f"{v}->{w}"][y, seq[t][i], seq[t][j]]
                    elif t > 0:
                        psi = psi + m.cross[f"{v}->{w}"][y, seq[t - 1][i], seq[t][j]]
            terms.append(psi)
        out.append(torch.logsumexp(torch.stack(terms), 0))
    return torch.stack(out)


@pytest.mark.parametrize("topology", ["linked", "coupled"])
def test_mv_hcrf_value_and_gradient_match_brute_force(topology):
    m = _randomise(MultiViewHCRF({"a": 2, "b": 1}, n_classes=2, n_hidden={"a": 2, "b": 3}, topology=topology).double())
    g = torch.Generator().manual_seed(1)
    T = 3
    x = {"a": torch.randn(1, T, 2, generator=g, dtype=torch.float64),
         "b": torch.randn(1, T, 1, generator=g, dtype=torch.float64)}
    y = torch.tensor([1])
    ll = m.log_likelihood(x, y)[0]
    grads = torch.autograd.grad(ll, list(m.parameters()))
    scores = _brute_mv_scores(m, x, T)
    ref = scores[1] - torch.logsumexp(scores, 0)
    ref_grads = torch.autograd.grad(ref, list(m.parameters()))
    assert ll.item() == pytest.approx(ref.item(), abs=1e-12)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_hcrf_gradcheck_and_padding():
    m = _randomise(HCRF(2, n_classes=3, n_hidden=3).double(), 2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 3])
    assert torch.autograd.gradcheck(lambda z: m(z, lengths), (x,))
    # a padded sample scores like the same sample alone, whatever the padding holds
    alone = m(x[1:, :3])
    torch.testing.assert_close(m(x, lengths)[1], alone[0])
    hc = _brute_mv_scores(m, {"x": x[:1].detach()}, 5)
    torch.testing.assert_close(m(x[:1])[0], hc)


def test_ldcrf_matches_brute_force():
    m = _randomise(LatentDynamicCRF({"a": 1, "b": 2}, n_labels=2, states_per_label=2).double(), 4)
    g = torch.Generator().manual_seed(5)
    T = 4
    x = {"a": torch.randn(1, T, 1, generator=g, dtype=torch.float64),
         "b": torch.randn(1, T, 2, generator=g, dtype=torch.float64)}
    y = torch.tensor([[0, 1, 1, 0]])
    xx = torch.cat([x["a"], x["b"]], -1)[0]
    paths = list(itertools.product(range(4), repeat=T))
    pots = torch.stack([sum(m.obs[h] @ xx[t] + m.bias[h] for t, h in enumerate(p))
                        + sum(m.trans[p[t - 1], p[t]] for t in range(1, T)) for p in paths])
    logz = torch.logsumexp(pots, 0)
    ok = torch.tensor([all(h // 2 == int(y[0, t]) for t, h in enumerate(p)) for p in paths])
    ref = torch.logsumexp(pots[ok], 0) - logz
    ll = m.log_likelihood(x, y)[0]
    assert ll.item() == pytest.approx(ref.item(), abs=1e-12)
    for a, b in zip(torch.autograd.grad(ll, list(m.parameters())), torch.autograd.grad(ref, list(m.parameters()))):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    w = torch.exp(pots - logz).detach()
    marg = m.frame_log_marginals(x).exp()[0]
    for t in range(T):
        for lab in range(2):
            expect = sum(wi for p, wi in zip(paths, w) if p[t] // 2 == lab)
            assert marg[t, lab].item() == pytest.approx(float(expect), abs=1e-12)


def test_hcrf_and_ldcrf_learn_toy_tasks():
    rng = np.random.default_rng(0)
    # label = which view carries a rising ramp: needs both views
    X, y = [], []
    for i in range(40):
        c = i % 2
        ramp = np.linspace(-1, 1, 12)[:, None]
        a = rng.normal(scale=0.3, size=(12, 1)) + (ramp if c == 0 else 0)
        b = rng.normal(scale=0.3, size=(12, 1)) + (ramp if c == 1 else 0)
        X.append({"a": a, "b": b})
        y.append(c)
    m = MultiViewHCRF({"a": 1, "b": 1}, 2, 2, "linked").double().fit(X[:30], y[:30], max_iter=60)
    assert (m.predict(X[30:]) == np.array(y[30:])).mean() >= 0.9
    seqs, labs = [], []
    for _ in range(12):
        lab = np.repeat(rng.integers(0, 2, 4), 5)
        seqs.append(rng.normal(scale=0.5, size=(20, 2)) + np.c_[2 * lab - 1, 1 - 2 * lab])
        labs.append(lab)
    ld = LatentDynamicCRF(2, 2, 2).double().fit(seqs[:8], labs[:8], max_iter=50)
    pred = ld.predict(seqs[8:])
    assert np.mean(np.concatenate(pred) == np.concatenate(labs[8:])) >= 0.9


def test_hcrf_bad_input():
    with pytest.raises(ConfigError, match="topology"):
        MultiViewHCRF({"a": 1}, 2, 2, topology="star")
    m = MultiViewHCRF({"a": 1, "b": 1}, 2, 2)
    with pytest.raises(ShapeError, match="same length"):
        m.fit([{"a": np.zeros((5, 1)), "b": np.zeros((4, 1))}], [0])
    with pytest.raises(ShapeError, match="empty sequence"):
        m.fit([{"a": np.zeros((0, 1)), "b": np.zeros((0, 1))}], [0])
    with pytest.raises(ModalityError, match="missing view"):
        m({"a": torch.zeros(1, 3, 1)})
    with pytest.raises(ConfigError, match="joint latent states"):
        MultiViewHCRF({"a": 1, "b": 1, "c": 1}, 2, 20)


@pytest.mark.parametrize("module", ["hmm", "coupled", "factorial", "classifier", "hcrf", "ldcrf", "_bp"])
def test_docstring_examples(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(f"polymodal.fusion.graphical.{module}")).failed == 0
