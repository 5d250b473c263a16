"""Robust fusion: temperature scaling recovers a known temperature, ECE by brute force, the calibrated
product of experts in closed form, gates that learn to switch off a corrupted modality, the GMU."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ModalityError, ShapeError
from polymodal.fusion.robust import (
    CalibratedProductOfExperts,
    GatedExpertFusion,
    GatedFusion,
    expected_calibration_error,
    fit_temperature,
    top_class_log_odds,
)
from polymodal.core.registry import build


def test_fit_temperature_recovers_the_generating_temperature():
    g = torch.Generator().manual_seed(0)
    logits = 4.0 * torch.randn(20000, 5, generator=g)
    target = torch.multinomial(F.softmax(logits / 2.5, 1), 1, generator=g)[:, 0]  # labels drawn at T = 2.5
    assert fit_temperature(logits, target) == pytest.approx(2.5, rel=0.05)
    with pytest.raises(ShapeError):
        fit_temperature(logits, target[:10])


def test_ece_matches_hand_computation():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    target = np.array([0, 1, 1, 1])
    # 2 bins: [0, .5) empty... confidences .9, .8, .7, .55 all in bin 1 -> |acc 3/4 - mean conf .7375|
    assert expected_calibration_error(probs, target, n_bins=2) == pytest.approx(abs(0.75 - 0.7375))
    # 10 bins: .9 (right), .8 (wrong), .7 (right), .55 (right), one per bin
    assert expected_calibration_error(probs, target, n_bins=10) == pytest.approx((0.1 + 0.8 + 0.3 + 0.45) / 4)


def test_calibrated_product_of_experts_closed_form_and_missing():
    g = torch.Generator().manual_seed(1)
    za, zb = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    poe = CalibratedProductOfExperts(["a", "b"])
    poe.log_temperature[:] = torch.log(torch.tensor([2.0, 0.5]))
    expected = F.softmax(za, 1) ** 0.5 * F.softmax(zb, 1) ** 2.0
    expected = expected / expected.sum(1, keepdim=True)
    torch.testing.assert_close(poe({"a": za, "b": zb}).exp(), expected)
    present = {"b": torch.tensor([True, False, True, False, True, True])}
    out = poe({"a": za, "b": zb}, present).exp()
    torch.testing.assert_close(out[1], F.softmax(za[1] / 2.0, 0))  # b missing: the calibrated a expert alone
    with pytest.raises(ModalityError, match="'c'"):
        poe({"a": za, "b": zb}, {"c": torch.ones(6, dtype=torch.bool)})
    # fit: a sharpened expert gets T > 1
    many = 2.0 * torch.randn(5000, 4, generator=g)
    target = torch.multinomial(F.softmax(many, 1), 1, generator=g)[:, 0]
    poe.fit({"a": 3.0 * many, "b": many}, target)
    assert poe.temperatures["a"] == pytest.approx(3.0, rel=0.1)
    assert poe.temperatures["b"] == pytest.approx(1.0, rel=0.1)


def _corrupted_task(n, g):
    """Two modalities that both carry the label; in half the samples modality b is replaced by a
    confident wrong expert, visible only in b's features (a corruption flag)."""
    y = torch.randint(0, 5, (n,), generator=g)
    za = 1.5 * F.one_hot(y, 5).float() + torch.randn(n, 5, generator=g)
    zb = 3.0 * F.one_hot(y, 5).float() + 0.5 * torch.randn(n, 5, generator=g)
    bad = torch.rand(n, generator=g) < 0.5
    zb[bad] = 6.0 * F.one_hot((y[bad] + 1) % 5, 5).float()
    feats = {"a": torch.randn(n, 3, generator=g), "b": torch.cat([bad.float()[:, None], torch.randn(n, 2, generator=g)], 1)}
    return feats, {"a": za, "b": zb}, y, bad


def _fit_nll(fusion, feats, logits, y, steps=150):
    """Full-batch Adam (lr 1e-2) on the fused negative log-likelihood."""
    opt = torch.optim.Adam(fusion.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.nll_loss(fusion(feats, logits), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_gated_experts_learn_to_switch_off_a_corrupted_modality():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    feats, logits, y, bad = _corrupted_task(2000, g)
    fusion = GatedExpertFusion({"a": 3, "b": 3}, 5, hidden=16)
    poe = CalibratedProductOfExperts(["a", "b"])
    torch.testing.assert_close(fusion(feats, logits), poe(logits))  # zero-initialised gate: the plain product
    _fit_nll(fusion, feats, logits, y)
    tf, tl, ty, tbad = _corrupted_task(2000, g)
    acc_gated = float((fusion(tf, tl).argmax(1) == ty).float().mean())
    acc_poe = float((poe(tl).argmax(1) == ty).float().mean())
    acc_a = float((tl["a"].argmax(1) == ty).float().mean())
    assert acc_gated > max(acc_poe, acc_a) + 0.1
    gates = fusion.gates(tf, tl).detach()
    assert float(gates[tbad, 1].mean()) < 0.2 < float(gates[~tbad, 1].mean())
    missing = fusion(tf, tl, {"b": torch.zeros(2000, dtype=torch.bool)})
    assert torch.equal(missing.argmax(1), tl["a"].argmax(1))  # b missing: a's decision


def test_gated_linear_pool_closed_form_missing_and_learning():
    """pool="linear": untrained it is the mean of the calibrated experts' probabilities; with given gates
    it is sum_m w_m p_m, w = g / sum g (closed form); a missing modality drops out exactly, none present
    gives the uniform distribution, gradients stay finite; and trained on the corrupted task it switches
    the corrupted expert off as the log-linear pool does, while a confidently wrong expert at the same
    weight cannot veto the other's answer."""
    from polymodal.errors import ConfigError

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    feats, logits, y, bad = _corrupted_task(400, g)
    fusion = GatedExpertFusion({"a": 3, "b": 3}, 5, hidden=16, pool="linear").set_temperatures({"a": 2.0, "b": 0.5})
    pa, pb = F.softmax(logits["a"] / 2.0, 1), F.softmax(logits["b"] / 0.5, 1)
    torch.testing.assert_close(fusion(feats, logits).exp(), (pa + pb) / 2)
    with torch.no_grad():  # gates 2 sigmoid(z): bias (0, log 3) gives g = (1, 1.5), weights (0.4, 0.6)
        fusion.gate[-1].bias.copy_(torch.tensor([0.0, float(np.log(3.0))]))
    torch.testing.assert_close(fusion(feats, logits).exp(), 0.4 * pa + 0.6 * pb)
    only_a = fusion(feats, logits, {"b": torch.zeros(400, dtype=torch.bool)})
    torch.testing.assert_close(only_a, F.log_softmax(logits["a"] / 2.0, 1))
    none = {"a": torch.zeros(400, dtype=torch.bool), "b": torch.zeros(400, dtype=torch.bool)}
    torch.testing.assert_close(fusion(feats, logits, none), torch.full((400, 5), -float(np.log(5))))
    present = {"b": torch.arange(400) % 2 == 0}
    F.nll_loss(fusion(feats, logits, present), y).backward()
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters())
    with pytest.raises(ConfigError, match="log-linear"):
        fusion.expert_log_probs(feats, logits)
    with pytest.raises(ConfigError, match="pool"):
        GatedExpertFusion({"a": 3, "b": 3}, 5, pool="geometric")
    # no veto: a sure, wrong b (p 0.999 on class 1) at weight 1/2 against a sure a (0.9 on class 0)
    za, zb = torch.log(torch.tensor([[0.9, 0.025, 0.025, 0.025, 0.025]])), torch.tensor([[0.0, 12.0, 0, 0, 0]])
    h = {"a": torch.zeros(1, 3), "b": torch.zeros(1, 3)}
    with torch.no_grad():
        linear = GatedExpertFusion({"a": 3, "b": 3}, 5, pool="linear")(h, {"a": za, "b": zb})
        loglinear = GatedExpertFusion({"a": 3, "b": 3}, 5)(h, {"a": za, "b": zb})
    assert int(linear.argmax()) == 1 and float(linear.exp()[0, 0]) > 0.44  # a keeps its half of the mass
    assert float(loglinear.exp()[0, 0]) < 1e-3  # the product: b vetoes class 0
    trained = GatedExpertFusion({"a": 3, "b": 3}, 5, hidden=16, pool="linear")
    train_f, train_l, train_y, _ = _corrupted_task(2000, g)
    _fit_nll(trained, train_f, train_l, train_y)
    tf, tl, ty, tbad = _corrupted_task(2000, g)
    acc = float((trained(tf, tl).argmax(1) == ty).float().mean())
    acc_mean = float(((F.softmax(tl["a"], 1) + F.softmax(tl["b"], 1)).argmax(1) == ty).float().mean())
    assert acc > acc_mean + 0.1
    w = trained.gates(tf, tl).detach()
    w = w / w.sum(1, keepdim=True)
    assert float(w[tbad, 1].mean()) < 0.2 < float(w[~tbad, 1].mean())


def test_gmu_gates_missing_modality_and_learns_per_sample_routing():
    torch.manual_seed(0)
    fusion = build("fusion", {"name": "gated", "out_features": 8}, in_features={"a": 2, "b": 2})
    assert isinstance(fusion, GatedFusion)
    x = {"a": torch.randn(4, 2), "b": torch.randn(4, 2)}
    out = fusion(x, {"b": torch.zeros(4, dtype=torch.bool)})
    torch.testing.assert_close(out, torch.tanh(fusion.proj["a"](x["a"])))  # gate 1 on a, 0 on b
    assert torch.equal(fusion(x, {"a": torch.zeros(4, dtype=torch.bool), "b": torch.zeros(4, dtype=torch.bool)}),
                       torch.zeros(4, 8))
    # routing task: a flag in a says whether a's or b's value is the label
    g = torch.Generator().manual_seed(0)
    n = 1500
    flag = torch.rand(n, generator=g) < 0.5
    va, vb = torch.randn(n, generator=g), torch.randn(n, generator=g)
    y = (torch.where(flag, va, vb) > 0).long()
    x = {"a": torch.stack([flag.float() * 4 - 2, va], 1), "b": torch.stack([vb, torch.zeros(n)], 1)}
    head = torch.nn.Linear(8, 2)
    opt = torch.optim.Adam(list(fusion.parameters()) + list(head.parameters()), lr=2e-2)
    for _ in range(300):
        loss = F.cross_entropy(head(fusion(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float((head(fusion(x)).argmax(1) == y).float().mean()) > 0.9


def test_abstention_threshold_keeps_the_requested_coverage():
    from polymodal.errors import ConfigError
    from polymodal.fusion.robust import fit_abstention_threshold

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=1000)
    conf = probs.max(1)
    for coverage in (0.5, 0.9, 0.95, 1.0):
        tau = fit_abstention_threshold(probs, coverage)
        assert (conf >= tau).mean() == pytest.approx(coverage, abs=1e-3)  # brute-force coverage
        assert tau in conf  # the threshold is an observed confidence
    assert fit_abstention_threshold(probs, 1.0) == conf.min()
    with pytest.raises(ConfigError):
        fit_abstention_threshold(probs, 0.0)
    with pytest.raises(ShapeError):
        fit_abstention_threshold(conf)


def test_top_class_log_odds_is_the_logit_of_the_top_softmax_probability():
    """The contaminated PoE's confidence (and the bench's ``asr*confidence`` score): ``logit(max softmax)``, exact
    where the top probability rounds to 1 (where ``log p - log(1 - p)`` of the probabilities is inf)."""
    z = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [60.0, 0.0, 1.0]], dtype=torch.float64)
    p = torch.softmax(z, 1).max(1).values
    torch.testing.assert_close(top_class_log_odds(z)[:2], torch.log(p / (1 - p))[:2])
    assert top_class_log_odds(z)[1] == float(np.log(1 / 2))  # three ties: 1/3 against 2/3
    torch.testing.assert_close(top_class_log_odds(z)[2], torch.tensor(60.0 - np.log(1 + np.e), dtype=torch.float64))
    assert torch.isinf(torch.log(p / (1 - p))[2])
