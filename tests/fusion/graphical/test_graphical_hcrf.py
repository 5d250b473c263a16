"""HCRF / multi-view HCRF / LDCRF vs brute-force enumeration of latent states (float64)."""

import itertools

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.fusion.graphical import (
    HCRF, HCRFNetwork, LatentDynamicCRF, LatentDynamicCRFNetwork, MultiViewHCRF, MultiViewHCRFNetwork,
)


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
    m = _randomise(MultiViewHCRFNetwork({"a": 2, "b": 1}, n_classes=2, n_hidden={"a": 2, "b": 3},
                                        topology=topology).double())
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
    m = _randomise(HCRFNetwork(2, n_classes=3, n_hidden=3).double(), 2)
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
    m = _randomise(LatentDynamicCRFNetwork({"a": 1, "b": 2}, n_labels=2, states_per_label=2).double(), 4)
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
    m = MultiViewHCRF(2, "linked", max_epochs=60, random_state=0).fit(X[:30], y[:30])
    assert (m.predict(X[30:]) == np.array(y[30:])).mean() >= 0.9
    seqs, labs = [], []
    for _ in range(12):
        lab = np.repeat(rng.integers(0, 2, 4), 5)
        seqs.append(rng.normal(scale=0.5, size=(20, 2)) + np.c_[2 * lab - 1, 1 - 2 * lab])
        labs.append(lab)
    ld = LatentDynamicCRF(2, max_epochs=50, random_state=0).fit(seqs[:8], labs[:8])
    pred = ld.predict(seqs[8:])
    assert np.mean(np.concatenate(pred) == np.concatenate(labs[8:])) >= 0.9


def test_hcrf_bad_input():
    with pytest.raises(ConfigError, match="topology"):
        MultiViewHCRFNetwork({"a": 1}, 2, 2, topology="star")
    two = [{"a": np.zeros((5, 1)), "b": np.zeros((5, 1))}] * 2
    with pytest.raises(ConfigError, match="topology"):
        MultiViewHCRF(2, topology="star").fit(two, [0, 1])
    m = MultiViewHCRF(2)
    with pytest.raises(ShapeError, match="same length"):
        m.fit([{"a": np.zeros((5, 1)), "b": np.zeros((4, 1))}], [0])
    with pytest.raises(ShapeError, match="empty sequence"):
        m.fit([{"a": np.zeros((0, 1)), "b": np.zeros((0, 1))}], [0])
    with pytest.raises(ShapeError, match="same number of samples"):
        m.fit([np.zeros((3, 5, 1)), np.zeros((2, 5, 1))], [0, 1, 0])
    with pytest.raises(ModalityError, match="missing view"):
        MultiViewHCRFNetwork({"a": 1, "b": 1}, 2, 2)({"a": torch.zeros(1, 3, 1)})
    with pytest.raises(ModalityError, match="missing view"):
        MultiViewHCRF(2, max_epochs=1).fit(two, [0, 1]).predict([{"a": np.zeros((5, 1))}])
    with pytest.raises(ConfigError, match="joint latent states"):
        MultiViewHCRFNetwork({"a": 1, "b": 1, "c": 1}, 2, 20)
    with pytest.raises(ConfigError, match="joint latent states"):
        MultiViewHCRF(20).fit([np.zeros((2, 3, 1))] * 3, [0, 1])
    with pytest.raises(ConfigError, match="batch_size"):
        HCRF(batch_size=8).fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ShapeError, match="expecting 2 features"):
        HCRF(max_epochs=1).fit(np.zeros((4, 3, 2)), [0, 1, 0, 1]).predict(np.zeros((4, 3, 1)))
    ld = LatentDynamicCRF(max_epochs=1)
    with pytest.raises(ShapeError, match=r"y\[1\]: expected one label per frame, shape \(4,\)"):
        ld.fit([np.zeros((3, 1)), np.zeros((4, 1))], [np.zeros(3), np.zeros(3)])
    with pytest.raises(NotFittedError):
        ld.predict([np.zeros((3, 1))])


def _lbfgs_reference(net, x, y, lengths, l2, **lbfgs):
    """One torch.optim.LBFGS call on the old objective (what fit ran before the shared loop)."""
    params = list(net.parameters())
    opt = torch.optim.LBFGS(params, line_search_fn="strong_wolfe", **lbfgs)

    def closure():
        opt.zero_grad()
        loss = -net.log_likelihood(x, y, lengths).sum() + 0.5 * l2 * sum((p**2).sum() for p in params)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.cat([p.detach().flatten() for p in params])


@pytest.mark.parametrize("max_epochs, max_fun", [(25, None), (40, 12), (200, None)])
def test_lbfgs_one_iteration_per_epoch_is_one_lbfgs_call(max_epochs, max_fun):
    # the shared loop runs L-BFGS one iteration per epoch; the parameters must be
    # those of a single torch LBFGS(max_iter=max_epochs, max_eval=max_fun) call:
    # the iteration cap, the evaluation budget (12: stops after a few iterations)
    # and convergence (200: the tolerance tests end it, n_iter_ < max_epochs)
    from polymodal.fusion.graphical._crf_estimator import pad

    rng = np.random.default_rng(0)
    y = np.arange(16) % 2
    X = [rng.normal(size=(int(rng.integers(3, 7)), 2)) + 0.5 * c for c in y]
    est = HCRF(n_hidden=2, max_epochs=max_epochs, max_fun=max_fun, l2=0.1, random_state=3).fit(X, y)
    x, lengths = pad(X)
    net = HCRFNetwork(2, 2, 2, random_state=3).double()
    budget = max_epochs * 5 // 4 if max_fun is None else max_fun
    ref = _lbfgs_reference(net, x, torch.as_tensor(y), lengths, 0.1, max_iter=max_epochs, max_eval=budget)
    got = torch.cat([p.detach().flatten() for p in est.network_.parameters()])
    torch.testing.assert_close(got, ref, atol=0, rtol=0)
    if max_epochs == 200:
        assert est.n_iter_ < 200 and len(est.loss_curve_) == est.n_iter_
    if max_fun == 12:
        assert est.n_iter_ < 12


def test_input_forms_give_the_same_model():
    rng = np.random.default_rng(1)
    a, b, y = rng.normal(size=(10, 4, 2)), rng.normal(size=(10, 4, 1)), np.arange(10) % 2
    kw = dict(n_hidden=2, max_epochs=5, random_state=0)
    p = MultiViewHCRF(**kw).fit([a, b], y).predict_proba([a, b])
    dicts = [{"view0": a[i], "view1": b[i]} for i in range(10)]
    for X in (dicts, {"view0": list(a), "view1": list(b)}):
        np.testing.assert_allclose(MultiViewHCRF(**kw).fit(X, y).predict_proba(X), p, rtol=0, atol=1e-12)
    # one view: the multi-view model with one chain is the HCRF
    one = MultiViewHCRF(**kw).fit([a], y).predict_proba([a])
    np.testing.assert_allclose(HCRF(**kw).fit(a, y).predict_proba(a), one, rtol=0, atol=1e-12)
    # LDCRF: a 3-D X, a list of sequences and one sequence (2-D) answer in their own form
    labels = (a[..., 0] > 0).astype(int)
    ld = LatentDynamicCRF(max_epochs=5, random_state=0).fit(a, labels)
    p3 = ld.predict_proba(a)
    assert p3.shape == (10, 4, 2) and ld.predict(a).shape == (10, 4)
    np.testing.assert_allclose(np.stack(ld.predict_proba(list(a))), p3, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ld.predict_proba(a[3]), p3[3], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(LatentDynamicCRF(max_epochs=5, random_state=0).fit(list(a), list(labels))
                                  .predict(a), ld.predict(a))


def test_hcrf_learns_with_a_first_order_optimiser_on_minibatches():
    # the shared loop's autograd path (Adam, minibatches of 8) on the two-view ramp task
    rng = np.random.default_rng(2)
    y = np.arange(48) % 2
    ramp = np.linspace(-1, 1, 10)[None, :, None]
    a = rng.normal(scale=0.3, size=(48, 10, 1)) + ramp * (y == 0)[:, None, None]
    b = rng.normal(scale=0.3, size=(48, 10, 1)) + ramp * (y == 1)[:, None, None]
    m = MultiViewHCRF(2, optimizer="adam", lr=0.1, batch_size=8, max_epochs=15, random_state=0)
    m.fit([a[:32], b[:32]], y[:32])
    assert m.n_iter_ == 15 and m.loss_curve_[-1] < 0.5 * m.loss_curve_[0]
    assert m.score([a[32:], b[32:]], y[32:]) >= 0.9


@pytest.mark.parametrize("module", ["hmm", "coupled", "factorial", "classifier", "hcrf", "ldcrf", "_bp"])
def test_docstring_examples(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(f"polymodal.fusion.graphical.{module}")).failed == 0
