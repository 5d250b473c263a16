"""MulT's attention on CUDA, checked on CPU: which path each case takes, and the
CUDA branch (heads zero-padded to a multiple of 8, explicit scale, checkpointing
when no fused kernel applies) gives nn.MultiheadAttention's outputs and gradients
with attention dropout, keeping no (N, heads, T_q, T_k) tensor when checkpointed.
No GPU is needed; the kernels CUDA then picks are measured by benchmarks/gpu_check.py."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polymodal.fusion.sequential import mult
from polymodal.fusion.sequential.mult import _attention_path, _CrossmodalLayer, _fused_kernel_available


@pytest.mark.parametrize("device,dropout,grad,fused,expected", [
    ("cpu", 0.1, True, False, "checkpoint"),   # CPU's fused kernel has no dropout (unchanged)
    ("cpu", 0.0, True, False, "direct"),       # CPU flash kernel
    ("cpu", 0.1, False, False, "direct"),      # inference keeps nothing
    ("cuda", 0.1, True, True, "direct"),       # memory-efficient / flash / cuDNN take dropout_p
    ("cuda", 0.0, True, True, "direct"),
    ("cuda", 0.1, True, False, "checkpoint"),  # math fallback would keep weights and masks
    ("cuda", 0.0, True, False, "checkpoint"),  # ... and the weights even without dropout
    ("cuda", 0.1, False, False, "direct"),
    ("mps", 0.1, True, False, "direct"),
])
def test_attention_path(device, dropout, grad, fused, expected):
    assert _attention_path(device, dropout, grad, fused) == expected


def test_fused_kernel_check_is_false_off_cuda():
    q = torch.randn(2, 2, 5, 8)
    assert _fused_kernel_available(q, q, q, None, 0.1) is False


@pytest.mark.parametrize("fused", [False, True])
def test_cuda_branch_equals_multihead_attention_with_dropout(monkeypatch, fused, saved_numels):
    """dim 12, 2 heads: 6-wide heads (MulT's 30 / 5), padded to 8 on the CUDA branch."""
    monkeypatch.setattr(mult, "_device_kind", lambda x: "cuda")
    monkeypatch.setattr(mult, "_fused_kernel_available", lambda *a: fused)
    widths = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, *args, **kw):
        widths.append(q.shape[-1])
        return sdpa(q, *args, **kw)

    monkeypatch.setattr(mult.F, "scaled_dot_product_attention", spy)
    torch.manual_seed(1)
    n, t_z, t_s = 3, 30, 40
    layer = _CrossmodalLayer(12, 2, dropout=0.0, attn_dropout=0.3).double().train()
    ref = nn.MultiheadAttention(12, 2, dropout=0.3, batch_first=True).double().train()
    ref.load_state_dict(layer.attn.state_dict())
    z, s = torch.randn(n, t_z, 12, dtype=torch.double), torch.randn(n, t_s, 12, dtype=torch.double)
    pad = torch.zeros(n, t_s, dtype=torch.bool)
    pad[1, 25:] = True
    torch.manual_seed(7)
    out, sizes = saved_numels(lambda: layer(z, s, pad))
    out.pow(2).sum().backward()
    monkeypatch.setattr(mult.F, "scaled_dot_product_attention", sdpa)  # (torch.nn.functional itself)
    assert widths == [8] * (1 if fused else 2)  # checkpointed: run again in the backward pass
    weights = n * 2 * t_z * t_s
    assert (max(sizes) >= weights) == fused  # checkpointed: no (N, heads, T_q, T_k) tensor kept
    torch.manual_seed(7)
    q, kv = layer.norm_attn(z), layer.norm_attn(s)
    expected = z + ref(q, kv, kv, key_padding_mask=pad, need_weights=False)[0]
    expected = expected + layer.ffn(layer.norm_ffn(expected))
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)
    grads = {k: p.grad.clone() for k, p in layer.attn.named_parameters()}
    expected.pow(2).sum().backward()
    for k, p in ref.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, atol=1e-10, rtol=1e-10)
