"""Attention-based MIL pooling: equations vs a manual computation, padding and
permutation invariance, gradcheck, and which instance the trained attention picks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from polymodal.alignment.mil import AttentionMIL, make_mil_bags
from polymodal.errors import ConfigError, ShapeError


def manual(m: AttentionMIL, x: torch.Tensor, n: int):
    """Ilse et al. eqs. (8)-(9) for one bag of n real instances, written out."""
    xs = x[:n]
    h = torch.relu(xs @ m.embed[0].weight.T + m.embed[0].bias)
    a = torch.tanh(h @ m.V.weight.T + m.V.bias)
    if m.gated:
        a = a * torch.sigmoid(h @ m.U.weight.T + m.U.bias)
    s = a @ m.w.weight[0] + m.w.bias
    w = torch.exp(s - s.max())
    w = w / w.sum()
    z = (w[:, None] * h).sum(0)
    return z @ m.classifier.weight.T + m.classifier.bias, w


@pytest.mark.parametrize("gated", [False, True])
def test_forward_equals_written_out_equations(gated):
    torch.manual_seed(0)
    m = AttentionMIL(5, hidden=7, attention_dim=4, gated=gated, n_outputs=3).double()
    x = torch.randn(4, 6, 5, dtype=torch.float64)
    sizes = [6, 3, 1, 5]
    mask = torch.arange(6)[None, :] < torch.tensor(sizes)[:, None]
    out = m(x, mask)
    for i, n in enumerate(sizes):
        logits, w = manual(m, x[i], n)
        torch.testing.assert_close(out.logits[i], logits)
        torch.testing.assert_close(out.attention[i, :n], w)
        assert torch.all(out.attention[i, n:] == 0)
    torch.testing.assert_close(out.attention.sum(1), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("gated", [False, True])
def test_padding_and_mask_do_not_change_outputs(gated):
    torch.manual_seed(1)
    m = AttentionMIL(4, hidden=8, attention_dim=5, gated=gated)
    sizes = torch.tensor([3, 5, 2])
    x = torch.randn(3, 5, 4)
    mask = torch.arange(5)[None, :] < sizes[:, None]
    x = x.masked_fill(~mask[..., None], 0.0)
    ref = m(x, mask)
    # longer padding filled with garbage, same masks on the real part
    xl = torch.randn(3, 9, 4) * 100
    xl[:, :5][mask] = x[mask]
    maskl = torch.arange(9)[None, :] < sizes[:, None]
    long = m(xl, maskl)
    torch.testing.assert_close(long.logits, ref.logits)
    torch.testing.assert_close(long.attention[:, :5], ref.attention)
    assert torch.all(long.attention[:, 5:] == 0)
    # each bag alone, unpadded, gives the same output as in the padded batch
    for i, n in enumerate(sizes.tolist()):
        single = m(x[i:i + 1, :n])
        torch.testing.assert_close(single.logits, ref.logits[i:i + 1])
        torch.testing.assert_close(single.attention, ref.attention[i:i + 1, :n])
    # permuting instances permutes the attention and leaves the logits unchanged
    perm = torch.tensor([4, 2, 0, 3, 1])
    full = torch.ones(3, 5, dtype=torch.bool)
    a, b = m(x, full), m(x[:, perm], full)
    torch.testing.assert_close(b.logits, a.logits)
    torch.testing.assert_close(b.attention, a.attention[:, perm])


def test_gradcheck():
    torch.manual_seed(2)
    m = AttentionMIL(3, hidden=4, attention_dim=3, gated=True).double()
    mask = torch.tensor([[True, True, False], [True, True, True]])
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t, mask).logits, (x,))


@pytest.mark.parametrize("gated", [False, True])
def test_attention_finds_the_key_instance(gated):
    """Trained on bag labels only, the attention's largest weight lands on the one
    label-carrying instance in most positive test bags (close to the oracle)."""
    torch.manual_seed(0)
    train, test = make_mil_bags(600, seed=0), make_mil_bags(200, seed=1)
    m = AttentionMIL(10, hidden=16, attention_dim=8, gated=gated)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(120):
        loss = F.binary_cross_entropy_with_logits(m(train.x, train.mask).logits[:, 0], train.y.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = m(test.x, test.mask)
    pos = test.y == 1
    rate = float((out.attention[pos].argmax(1) == test.key[pos]).float().mean())
    acc = float(((out.logits[:, 0] > 0).long() == test.y).float().mean())
    oracle = test.oracle_key_rate()
    print(f"gated={gated}: key-instance rate {rate:.3f} (oracle {oracle:.3f}), bag accuracy {acc:.3f}")
    assert rate > 0.8 and rate >= oracle - 0.15  # 0.87-0.93 over torch seeds 0-4
    assert acc > 0.8
    # chance: 1 / mean bag size of positive bags
    assert rate > 3 * float((1.0 / test.mask[pos].sum(1)).mean())


def test_synthetic_bags_have_one_key_per_positive_bag():
    b = make_mil_bags(50, d=6, seed=3)
    assert ((b.key >= 0) == (b.y == 1)).all()
    assert int(b.y.sum()) == 25
    pos = torch.nonzero(b.y == 1).flatten()
    assert all(bool(b.mask[i, b.key[i]]) for i in pos)
    again = make_mil_bags(50, d=6, seed=3)
    assert torch.equal(b.x, again.x) and torch.equal(b.key, again.key)
    assert torch.equal(b.direction, make_mil_bags(10, d=6, seed=9).direction)


def test_errors_name_the_argument():
    m = AttentionMIL(4)
    with pytest.raises(ShapeError, match=r"x must have shape \(n_bags, bag_size, 4\)"):
        m(torch.randn(2, 3, 5))
    with pytest.raises(ShapeError, match="mask must have shape"):
        m(torch.randn(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"at least one instance; mask has an all-False row \(bags \[1\]\)"):
        m(torch.randn(2, 3, 4), torch.tensor([[True, False, False], [False] * 3]))
    with pytest.raises(ConfigError, match="attention_dim"):
        AttentionMIL(4, attention_dim=0)
    with pytest.raises(ConfigError, match="min_size"):
        make_mil_bags(4, min_size=5, max_size=3)
