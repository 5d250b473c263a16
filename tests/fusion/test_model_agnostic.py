"""Early/late/hybrid/intermediate fusion against closed forms."""

import numpy as np
import pytest
import torch

import polymodal.encoders  # noqa: F401
from polymodal.encoders import MLP, Identity
from polymodal.errors import ModalityError, ShapeError
from polymodal.fusion import ConcatFusion, HybridFusion, LateFusion
from polymodal.training import MultimodalModel


def late(combine="mean", weights=None, cls=LateFusion, task="classification"):
    torch.manual_seed(0)
    return cls({"a": 3, "b": 2, "c": 4}, 5, head={"name": "mlp", "hidden": [8]}, combine=combine, weights=weights, task=task)


def inputs(n=6):
    g = torch.Generator().manual_seed(1)
    return {"a": torch.randn(n, 3, generator=g), "b": torch.randn(n, 2, generator=g), "c": torch.randn(n, 4, generator=g)}


def test_concat_is_concatenation_and_zeroes_missing():
    f = ConcatFusion({"a": 3, "b": 2, "c": 4})
    x = inputs()
    torch.testing.assert_close(f(x, {}), torch.cat([x["a"], x["b"], x["c"]], 1))
    present = {"b": torch.tensor([True, False, True, False, True, True])}
    out = f(x, present)
    assert out[1, 3:5].abs().sum() == 0 and torch.equal(out[0, 3:5], x["b"][0])


def test_modality_dropout_keeps_one_modality_and_is_off_in_eval():
    f = ConcatFusion({"a": 1, "b": 1}, modality_dropout=0.9).train()
    out = f({"a": torch.ones(500, 1), "b": torch.ones(500, 1)}, {})
    assert (out.sum(1) >= 1).all() and (out.sum(1) == 1).float().mean() > 0.5
    assert torch.equal(f.eval()({"a": torch.ones(3, 1), "b": torch.ones(3, 1)}, {}), torch.ones(3, 2))


def test_concat_shares_joint_fusion_checks_and_modality_dropout():
    """ConcatFusion is a JointFusion: the same modality dropout (same draws for the same seed as
    another joint layer's) and the same input checks (a feature of the wrong width was silently
    concatenated before)."""
    from polymodal.representation.joint._base import JointFusion

    assert ConcatFusion._drop_modalities is JointFusion._drop_modalities
    f = ConcatFusion({"a": 1, "b": 1}, modality_dropout=0.5).train()
    ones = {"a": torch.ones(64, 1), "b": torch.ones(64, 1)}
    torch.manual_seed(3)
    out = f(ones, {})
    torch.manual_seed(3)
    present = JointFusion({"a": 1, "b": 1}, modality_dropout=0.5)._drop_modalities(
        {m: torch.ones(64, dtype=torch.bool) for m in "ab"})
    assert torch.equal(out, torch.stack([present["a"], present["b"]], 1).float())
    with pytest.raises(ShapeError, match="'b'"):
        ConcatFusion({"a": 3, "b": 2})({"a": torch.ones(4, 3), "b": torch.ones(4, 5)}, {})


def test_late_mean_is_mean_of_branch_probabilities():
    f = late("mean")
    out = f(inputs(), {})
    probs = torch.stack([torch.softmax(out.branch_logits[m], -1) for m in "abc"]).mean(0)
    torch.testing.assert_close(out.logits.exp(), probs)


def test_late_renormalises_over_present_modalities():
    f = late("mean")
    present = {"b": torch.tensor([False] * 6), "c": torch.tensor([True, False, True, False, True, False])}
    out = f(inputs(), present)
    pa, pc = (torch.softmax(out.branch_logits[m], -1) for m in "ac")
    expected = torch.where(present["c"][:, None], (pa + pc) / 2, pa)
    torch.testing.assert_close(out.logits.exp(), expected)


def test_late_fixed_weights():
    w = {"a": 1.0, "b": 3.0, "c": 0.0}
    f = late("weights", w)
    out = f(inputs(), {})
    pa, pb = (torch.softmax(out.branch_logits[m], -1) for m in "ab")
    torch.testing.assert_close(out.logits.exp(), (pa + 3 * pb) / 4)
    with pytest.raises(ValueError, match="needs a weight for each of"):
        late("weights", {"a": 1.0})


def test_late_majority_vote_with_mean_tie_break():
    f = late("vote")
    out = f(inputs(50), {})
    votes = torch.stack([out.branch_logits[m].argmax(-1) for m in "abc"], 1)
    mean = torch.stack([torch.softmax(out.branch_logits[m], -1) for m in "abc"]).mean(0)
    for i in range(50):
        counts = torch.bincount(votes[i], minlength=5)
        best = (counts == counts.max()).nonzero().flatten()
        expected = best[mean[i, best].argmax()]
        assert out.logits[i].argmax() == expected


def test_stacking_combiner_equals_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    f = late("stacking")
    x = inputs(200)
    y = torch.randint(0, 5, (200,), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = f(x, {})
    f.fit_combiner(out.branch_logits, out.branch_present, y)
    feats = torch.cat([torch.log_softmax(out.branch_logits[m], -1) for m in "abc"], 1).double().numpy()
    ref = LogisticRegression(C=1.0, max_iter=2000).fit(feats, y.numpy())
    with torch.no_grad():
        ours = f(x, {}).logits.exp().double().numpy()
    torch.testing.assert_close(torch.as_tensor(ours), torch.as_tensor(ref.predict_proba(feats)), atol=1e-5, rtol=1e-4)


def test_hybrid_adds_a_joint_branch_on_concatenated_features():
    f = late("mean", cls=HybridFusion)
    x = inputs()
    out = f(x, {})
    assert list(out.branch_logits) == ["a", "b", "c", "joint"]
    joint = f.branches["joint"](torch.cat([x["a"], x["b"], x["c"]], 1))
    torch.testing.assert_close(out.branch_logits["joint"], joint)
    probs = torch.stack([torch.softmax(v, -1) for v in out.branch_logits.values()]).mean(0)
    torch.testing.assert_close(out.logits.exp(), probs)


def test_regression_late_fusion_averages_values():
    f = late("mean", task="regression")
    out = f(inputs(), {})
    torch.testing.assert_close(out.logits, torch.stack(list(out.branch_logits.values())).mean(0))


def test_model_input_errors_name_modality_and_shape():
    model = MultimodalModel({"a": Identity(3), "b": Identity(2)}, ConcatFusion({"a": 3, "b": 2}), MLP(5, 2, hidden=[]),
                            input_shapes={"a": (3,), "b": (2,)})
    x = {"a": torch.zeros(4, 3), "b": torch.zeros(4, 2)}
    assert model(x).logits.shape == (4, 2)
    with pytest.raises(ShapeError, match=r"modality 'b': expected per-sample shape \(2,\), got \(7,\) \(input tensor of shape \(4, 7\)\)"):
        model({"a": torch.zeros(4, 3), "b": torch.zeros(4, 7)})
    with pytest.raises(ModalityError, match=r"unknown modality 'audio': this model was built for \['a', 'b'\]"):
        model({**x, "audio": torch.zeros(4, 1)})
    with pytest.raises(ModalityError, match=r"modality 'b' is missing from the input \(got \['a'\]\)"):
        model({"a": torch.zeros(4, 3)})


def test_product_of_experts_is_normalised_product():
    f = late("product")
    out = f(inputs(), {"c": torch.tensor([True, False, True, True, True, True])})
    p = {m: torch.softmax(out.branch_logits[m], -1) for m in "abc"}
    prod = p["a"] * p["b"] * torch.where(torch.tensor([1, 0, 1, 1, 1, 1], dtype=torch.bool)[:, None], p["c"], torch.ones_like(p["c"]))
    torch.testing.assert_close(out.logits.exp(), prod / prod.sum(1, keepdim=True))


def test_learned_weights_minimise_held_out_nll():
    """The learned log-linear pool reaches the optimum of the held-out NLL
    (checked against scipy on the same objective) and favours the informative
    branch."""
    from scipy.optimize import minimize

    g = torch.Generator().manual_seed(0)
    n, c = 300, 5
    y = torch.randint(0, c, (n,), generator=g)
    good = torch.nn.functional.one_hot(y, c).double() * 3 + torch.randn(n, c, generator=g, dtype=torch.float64)
    noise = torch.randn(n, c, generator=g, dtype=torch.float64)
    logits = {"a": good, "b": noise, "c": noise.roll(1, 0)}
    masks = {m: torch.ones(n, dtype=torch.bool) for m in logits}
    f = late("learned")
    f.fit_combiner(logits, masks, y)
    w = torch.nn.functional.softplus(f.learned_theta.double())
    assert w[0] > 5 * max(w[1], w[2])

    logp = torch.stack([torch.log_softmax(logits[m], -1) for m in "abc"], 1).numpy()
    start = np.log(np.expm1(1.0))

    def nll(theta):
        ww = np.logaddexp(0, theta)
        z = (ww[None, :, None] * logp).sum(1)
        z = z - z.max(1, keepdims=True)
        logq = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logq[np.arange(n), y.numpy()].mean() + 1e-4 * ((theta - start) ** 2).sum()

    ref = minimize(nll, np.full(3, start), method="BFGS")
    assert nll(f.learned_theta.double().numpy()) == pytest.approx(ref.fun, abs=1e-6)
    out = f.combine_logits(logits, masks)
    z = (w[None, :, None] * torch.as_tensor(logp)).sum(1)
    torch.testing.assert_close(out.double(), torch.log_softmax(z, -1), atol=1e-5, rtol=1e-5)
