"""Multimodal DBM: energy, partition function, mean-field and PCD against brute-force
enumeration on tiny models (the torch module); the estimator's API, missing-view inference
and joint features on mfeat."""

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from polymodal.data import load_dataset
from polymodal.data.splits import stratified_split
from sklearn.exceptions import NotFittedError

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation import MultimodalDBM, MultimodalDBMNetwork


def tiny(visible, scale, sizes=(3, 3), hidden=(2, 2), joint=2, seed=1):
    dbm = MultimodalDBMNetwork({"a": sizes[0], "b": sizes[1]}, visible=dict(zip("ab", visible)), hidden=list(hidden),
                               joint=joint, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    for p in [*dbm.W, *dbm.b]:
        p.data = torch.randn(p.shape, generator=g, dtype=torch.float64) * scale
    return dbm


def data(n=6, seed=0, gaussian_a=True):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 3)) if gaussian_a else rng.integers(0, 2, (n, 3)).astype(float)
    return {"a": a, "b": rng.integers(0, 2, (n, 3)).astype(float)}


def test_energy_is_the_hand_written_formula():
    dbm = tiny(("gaussian", "bernoulli"), 0.7)
    rng = np.random.default_rng(3)
    v_a, v_b = rng.normal(size=(4, 3)), rng.integers(0, 2, (4, 3)).astype(float)
    ha1, ha2, hb1, hb2, hj = (rng.integers(0, 2, (4, 2)).astype(float) for _ in range(5))
    P = {name: p.detach().numpy() for name, p in zip(["Wa1", "Wa2", "Wb1", "Wb2", "Ua", "Ub"], dbm.W)}
    B = {name: p.detach().numpy() for name, p in zip(["ba", "ca1", "ca2", "bb", "cb1", "cb2", "cj"], dbm.b)}
    expected = (0.5 * ((v_a - B["ba"]) ** 2).sum(1) - v_b @ B["bb"]
                - np.einsum("ni,ij,nj->n", v_a, P["Wa1"], ha1) - np.einsum("ni,ij,nj->n", ha1, P["Wa2"], ha2)
                - np.einsum("ni,ij,nj->n", v_b, P["Wb1"], hb1) - np.einsum("ni,ij,nj->n", hb1, P["Wb2"], hb2)
                - np.einsum("ni,ij,nj->n", ha2, P["Ua"], hj) - np.einsum("ni,ij,nj->n", hb2, P["Ub"], hj)
                - ha1 @ B["ca1"] - ha2 @ B["ca2"] - hb1 @ B["cb1"] - hb2 @ B["cb2"] - hj @ B["cj"])
    state = [torch.as_tensor(x) for x in (v_a, ha1, ha2, v_b, hb1, hb2, hj)]
    np.testing.assert_allclose(dbm.energy(state).numpy(), expected, rtol=1e-12)


def test_log_partition_equals_brute_force_over_every_state():
    dbm = tiny(("bernoulli", "bernoulli"), 1.0)  # 6 visible + 10 hidden bits: all 2^16 joint states
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=16)), dtype=torch.float64)
    parts = list(torch.split(states, [size for _, size, _, _ in dbm.layers], 1))
    assert dbm.log_partition() == pytest.approx(float(torch.logsumexp(-dbm.energy(parts), 0)), rel=1e-12)
    # the exact likelihood is normalised over the 2^6 visible configurations
    v = states[::2 ** 10, :6][:, [0, 1, 2, 3, 4, 5]].unique(dim=0).numpy()
    assert len(v) == 64
    log_p = dbm.exact_log_likelihood({"a": v[:, :3], "b": v[:, 3:]})
    assert float(torch.logsumexp(log_p, 0)) == pytest.approx(0, abs=1e-12)


def test_gaussian_log_partition_integrates_to_one_by_quadrature():
    dbm = MultimodalDBMNetwork({"a": 1, "b": 2}, visible={"a": "gaussian", "b": "bernoulli"}, hidden=[2, 1], joint=1,
                               dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    for p in [*dbm.W, *dbm.b]:
        p.data = torch.randn(p.shape, generator=g, dtype=torch.float64)
    grid = np.linspace(-15, 15, 6001)
    total = 0.0
    for vb in itertools.product([0.0, 1.0], repeat=2):
        logp = dbm.exact_log_likelihood({"a": grid[:, None], "b": np.tile(vb, (len(grid), 1))}).numpy()
        total += np.trapezoid(np.exp(logp), grid)
    assert total == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("scale, tol_marginal, tol_gap", [(0.2, 0.01, 0.1), (1.0, None, None)])
def test_mean_field_against_exact_posterior(scale, tol_marginal, tol_gap):
    dbm = tiny(("gaussian", "bernoulli"), scale)
    X = data()
    mu = dbm.mean_field(X, n_iter=100)
    elbo_plus_log_z = -dbm.mean_field_free_energy(mu)
    exact = -dbm.free_energy(X)  # log p(v) + log Z
    assert (elbo_plus_log_z <= exact + 1e-12).all()  # the ELBO bounds the log-likelihood
    if tol_marginal is not None:  # weak coupling: mean-field is nearly exact
        assert float((exact - elbo_plus_log_z).max()) < tol_gap
        for m_exact, m_mf in zip(dbm.exact_posterior_marginals(X), mu):
            if m_exact is not None:
                assert float((m_exact - m_mf).abs().max()) < tol_marginal
        # fixed point: one more sweep changes nothing
        again = dbm.mean_field(X, n_iter=1, state=mu)
        for x, y in zip(mu, again):
            torch.testing.assert_close(x, y, atol=1e-10, rtol=0)


def test_mean_field_sweeps_never_decrease_the_elbo():
    dbm = tiny(("gaussian", "bernoulli"), 1.5, seed=4)  # strongly coupled: mean-field moves a lot
    X = data(n=20)
    state = dbm.mean_field(X, n_iter=0)
    xs = dbm._inputs(X)
    clamped = {dbm.visible_index[m] for m in xs}
    values = [-dbm.mean_field_free_energy(state)]
    for _ in range(10):
        for i in range(len(dbm.layers)):  # single-layer updates: each is one coordinate-ascent step
            if i not in clamped:
                state[i] = dbm._mean(i, state)
                values.append(-dbm.mean_field_free_energy(state))
    diffs = torch.stack(values[1:]) - torch.stack(values[:-1])
    assert float(diffs.min()) > -1e-10
    assert float(values[-1].sum() - values[0].sum()) > 1e-3


def test_pcd_gradient_matches_exact_model_term_in_expectation():
    dbm = tiny(("gaussian", "bernoulli"), 0.5, seed=2)
    X = data(n=8)
    exact = dbm.gradient(X, data_term="exact", model_term="exact")
    dbm.gradient(X, data_term="exact", model_term="pcd", n_gibbs=50, n_chains=2000, seed=0)  # burn in the chains
    estimates = [dbm.gradient(X, data_term="exact", model_term="pcd", n_gibbs=1, seed=k + 1) for k in range(60)]
    mean = [torch.stack(e).mean(0) for e in zip(*estimates)]
    for name, e, m in zip([f"W{k}" for k in range(len(dbm.W))] + [f"b{k}" for k in range(len(dbm.b))], exact, mean):
        assert float((e - m).abs().max()) < 0.02, name
    # the mean-field data term is close to the exact one on this weakly coupled model
    mf = dbm.gradient(X, data_term="mean_field", model_term="exact")
    assert max(float((a - b).abs().max()) for a, b in zip(mf, exact)) < 0.05


def test_bad_input_names_the_modality():
    dbm = MultimodalDBM(visible={"b": "bernoulli"}, hidden=[2], joint=2, max_epochs=1, pretrain_epochs=1,
                        random_state=0)
    with pytest.raises(ModalityError, match="missing \\['b'\\]"):
        dbm.fit({"a": np.zeros((5, 3))})
    with pytest.raises(ModalityError, match="fit needs every modality"):
        MultimodalDBM().fit([np.zeros((5, 3)), None])
    with pytest.raises(ShapeError, match="'b' is Bernoulli"):
        dbm.fit({"a": np.zeros((5, 3)), "b": np.full((5, 2), 2.0)})
    with pytest.raises(NotFittedError):
        dbm.transform({"a": np.zeros((5, 3))})
    dbm.fit({"a": np.zeros((5, 3)), "b": np.zeros((5, 2))})
    with pytest.raises(ShapeError, match=r"'a': expected shape \(n, 3\), got \(5, 4\)"):
        dbm.transform({"a": np.zeros((5, 4)), "b": np.zeros((5, 2))})
    with pytest.raises(ModalityError, match="'c'"):
        dbm.generate({"a": np.zeros((5, 3))}, "c")
    with pytest.raises(ConfigError, match="visible\\['a'\\]"):
        MultimodalDBM(visible={"a": "poisson"}).fit({"a": np.zeros((5, 3))})
    with pytest.raises(ConfigError, match="visible\\['a'\\]"):
        MultimodalDBMNetwork({"a": 3}, visible={"a": "poisson"})


def test_refit_starts_from_the_same_initialisation():
    X = data(n=40, seed=5)
    dbm = MultimodalDBM(visible={"a": "gaussian", "b": "bernoulli"}, hidden=[4, 3], joint=2,
                        max_epochs=3, pretrain_epochs=2, batch_size=10, n_chains=10, random_state=0)
    first = dbm.fit(X).transform(X)
    assert not hasattr(MultimodalDBM(), "network_")
    np.testing.assert_array_equal(dbm.fit(X).transform(X), first)
    gen = dbm.generate({"a": X["a"]}, "b", method="gibbs", n_gibbs=5, burn_in=2)
    assert gen.shape == (40, 3) and 0 <= gen.min() and gen.max() <= 1
    # a sequence of views is the same model as the dict (views named view0, view1)
    seq = MultimodalDBM(visible=["gaussian", "bernoulli"], hidden=[4, 3], joint=2, max_epochs=3, pretrain_epochs=2,
                        batch_size=10, n_chains=10, random_state=0).fit([X["a"], X["b"]])
    np.testing.assert_array_equal(seq.transform([X["a"], X["b"]]), first)
    np.testing.assert_array_equal(seq.generate([X["a"], None], 1, method="gibbs", n_gibbs=5, burn_in=2), gen)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_gpu_and_matches_the_cpu():
    X = data(n=30, seed=7)
    kw = dict(visible={"a": "gaussian", "b": "bernoulli"}, hidden=[4, 3], joint=2, max_epochs=0, pretrain_epochs=2,
              batch_size=10, dtype="float64", random_state=0)
    cpu = MultimodalDBM(**kw).fit(X)
    gpu = MultimodalDBM(device="cuda", **kw).fit(X)
    assert gpu.network_.W[0].device.type == "cuda"
    np.testing.assert_allclose(gpu.transform(X), cpu.transform(X), atol=1e-5)
    assert gpu.generate({"a": X["a"]}, "b", method="gibbs", n_gibbs=3, burn_in=1).shape == (30, 3)


@pytest.fixture(scope="module")
def mfeat():
    ds = load_dataset("mfeat")
    sp = stratified_split(ds.target, val_size=0.2, test_size=0.2, seed=0)
    tr = np.random.default_rng(0).permutation(sp.train)[:600]
    te = sp.test[::2]
    fou = np.asarray(ds.modalities["fou"])
    fou = (fou - fou[tr].mean(0)) / fou[tr].std(0)
    pix = np.asarray(ds.modalities["pix"]) / 6.0  # pixel averages 0..6 -> [0, 1]
    return [fou[tr], pix[tr]], [fou[te], pix[te]], ds.target[tr], ds.target[te]  # views: 0 = fou, 1 = pix


def test_joint_training_infers_a_missing_view_and_classifies_on_mfeat(mfeat):
    train, test, ytr, yte = mfeat
    kw = dict(visible=["gaussian", "bernoulli"], hidden=[[64, 64], [128, 64]], joint=64,
              pretrain_epochs=20, lr=0.005, n_chains=100, n_mean_field=5, random_state=0)
    pretrained = MultimodalDBM(max_epochs=0, **kw).fit(train)
    dbm = MultimodalDBM(max_epochs=15, **kw).fit(train)
    mse = {name: float(((model.generate([None, test[1]], 0) - test[0]) ** 2).mean())
           for name, model in (("pretrained", pretrained), ("dbm", dbm))}
    mean_imputation = float(((test[0] - train[0].mean(0)) ** 2).mean())
    acc = LogisticRegression(max_iter=2000).fit(dbm.transform(train), ytr).score(dbm.transform(test), yte)
    print(f"fou from pix: MSE {mse} vs mean imputation {mean_imputation:.3f}; joint features accuracy {acc:.3f}")
    assert mse["dbm"] < 0.9 * mean_imputation  # pix carries fou's information through the shared layer
    assert mse["dbm"] < mse["pretrained"] - 0.05  # joint (mean-field + PCD) training is what makes it so
    assert acc > 0.85 and math.isfinite(dbm.history_[-1])
