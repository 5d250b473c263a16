"""Every trainable fusion model learns, in the default test run, a small task
that only its defining mechanism solves: a cross-modal product for the
multiplicative/tensor fusions (a linear layer on concatenated features is at
chance), an XOR across modalities for hybrid fusion (late fusion of unimodal
experts is at chance), and a cross-modal, cross-time interaction for the
sequential models (either modality alone, or a linear model on all the
frames, is at chance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from polymodal.data import make_interaction_sequences
from polymodal.fusion import ConcatFusion, HybridFusion, LateFusion
from polymodal.fusion.sequential import MVLSTM, EarlyFusionLSTM, LateFusionLSTM, MemoryFusionNetwork
from polymodal.representation import LowRankFusion, MultiplicativeFusion, TensorFusion
from polymodal.training.objective import output_loss
from polymodal.training.tasks import ClassificationTask


def _product_task(n, seed, d=4):
    """Two modalities with independent Gaussian features; label = sign of
    <a, b>: every first- and second-moment statistic of one modality, and every
    linear function of [a; b], is independent of it."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    return {"a": a, "b": b}, ((a * b).sum(1) > 0).long()


def _train(params, forward, x, y, epochs, lr, batch=64, seed=0, loss=None):
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=g).split(batch):
            out = forward({k: v[idx] for k, v in x.items()})
            value = loss(out, y[idx]) if loss else F.cross_entropy(out, y[idx])
            opt.zero_grad()
            value.backward()
            opt.step()


def _accuracy(forward, x, y):
    with torch.no_grad():
        out = forward(x)
    logits = out.logits if hasattr(out, "logits") else out
    return float((logits.argmax(1) == y).float().mean())


def _joint(name, seed):
    torch.manual_seed(seed)
    dims = {"a": 4, "b": 4}
    fusion = {"concat": lambda: ConcatFusion(dims), "tensor": lambda: TensorFusion(dims),
              "low_rank": lambda: LowRankFusion(dims, out_features=8, rank=4),
              "multiplicative": lambda: MultiplicativeFusion(dims, out_features=8)}[name]()
    head = nn.Linear(fusion.out_features, 2)  # linear head: any non-linearity is the fusion's
    return [*fusion.parameters(), *head.parameters()], lambda x: head(fusion(x))


@pytest.mark.parametrize("seed", [0])
@pytest.mark.parametrize("name", ["tensor", "low_rank", "multiplicative"])
def test_multiplicative_fusions_learn_a_cross_modal_product_concat_cannot(name, seed):
    """label = sign(a . b): a linear layer on the fusion must reach >= 0.9 test
    accuracy, while the same linear layer on the concatenation stays at chance
    (< 0.6)."""
    x, y = _product_task(800, seed)
    xt, yt = _product_task(1000, seed + 100)
    params, fwd = _joint(name, seed)
    _train(params, fwd, x, y, epochs=20, lr=1e-2)
    acc = _accuracy(fwd, xt, yt)
    params, base = _joint("concat", seed)
    _train(params, base, x, y, epochs=20, lr=1e-2)
    chance = _accuracy(base, xt, yt)
    print(f"{name}: {acc:.3f}, concat + linear: {chance:.3f}")
    assert chance < 0.6
    assert acc >= 0.9


def _xor_task(n, seed, d=2, noise=0.3):
    """Two modalities, each one informative-looking coordinate sign s_m (a fair
    coin) plus noise; label = [s_a == s_b]. Each modality alone is at chance."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(0, 2, (n, 2), generator=g) * 2 - 1
    a = noise * torch.randn(n, d, generator=g)
    b = noise * torch.randn(n, d, generator=g)
    a[:, 0] += s[:, 0]
    b[:, 0] += s[:, 1]
    return {"a": a, "b": b}, (s[:, 0] == s[:, 1]).long()


@pytest.mark.parametrize("seed", [0])
def test_hybrid_fusion_solves_a_cross_modal_xor_that_late_fusion_cannot(seed):
    """Hybrid fusion's joint branch solves XOR(a, b) (>= 0.9); late fusion of
    the unimodal experts (mean rule) stays at chance (< 0.6): its defining
    difference is the joint early-fusion branch."""
    task = ClassificationTask(2)
    x, y = _xor_task(400, seed)
    xt, yt = _xor_task(400, seed + 100)
    accs = {}
    for cls in (LateFusion, HybridFusion):
        torch.manual_seed(seed)
        f = cls({"a": 2, "b": 2}, 2, head={"name": "mlp", "hidden": [16]}, combine="mean")
        _train(list(f.parameters()), f, x, y, epochs=25, lr=1e-2, loss=lambda out, t: output_loss(task, out, t))
        f.eval()
        accs[cls.__name__] = _accuracy(f, xt, yt)
    print(accs)
    assert accs["LateFusion"] < 0.6
    assert accs["HybridFusion"] >= 0.9


# -- sequential models -----------------------------------------------------------------
def _sequences(n, seed):
    ds = make_interaction_sequences(n, length=6, dim=3, amplitude=2.0, noise=0.3, seed=seed)
    return ({m: torch.as_tensor(ds.modalities[m]) for m in ("a", "b")}, torch.as_tensor(ds.target))


SEQUENTIAL = {
    "early_lstm": lambda d: EarlyFusionLSTM(d, hidden=16),
    "late_lstm": lambda d: LateFusionLSTM(d, hidden=16),
    "mv_lstm": lambda d: MVLSTM(d, hidden=12, topology="hybrid"),
    "mfn": lambda d: MemoryFusionNetwork(d, hidden=12, memory=12, attention_hidden=16, gate_hidden=16),
}


def _sequential(name, modalities, seed):
    torch.manual_seed(seed)
    fusion = SEQUENTIAL[name]({m: 3 for m in modalities})
    head = nn.Sequential(nn.Linear(fusion.out_features, 16), nn.ReLU(), nn.Linear(16, 2))
    return [*fusion.parameters(), *head.parameters()], lambda x: head(fusion({m: x[m] for m in modalities}))


def test_sequential_task_needs_both_modalities_and_a_non_linear_model():
    """The baselines the sequential models must beat: the recurrent model on
    modality ``a`` alone, and a logistic regression on every frame of both
    modalities, stay at chance (< 0.6)."""
    from sklearn.linear_model import LogisticRegression

    x, y = _sequences(400, 0)
    xt, yt = _sequences(400, 100)
    params, uni = _sequential("early_lstm", ("a",), 0)
    _train(params, uni, x, y, epochs=10, lr=1e-2, batch=50)
    uni_acc = _accuracy(uni, xt, yt)
    flat = lambda x: torch.cat([x["a"].flatten(1), x["b"].flatten(1)], 1).numpy()  # noqa: E731
    lin = LogisticRegression(max_iter=1000).fit(flat(x), y.numpy()).score(flat(xt), yt.numpy())
    print(f"modality a alone {uni_acc:.3f}; logistic regression on all frames {lin:.3f}")
    assert uni_acc < 0.6 and lin < 0.6


@pytest.mark.parametrize("seed", [0])
@pytest.mark.parametrize("name", list(SEQUENTIAL))
def test_sequential_fusion_learns_a_cross_modal_cross_time_interaction(name, seed):
    """label = [sign of a's event == sign of b's event], events at unknown,
    different steps: every sequential fusion model reaches >= 0.85 test accuracy
    where its baselines (previous test) are at chance."""
    x, y = _sequences(400, seed)
    xt, yt = _sequences(400, seed + 100)
    params, fwd = _sequential(name, ("a", "b"), seed)
    _train(params, fwd, x, y, epochs=12, lr=1e-2, batch=50)
    acc = _accuracy(fwd, xt, yt)
    print(f"{name}: {acc:.3f}")
    assert acc >= 0.85
