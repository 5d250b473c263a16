"""MulT's attention keeps no (N, heads, T_q, T_k) tensor for the backward pass
(the weights dominated its memory at 500 steps: 9.6 GiB RSS at batch 32 on
CPU, 2.8 GiB now), and gives nn.MultiheadAttention's outputs and gradients,
attention dropout included (the checkpointed CPU path replays its masks)."""

import pytest
import torch
from torch import nn

from polymodal.fusion.sequential import MultimodalTransformer
from polymodal.fusion.sequential.mult import _CrossmodalLayer


@pytest.mark.parametrize("attn_dropout", [0.0, 0.2])
def test_no_attention_weights_are_kept_for_backward(attn_dropout, saved_numels):
    torch.manual_seed(0)
    n, t_text, t_audio = 3, 5, 64
    m = MultimodalTransformer({"text": 4, "audio": 3}, dim=8, heads=2, layers=2, memory_layers=1,
                              attn_dropout=attn_dropout).train()
    x = {"text": torch.randn(n, t_text, 4), "audio": torch.randn(n, t_audio, 3)}
    out, sizes = saved_numels(lambda: m(x))
    weights = n * 2 * t_audio * t_audio  # one (N, heads, T, T) self-attention map
    assert max(sizes) < weights / 2, (max(sizes), weights)  # the largest kept: an FFN activation
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("padded", [False, True])
def test_layer_equals_multihead_attention_with_dropout_in_training(padded):
    torch.manual_seed(1)
    layer = _CrossmodalLayer(8, 2, dropout=0.0, attn_dropout=0.3).double().train()
    ref = nn.MultiheadAttention(8, 2, dropout=0.3, batch_first=True).double().train()
    ref.load_state_dict(layer.attn.state_dict())
    z, s = torch.randn(4, 6, 8, dtype=torch.double), torch.randn(4, 9, 8, dtype=torch.double)
    pad = torch.zeros(4, 9, dtype=torch.bool)
    if padded:
        pad[1, 5:] = True
        pad[3, 2:] = True
    torch.manual_seed(7)
    out = layer(z, s, pad)
    out.pow(2).sum().backward()
    torch.manual_seed(7)
    q, kv = layer.norm_attn(z), layer.norm_attn(s)
    expected = z + ref(q, kv, kv, key_padding_mask=pad if padded else None, need_weights=False)[0]
    expected = expected + layer.ffn(layer.norm_ffn(expected))
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)
    grads = {k: p.grad.clone() for k, p in layer.attn.named_parameters()}
    layer.zero_grad()
    expected.pow(2).sum().backward()
    for k, p in ref.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, atol=1e-10, rtol=1e-10)
