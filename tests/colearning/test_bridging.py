"""Bridge CorrNet: the correlation term and the loss against hand-written formulas,
the missing-view masks against the per-set losses, the ridge bridge against
scikit-learn, and retrieval between two views never seen together (mfeat: fou ->
kar through pix)."""

import numpy as np
import pytest
import torch

from polymodal import colearning
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

from polymodal.colearning import BridgeCorrNet, CorrNet, CorrNetNetwork, PivotBridge, corrnet_correlation, pivot_views
from polymodal.data import load_dataset
from polymodal.errors import ConfigError, ModalityError, ShapeError
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
    net = BridgeCorrNet(n_components=2, max_epochs=1, lam=0.7).fit(pivot_views(A[:15], P[:15], B[15:], P[15:]))
    mod = net.network_
    W = {m: mod.enc[m].weight.detach().double().numpy() for m in ("view0", "view1")}
    c = mod.bias.detach().double().numpy()
    dec = {m: (mod.dec[m].weight.detach().double().numpy(), mod.dec[m].bias.detach().double().numpy())
           for m in ("view0", "view1")}
    a, p = A[:10], P[:10]
    sig = lambda z: 1 / (1 + np.exp(-z))
    h_a, h_p, h_ap = sig(a @ W["view0"].T + c), sig(p @ W["view1"].T + c), sig(a @ W["view0"].T + p @ W["view1"].T + c)
    rec = sum(((h @ dec[m][0].T + dec[m][1] - x) ** 2).sum(1).mean() for h in (h_a, h_p, h_ap)
              for m, x in (("view0", a), ("view1", p)))
    ca, cp = h_a - h_a.mean(0), h_p - h_p.mean(0)
    corr = np.sum((ca * cp).sum(0) / np.sqrt((ca ** 2).sum(0) * (cp ** 2).sum(0)))
    got = mod.pair_loss({"view0": torch.tensor(a, dtype=torch.float64), "view1": torch.tensor(p, dtype=torch.float64)})
    assert float(got.detach()) == pytest.approx(rec - 0.7 * corr, rel=1e-4)


def _retrieval_map(model, X, Y, y):
    return mean_average_precision(model.similarity(X, Y), y[:, None] == y[None, :])


def test_bridge_corrnet_retrieves_between_views_never_paired_on_mfeat():
    ds = load_dataset("mfeat")
    y = ds.target
    X, Z, Y = (np.asarray(ds.modalities[v]) for v in ("fou", "pix", "kar"))
    perm = np.random.default_rng(0).permutation(len(y))
    half_a, half_b, test = perm[:300], perm[300:600], perm[600:900]  # (fou, pix) and (pix, kar) from disjoint rows
    views = pivot_views(X[half_a], Z[half_a], Y[half_b], Z[half_b])
    bridge = BridgeCorrNet(max_epochs=20, lr=5e-3, random_state=0).fit(views)
    untrained = BridgeCorrNet(max_epochs=0, random_state=0).fit(views)
    linear = PivotBridge(alpha=1e-3).fit(views)
    scores = {name: _retrieval_map(m, X[test], Y[test], y[test])
              for name, m in (("bridge", bridge), ("untrained", untrained), ("linear", linear))}
    print("fou -> kar class-match mAP:", scores)
    assert scores["untrained"] < 0.2  # chance is about 0.1
    assert scores["bridge"] > 0.5
    assert scores["bridge"] > scores["linear"] + 0.05
    assert bridge.loss_curve_[-1] < bridge.loss_curve_[0]


def test_bridge_bad_input_names_the_view():
    A, P = np.zeros((10, 3)), np.zeros((10, 2))
    with pytest.raises(ShapeError, match="P_b must be a 2-D array"):
        BridgeCorrNet(max_epochs=1).fit(pivot_views(A, P, A, np.zeros(10)))
    with pytest.raises(ShapeError, match="B and its pivot rows must be paired, got 10 and 9 rows"):
        BridgeCorrNet(max_epochs=1).fit(pivot_views(A, P, A, P[:9]))
    with pytest.raises(NotFittedError, match="not fitted"):
        BridgeCorrNet().transform_view(A, 0)
    with pytest.raises(ConfigError, match="activation"):
        CorrNet(activation="softmax").fit([A, A])
    net = BridgeCorrNet(max_epochs=1).fit(pivot_views(A + np.arange(3), P + np.arange(2), A, P))
    with pytest.raises(ShapeError, match=r"views\[0\]: expected \(n, 3\), got shape \(4, 2\)"):
        net.transform_view(np.zeros((4, 2)), 0)
    assert {"BridgeCorrNet", "CorrNet", "corrnet_correlation"} <= set(colearning.__all__)


def test_masks_of_the_stacked_views_give_the_per_set_losses():
    # Bridge CorrNet's objective (Rajendran et al. 2016, Eq. 1) is one CorrNet loss per paired set; on the
    # NaN-stacked views [A, P, B] the presence masks must pick exactly each set's rows, in any row order
    rng = np.random.default_rng(4)
    A, P, B = rng.normal(size=(12, 3)), rng.normal(size=(20, 2)), rng.normal(size=(8, 4))
    X = pivot_views(A, P[:12], B, P[12:])
    net = CorrNetNetwork({"view0": 3, "view1": 2, "view2": 4}, n_components=3, lam=0.5)
    t = {f"view{i}": torch.as_tensor(np.nan_to_num(v), dtype=torch.float32) for i, v in enumerate(X)}
    present = {f"view{i}": torch.as_tensor(~np.isnan(v).all(1)) for i, v in enumerate(X)}
    want = net.pair_loss({"view0": t["view0"][:12], "view1": t["view1"][:12]}) + \
        net.pair_loss({"view1": t["view1"][12:], "view2": t["view2"][12:]})
    perm = torch.as_tensor(rng.permutation(20))
    got = net.loss({m: x[perm] for m, x in t.items()}, {m: p[perm] for m, p in present.items()})
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    fitted = BridgeCorrNet(n_components=2, max_epochs=1).fit(X)
    codes = fitted.transform(X)  # each view alone; rows where it is absent stay NaN
    assert np.isnan(codes[0][12:]).all() and np.isnan(codes[2][:12]).all() and not np.isnan(codes[1]).any()
    np.testing.assert_array_equal(codes[2][12:], fitted.transform_view(B, 2))


def test_corrnet_learns_a_shared_code_and_is_the_bridge_on_complete_pairs():
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(200, 2))
    A = np.tanh(Z @ rng.normal(size=(2, 6))) + 0.1 * rng.normal(size=(200, 6))
    B = Z @ rng.normal(size=(2, 5)) + 0.1 * rng.normal(size=(200, 5))
    kw = dict(n_components=4, max_epochs=30, lr=3e-2, random_state=0)
    net = CorrNet(**kw).fit([A[:150], B[:150]])
    untrained = CorrNet(**{**kw, "max_epochs": 0}).fit([A[:150], B[:150]])
    rank, corr = {}, {}
    for name, m in (("trained", net), ("untrained", untrained)):  # on the 50 held-out pairs
        order = np.argsort(-m.similarity(A[150:], B[150:]), 1)
        rank[name] = float((order == np.arange(50)[:, None]).argmax(1).mean())  # of the true partner, 0-based
        hA, hB = (torch.as_tensor(h) for h in m.transform([A[150:], B[150:]]))
        corr[name] = float(corrnet_correlation(hA, hB))  # at most n_components = 4
    print("held-out A -> B mean rank of the partner:", rank, "correlation:", corr)
    assert rank["trained"] < 6 < 15 < rank["untrained"]  # chance 24.5
    assert corr["trained"] > 3.5 > 1 > corr["untrained"]
    assert net.loss_curve_[-1] < net.loss_curve_[0] and net.n_epochs_ == 30
    bridge = BridgeCorrNet(**kw).fit([A[:150], B[:150]])  # no view missing: the same network, the same path
    np.testing.assert_array_equal(bridge.transform_view(A, 0), net.transform_view(A, 0))


def test_pivot_bridge_maps_are_scikit_learn_ridge_on_each_paired_set():
    rng = np.random.default_rng(7)
    A, P, B = rng.normal(size=(30, 4)), rng.normal(size=(50, 3)), rng.normal(size=(20, 5))
    X = pivot_views(A, P[:30], B, P[30:])
    br = PivotBridge(alpha=0.3).fit(X)
    Ta, Tb = rng.normal(size=(6, 4)), rng.normal(size=(7, 5))
    np.testing.assert_allclose(br.transform_view(Ta, 0), Ridge(alpha=0.3).fit(A, P[:30]).predict(Ta), atol=1e-10)
    np.testing.assert_allclose(br.transform_view(Tb, 2), Ridge(alpha=0.3).fit(B, P[30:]).predict(Tb), atol=1e-10)
    np.testing.assert_array_equal(br.transform_view(P, 1), P)  # the pivot is its own space
    out = br.transform(X)
    assert np.isnan(out[0][30:]).all() and np.isnan(out[2][:30]).all()
    np.testing.assert_allclose(out[0][:30], br.transform_view(A, 0))
    moved = PivotBridge(alpha=0.3, pivot=0).fit([X[1], X[0], X[2]])  # the pivot's position is a parameter
    np.testing.assert_allclose(moved.transform_view(Ta, 1), br.transform_view(Ta, 0), atol=1e-12)


def test_views_that_cannot_bridge_are_refused():
    rng = np.random.default_rng(8)
    A, P, B, C = (rng.normal(size=(10, k)) for k in (3, 2, 4, 2))
    X = pivot_views(A, P, B, P)
    lone = [v.copy() for v in X]
    lone[1][3] = np.nan  # row 3 then holds A only
    with pytest.raises(ModalityError, match="row 3 holds 1 view"):
        BridgeCorrNet(max_epochs=1).fit(lone)
    nan = np.full((10, 2), np.nan)
    with pytest.raises(ModalityError, match="never paired with each other"):  # (A, P) and (B, C): no link
        BridgeCorrNet(max_epochs=1).fit([np.r_[A, nan[:, :1] * A], np.r_[P, nan], np.r_[nan[:, :1] * B, B],
                                         np.r_[nan, C]])
    partial = [v.copy() for v in X]
    partial[0][0, 1] = np.nan
    with pytest.raises(ShapeError, match=r"views\[0\] row 0 has NaN in some features only"):
        BridgeCorrNet(max_epochs=1).fit(partial)
    with pytest.raises(ModalityError, match="exactly 2 views; got 3"):
        CorrNet(max_epochs=1).fit(X)
    with pytest.raises(ShapeError, match="contains NaN"):
        CorrNet(max_epochs=1).fit(X[:2])
    with pytest.raises(ModalityError, match="sequence of views"):
        CorrNet(max_epochs=1).fit(np.c_[A, B])
    with pytest.raises(ConfigError, match="view must be an int index into the 3 views"):
        PivotBridge(pivot=3).fit(X)
    with pytest.raises(ModalityError, match=r"views\[0\] is paired with the pivot views\[1\] in 0 row"):
        PivotBridge().fit([np.r_[A, nan[:, :1] * A], np.r_[nan, P], np.r_[B, B]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bridge_trains_on_the_gpu():
    rng = np.random.default_rng(2)
    A, P, B = rng.normal(size=(40, 4)), rng.normal(size=(40, 3)), rng.normal(size=(40, 5))
    net = BridgeCorrNet(n_components=3, max_epochs=2, device="cuda").fit(pivot_views(A[:20], P[:20], B[20:], P[20:]))
    assert next(net.network_.parameters()).device.type == "cuda"
    assert net.similarity(A, B).shape == (40, 40) and np.isfinite(net.loss_curve_).all()
