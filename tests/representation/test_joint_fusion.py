"""Joint fusion layers: closed forms, brute force, missing modalities, errors, training."""

import pytest
import torch

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation.joint import (
    LowRankFusion,
    MLPFusion,
    MultiplicativeFusion,
    ProductFusion,
    SumFusion,
    TensorFusion,
)
from polymodal.core.registry import build


torch.manual_seed(0)
SIZES = {"a": 3, "b": 2, "c": 4}


def _feats(n=5, dtype=torch.float64, sizes=SIZES, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, d, generator=g, dtype=dtype) for m, d in sizes.items()}


def _one(h):
    return torch.cat([h, torch.ones(h.shape[0], 1, dtype=h.dtype)], 1)


def test_tensor_fusion_equals_explicit_outer_product_and_holds_unimodal_slices():
    f = _feats()
    z = TensorFusion(SIZES)(f)
    a1, b1, c1 = _one(f["a"]), _one(f["b"]), _one(f["c"])
    explicit = torch.zeros(5, 4, 3, 5, dtype=torch.float64)
    for n in range(5):
        for i in range(4):
            for j in range(3):
                for k in range(5):
                    explicit[n, i, j, k] = a1[n, i] * b1[n, j] * c1[n, k]
    assert z.shape == (5, 4 * 3 * 5)
    torch.testing.assert_close(z, explicit.reshape(5, -1), rtol=0, atol=1e-12)
    t = z.view(5, 4, 3, 5)
    torch.testing.assert_close(t[:, :3, -1, -1], f["a"])  # unimodal terms
    torch.testing.assert_close(t[:, -1, :2, -1], f["b"])
    torch.testing.assert_close(t[:, -1, -1, :4], f["c"])
    torch.testing.assert_close(t[:, :3, :2, -1], f["a"][:, :, None] * f["b"][:, None, :])  # bimodal
    assert torch.all(t[:, -1, -1, -1] == 1)


def test_tensor_fusion_missing_modality_is_the_fusion_of_the_rest():
    f = _feats()
    present = {"b": torch.tensor([True, False, True, False, True])}
    z = TensorFusion(SIZES)(f, present).view(5, 4, 3, 5)
    rest = TensorFusion({"a": 3, "c": 4})({"a": f["a"], "c": f["c"]}).view(5, 4, 5)
    torch.testing.assert_close(z[~present["b"]][:, :, -1, :], rest[~present["b"]])
    assert torch.all(z[~present["b"]][:, :, :2, :] == 0)


def test_tensor_fusion_refuses_huge_output():
    with pytest.raises(ConfigError, match=r"\(32\+1\).*LowRankFusion"):
        TensorFusion({m: 32 for m in "abcdef"})


def test_low_rank_equals_linear_layer_on_tensor_fusion_with_cp_weight():
    f = _feats()
    lr = LowRankFusion(SIZES, out_features=6, rank=3).double()
    with torch.no_grad():
        for p in lr.parameters():
            p.normal_()
    ref = TensorFusion(SIZES)(f) @ lr.full_weight() + lr.fusion_bias
    # full_weight is checked independently: build the CP tensor by explicit outer products
    w = torch.zeros(4, 3, 5, 6, dtype=torch.float64)
    for i in range(3):
        fa, fb, fc = (lr.factors[m][i] for m in "abc")
        w += lr.fusion_weights[i] * torch.einsum("io,jo,ko->ijko", fa, fb, fc)
    torch.testing.assert_close(lr.full_weight(), w.reshape(-1, 6))
    torch.testing.assert_close(lr(f), ref)
    present = {"a": torch.tensor([False, True, False, True, True])}
    masked = dict(f, a=f["a"] * present["a"][:, None])
    torch.testing.assert_close(lr(f, present), TensorFusion(SIZES)(masked) @ lr.full_weight() + lr.fusion_bias)


def test_low_rank_factors_are_registered_and_trained():
    from polymodal.encoders import MLP
    from polymodal.training import MultimodalModel

    fusion = LowRankFusion({"a": 4, "b": 4}, out_features=8, rank=4)
    model = MultimodalModel({"a": MLP(3, 4, hidden=[]), "b": MLP(5, 4, hidden=[])}, fusion, MLP(8, 2, hidden=[]))
    ids = {id(p) for p in model.parameters()}
    tensors = [fusion.factors["a"], fusion.factors["b"], fusion.fusion_weights, fusion.fusion_bias]
    assert all(id(t) in ids for t in tensors)
    assert {k for k in model.state_dict() if k.startswith("fusion.")} == {
        "fusion.factors.a", "fusion.factors.b", "fusion.fusion_weights", "fusion.fusion_bias"}
    before = [t.detach().clone() for t in tensors]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = {"a": torch.randn(16, 3), "b": torch.randn(16, 5)}
    loss = torch.nn.functional.cross_entropy(model(x).logits, torch.randint(2, (16,)))
    loss.backward()
    opt.step()
    for t, b in zip(tensors, before):
        assert not torch.equal(t.detach(), b)


def test_sum_and_product_match_manual_projections():
    f = _feats()
    s = SumFusion(SIZES, out_features=4, activation="tanh").double()
    p = ProductFusion(SIZES, out_features=4).double()
    present = {"c": torch.tensor([True, True, False, False, True])}
    zs = {m: torch.tanh(f[m] @ s.proj[m].weight.T + s.proj[m].bias) for m in SIZES}
    zp = {m: f[m] @ p.proj[m].weight.T + p.proj[m].bias for m in SIZES}
    keep = present["c"][:, None].double()
    torch.testing.assert_close(s(f, present), zs["a"] + zs["b"] + keep * zs["c"])
    torch.testing.assert_close(p(f, present), zp["a"] * zp["b"] * (keep * zp["c"] + 1 - keep))
    mean = SumFusion(SIZES, out_features=4, reduce="mean").double()
    zm = {m: f[m] @ mean.proj[m].weight.T + mean.proj[m].bias for m in SIZES}
    torch.testing.assert_close(mean(f, present), (zm["a"] + zm["b"] + keep * zm["c"]) / (2 + keep))


def test_sum_without_projection_needs_equal_sizes():
    with pytest.raises(ConfigError, match="equal feature sizes"):
        SumFusion(SIZES, project=False)


def test_mlp_fusion_matches_manual_layer_with_indicators():
    f = _feats()
    layer = MLPFusion(SIZES, hidden=[7]).double()
    present = {"a": torch.tensor([True, False, True, True, False])}
    pa = present["a"][:, None].double()
    x = torch.cat([f["a"] * pa, f["b"], f["c"], pa, torch.ones(5, 2, dtype=torch.float64)], 1)
    lin = layer.net[0]
    torch.testing.assert_close(layer(f, present), torch.relu(x @ lin.weight.T + lin.bias))


def test_multiplicative_matches_brute_force_and_cp_variant():
    f = _feats()
    layer = MultiplicativeFusion(SIZES, out_features=3, primary="b").double()
    x = f["b"]
    z = torch.cat([f["a"], f["c"]], 1)
    out = torch.zeros(5, 3, dtype=torch.float64)
    for n in range(5):
        for o in range(3):
            out[n, o] = sum(z[n, k] * layer.W[k, o, j] * x[n, j] for k in range(7) for j in range(2))
    ref = out + z @ layer.U.weight.T + x @ layer.V.weight.T + layer.V.bias
    torch.testing.assert_close(layer(f), ref)
    # all context missing: the plain linear layer V x + b
    gone = {"a": torch.zeros(5, dtype=torch.bool), "c": torch.zeros(5, dtype=torch.bool)}
    torch.testing.assert_close(layer(f, gone), layer.V(x))
    cp = MultiplicativeFusion(SIZES, out_features=3, primary="b", rank=2).double()
    full = torch.einsum("ks,os,js->koj", cp.A, cp.C, cp.B)
    torch.testing.assert_close(cp(f), torch.einsum("nk,koj,nj->no", z, full, x) + cp.U(z) + cp.V(x))


def test_gradcheck_low_rank_and_multiplicative():
    f = {m: t.requires_grad_() for m, t in _feats(n=3, sizes={"a": 2, "b": 3}).items()}
    lr = LowRankFusion({"a": 2, "b": 3}, out_features=2, rank=2).double()
    mi = MultiplicativeFusion({"a": 2, "b": 3}, out_features=2).double()
    for layer in (lr, mi):
        assert torch.autograd.gradcheck(lambda a, b: layer({"a": a, "b": b}), (f["a"], f["b"]))


@pytest.mark.parametrize("cls", [SumFusion, ProductFusion, MLPFusion, TensorFusion, LowRankFusion, MultiplicativeFusion])
def test_bad_input_names_modality_and_sizes(cls):
    layer = cls(SIZES)
    f = _feats(dtype=torch.float32)
    with pytest.raises(ModalityError, match="'d'.*built for"):
        layer(dict(f, d=torch.zeros(5, 1)))
    with pytest.raises(ShapeError, match=r"'b' expected features of shape \(N, 2\), got \(5, 3\)"):
        layer(dict(f, b=torch.zeros(5, 3)))
    with pytest.raises(ModalityError, match="'c' is missing"):
        layer({"a": f["a"], "b": f["b"]})


@pytest.mark.parametrize("name,kwargs", [
    ("sum", {"out_features": 32}), ("product", {"out_features": 32}), ("mlp", {"hidden": [64]}),
    ("tensor", {}), ("low_rank", {"out_features": 32, "rank": 4}), ("multiplicative", {"out_features": 32}),
    ("multimodal_autoencoder", {"hidden": 32, "shared": 32}),
])
def test_trains_through_engine_on_mfeat(tmp_path, name, kwargs):
    import polymodal.encoders  # noqa: F401  (registration)
    import polymodal.fusion  # noqa: F401
    from polymodal.training.engine import fit

    config = {
        "name": name, "seed": 0,
        "data": {"name": "mfeat", "modalities": ["fou", "kar"], "batch_size": 128},
        "model": {"encoder": {"name": "mlp", "hidden": [16]}, "fusion": {"name": name, **kwargs},
                  "head": {"name": "mlp", "hidden": []}},
        "optim": {"name": "adam", "lr": 5e-3},
        "trainer": {"max_epochs": 5, "patience": None, "progress": False},
        "output_dir": str(tmp_path),
    }
    result = fit(config)
    assert type(result.model.fusion) is type(build("fusion", {"name": name, **kwargs}, in_features={"fou": 16, "kar": 16}))
    print(name, result.test_metrics["accuracy"])
    assert result.test_metrics["accuracy"] > 0.85  # chance is 0.1


@pytest.mark.parametrize("cls", [TensorFusion, LowRankFusion, SumFusion])
def test_all_present_mask_gives_the_values_and_gradients_of_the_masked_multiply(cls, monkeypatch):
    """_masked returns h unchanged when every sample is present (CPU): equal to h * 1, gradient included;
    a mask with an absent row still zeroes that row."""
    from polymodal.representation.joint._base import JointFusion

    kwargs = {"out_features": 4, "rank": 2} if cls is LowRankFusion else (
        {"out_features": 3} if cls is SumFusion else {})
    torch.manual_seed(0)
    layer = cls(SIZES, **kwargs).double()
    feats = {m: h.requires_grad_() for m, h in _feats().items()}
    full = {m: torch.ones(5, dtype=torch.bool) for m in SIZES}
    out = layer(feats, full)
    out.square().sum().backward()
    grads = {m: h.grad.clone() for m, h in feats.items()}

    def multiply(h, p):
        return h * p[:, None].to(h.dtype)

    reference = {m: h.detach().clone().requires_grad_() for m, h in feats.items()}
    monkeypatch.setattr(JointFusion, "_masked", staticmethod(multiply))
    expected = layer(reference, full)
    monkeypatch.undo()
    expected.square().sum().backward()
    assert torch.equal(out, expected)
    assert all(torch.equal(grads[m], reference[m].grad) for m in SIZES)
    partial = dict(full, a=torch.tensor([True, False, True, True, True]))
    h = torch.ones(5, 3, dtype=torch.float64)
    assert JointFusion._masked(h, partial["a"])[1].abs().sum() == 0 and JointFusion._masked(h, full["a"]) is h
