"""Bridge CorrNet: the correlation term and the loss against hand-written formulas,
and retrieval between two views never seen together (mfeat: fou -> kar through pix)."""

import numpy as np
import pytest
import torch

from polymodal import colearning
from polymodal.colearning import BridgeCorrNet, CorrNet, PivotBridge, corrnet_correlation
from polymodal.data import load_dataset
from polymodal.errors import ConfigError, ShapeError
from polymodal.metrics import mean_average_precision


def test_correlation_term_is_the_papers_formula_and_its_gradient_checks():
    rng = np.random.default_rng(0)
    h1, h2 = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    h2[:, 0] += 3 * h1[:, 0]
    expected = 0.0
    for k in range(4):  # Chandar et al. 2016, Eq. 2.3, one hidden unit at a time, summed
        a, b = h1[:, k] - h1[:, k].mean(), h2[:, k] - h2[:, k].mean()
        expected += np.sum(a * b) / np.sqrt(np.sum(a ** 2) * np.sum(b ** 2))
    got = corrnet_correlation(torch.as_tensor(h1), torch.as_tensor(h2), eps=0.0)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(corrnet_correlation(torch.as_tensor(h1), torch.as_tensor(-2 * h1 + 1), eps=0.0)) == pytest.approx(-4)
    x1 = torch.tensor(h1[:8], requires_grad=True)
    x2 = torch.tensor(h2[:8], requires_grad=True)
    assert torch.autograd.gradcheck(corrnet_correlation, (x1, x2), eps=1e-6, atol=1e-6)
    with pytest.raises(ShapeError, match=r"\(20, 4\) and \(20, 3\)"):
        corrnet_correlation(torch.as_tensor(h1), torch.as_tensor(h2[:, :3]))


def test_pair_loss_reconstructs_both_views_from_each_and_both_minus_correlation():
    rng = np.random.default_rng(1)
    A, P, B = rng.normal(size=(30, 4)), rng.normal(size=(30, 3)), rng.normal(size=(30, 5))
    net = BridgeCorrNet(n_components=2, max_epochs=1, lam=0.7).fit(A[:15], P[:15], B[15:], P[15:])
    mod = net.module_
    W = {m: mod.enc[m].weight.detach().double().numpy() for m in ("a", "pivot")}
    c = mod.bias.detach().double().numpy()
    dec = {m: (mod.dec[m].weight.detach().double().numpy(), mod.dec[m].bias.detach().double().numpy())
           for m in ("a", "pivot")}
    a, p = A[:10], P[:10]
    sig = lambda z: 1 / (1 + np.exp(-z))
    h_a, h_p, h_ap = sig(a @ W["a"].T + c), sig(p @ W["pivot"].T + c), sig(a @ W["a"].T + p @ W["pivot"].T + c)
    rec = sum(((h @ dec[m][0].T + dec[m][1] - x) ** 2).sum(1).mean() for h in (h_a, h_p, h_ap)
              for m, x in (("a", a), ("pivot", p)))
    ca, cp = h_a - h_a.mean(0), h_p - h_p.mean(0)
    corr = np.sum((ca * cp).sum(0) / np.sqrt((ca ** 2).sum(0) * (cp ** 2).sum(0)))
    got = mod.pair_loss("a", torch.tensor(a, dtype=torch.float32), "pivot", torch.tensor(p, dtype=torch.float32), 0.7)
    assert float(got.detach()) == pytest.approx(rec - 0.7 * corr, rel=1e-4)


def _retrieval_map(model, X, Y, y):
    return mean_average_precision(model.similarity(X, Y), y[:, None] == y[None, :])


def test_bridge_corrnet_retrieves_between_views_never_paired_on_mfeat():
    ds = load_dataset("mfeat")
    y = ds.target
    X, Z, Y = (np.asarray(ds.modalities[v]) for v in ("fou", "pix", "kar"))
    perm = np.random.default_rng(0).permutation(len(y))
    half_a, half_b, test = perm[:300], perm[300:600], perm[600:900]  # (fou, pix) and (pix, kar) from disjoint rows
    bridge = BridgeCorrNet(max_epochs=20, lr=5e-3, random_state=0).fit(X[half_a], Z[half_a], Y[half_b], Z[half_b])
    untrained = BridgeCorrNet(max_epochs=0, random_state=0).fit(X[half_a], Z[half_a], Y[half_b], Z[half_b])
    linear = PivotBridge(alpha=1e-3).fit(X[half_a], Z[half_a], Y[half_b], Z[half_b])
    scores = {name: _retrieval_map(m, X[test], Y[test], y[test])
              for name, m in (("bridge", bridge), ("untrained", untrained), ("linear", linear))}
    print("fou -> kar class-match mAP:", scores)
    assert scores["untrained"] < 0.2  # chance is about 0.1
    assert scores["bridge"] > 0.5
    assert scores["bridge"] > scores["linear"] + 0.05
    assert bridge.loss_curve_[-1] < bridge.loss_curve_[0]


def test_bridge_bad_input_names_the_view():
    A, P = np.zeros((10, 3)), np.zeros((10, 2))
    with pytest.raises(ShapeError, match="P_b: expected a 2-D array"):
        BridgeCorrNet(max_epochs=1).fit(A, P, A, np.zeros(10))
    with pytest.raises(ShapeError, match="B and its pivot rows must be paired, got 10 and 9 rows"):
        BridgeCorrNet(max_epochs=1).fit(A, P, A, P[:9])
    with pytest.raises(ConfigError, match="not fitted"):
        BridgeCorrNet().transform_a(A)
    with pytest.raises(ConfigError, match="activation"):
        CorrNet(activation="softmax").fit(A, A)
    net = BridgeCorrNet(max_epochs=1).fit(A + np.arange(3), P + np.arange(2), A, P)
    with pytest.raises(ShapeError, match=r"A: expected \(n, 3\), got shape \(4, 2\)"):
        net.transform_a(np.zeros((4, 2)))
    assert {"BridgeCorrNet", "CorrNet", "corrnet_correlation"} <= set(colearning.__all__)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bridge_trains_on_the_gpu():
    rng = np.random.default_rng(2)
    A, P, B = rng.normal(size=(40, 4)), rng.normal(size=(40, 3)), rng.normal(size=(40, 5))
    net = BridgeCorrNet(n_components=3, max_epochs=2, device="cuda").fit(A[:20], P[:20], B[20:], P[20:])
    assert next(net.module_.parameters()).device.type == "cuda"
    assert net.similarity(A, B).shape == (40, 40) and np.isfinite(net.loss_curve_).all()
