"""Attention modules against closed forms and torch.nn.MultiheadAttention."""

from __future__ import annotations

import math

import pytest
import torch

from polymodal.alignment import (
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    MultiHeadAttention,
)
from polymodal.errors import ShapeError



@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _data(dq=4, dk=4, dv=3, B=2, Lq=3, Lk=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, Lq, dq, generator=g, dtype=torch.float64)
    k = torch.randn(B, Lk, dk, generator=g, dtype=torch.float64)
    v = torch.randn(B, Lk, dv, generator=g, dtype=torch.float64)
    mask = torch.zeros(B, Lk, dtype=torch.bool)
    mask[1, 3:] = True
    return q, k, v, mask


def _reference(scores, v, mask):
    """Per-element loops: softmax over unmasked keys, weighted sum."""
    B, Lq, Lk = scores.shape
    W = torch.zeros_like(scores)
    for b in range(B):
        keep = ~mask[b]
        for i in range(Lq):
            e = torch.exp(scores[b, i, keep] - scores[b, i, keep].max())
            W[b, i, keep] = e / e.sum()
    return W @ v, W


def test_dot_and_general_match_the_closed_form():
    q, k, v, mask = _data()
    out = DotAttention()(q, k, v, mask)
    ctx, W = _reference(q @ k.transpose(1, 2) / 2.0, v, mask)
    torch.testing.assert_close(out.weights, W, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.context, ctx, rtol=0, atol=1e-12)
    assert (out.weights[1, :, 3:] == 0).all()
    q, k, v, mask = _data(dq=4, dk=6)
    att = GeneralAttention(4, 6).double()
    out = att(q, k, v, mask)
    ctx, W = _reference(q @ att.W.weight @ k.transpose(1, 2), v, mask)
    torch.testing.assert_close(out.weights, W, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.context, ctx, rtol=0, atol=1e-12)


def test_additive_matches_the_closed_form_and_gradcheck():
    q, k, v, mask = _data(dq=4, dk=6)
    att = AdditiveAttention(4, 6, hidden_dim=7).double()
    out = att(q, k, v, mask)
    Wq, bq, Wk, vv = att.W_q.weight, att.W_q.bias, att.W_k.weight, att.v.weight[0]
    scores = torch.empty(2, 3, 5)
    for b in range(2):
        for i in range(3):
            for j in range(5):
                scores[b, i, j] = vv @ torch.tanh(Wq @ q[b, i] + bq + Wk @ k[b, j])
    ctx, W = _reference(scores, v, mask)
    torch.testing.assert_close(out.weights, W, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.context, ctx, rtol=0, atol=1e-12)
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: att(a, k, v, mask).context, (q,))


def test_additive_projected_keys_are_reused_step_by_step():
    """The decoder path (one query per step, keys projected once) gives the all-queries result,
    and key / query widths that do not match the layer are a ShapeError naming both."""
    q, k, v, mask = _data(dq=4, dk=6)
    att = AdditiveAttention(4, 6, hidden_dim=7).double()
    full = att(q, k, v, mask)
    pk = att.project_keys(k)
    for i in range(q.shape[1]):
        step = att(q[:, i:i + 1], k, v, mask, projected_keys=pk)
        torch.testing.assert_close(step.weights[:, 0], full.weights[:, i], rtol=0, atol=1e-12)
        torch.testing.assert_close(step.context[:, 0], full.context[:, i], rtol=0, atol=1e-12)
    with pytest.raises(ShapeError, match="keys must be"):
        att(q, k[..., :5])


@pytest.mark.parametrize("kdim,vdim,heads", [(None, None, 2), (6, 5, 4)])
def test_multihead_equals_torch(kdim, vdim, heads):
    E = 8
    q, k, v, mask = _data(dq=E, dk=kdim or E, dv=vdim or E)
    ours = MultiHeadAttention(E, heads, kdim=kdim, vdim=vdim, average_weights=False).double()
    ref = torch.nn.MultiheadAttention(E, heads, kdim=kdim, vdim=vdim, batch_first=True).double()
    with torch.no_grad():
        if ref._qkv_same_embed_dim:
            ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        else:
            ref.q_proj_weight.copy_(ours.q_proj.weight)
            ref.k_proj_weight.copy_(ours.k_proj.weight)
            ref.v_proj_weight.copy_(ours.v_proj.weight)
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    out = ours(q, k, v, mask)
    ctx, W = ref(q, k, v, key_padding_mask=mask, average_attn_weights=False)
    torch.testing.assert_close(out.context, ctx, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.weights, W, rtol=0, atol=1e-12)
    ours.average_weights = True
    torch.testing.assert_close(ours(q, k, v, mask).weights, W.mean(1), rtol=0, atol=1e-12)
    assert math.isclose(out.weights.detach().sum(-1).mean().item(), 1.0)


def test_bad_input():
    q, k, v, mask = _data()
    with pytest.raises(ShapeError, match=r"^key_padding_mask must be a bool tensor of shape \(2, 5\)"):
        DotAttention()(q, k, v, mask.float())
    full = torch.ones(2, 5, dtype=torch.bool)
    with pytest.raises(ShapeError, match=r"^key_padding_mask hides every key of some sequence"):
        DotAttention()(q, k, v, full)
    with pytest.raises(ShapeError, match=r"^dot attention needs dq == dk, got 4 and 6$"):
        DotAttention()(q, torch.zeros(2, 5, 6))
