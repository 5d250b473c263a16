"""Multimodal Transformer (Tsai, Bai, Liang, Kolter, Morency & Salakhutdinov,
"Multimodal Transformer for Unaligned Multimodal Language Sequences", ACL 2019)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from polymodal.encoders.sequence import PaddedSequence, sequence_mask
from polymodal.fusion.sequential._common import gather_sequences
from polymodal.core.registry import register

__all__ = ["MultimodalTransformer", "CrossmodalTransformer"]


def sinusoidal_positions(t: int, d: int, device=None, dtype=None) -> torch.Tensor:
    """``(t, d)`` sinusoidal position embeddings (Vaswani et al., NeurIPS 2017)."""
    position = torch.arange(t, device=device, dtype=torch.float64)[:, None]
    half = d // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float64) / max(half - 1, 1))
    angles = position * freq[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if d % 2:
        emb = torch.cat([emb, torch.zeros(t, 1, device=device, dtype=torch.float64)], dim=1)
    return emb.to(dtype)


class _CrossmodalLayer(nn.Module):
    """Pre-LN layer: ``z = z + MHA(LN(z), LN(x_s), LN(x_s)); z = z + FFN(LN(z))``, with ``x_s = z``
    (self-attention over the layer's current input) when no source is given."""

    def __init__(self, dim: int, heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, z: torch.Tensor, source: torch.Tensor | None, source_pad: torch.Tensor) -> torch.Tensor:
        q = self.norm_attn(z)
        kv = q if source is None else self.norm_attn(source)
        z = z + self.dropout(_attention(self.attn, q, kv, source_pad, self.training))
        return z + self.dropout(self.ffn(self.norm_ffn(z)))


CUDA_HEAD_ALIGN = 8  # head sizes CUDA's fused SDPA kernels take (memory-efficient: 16 bytes; flash/cuDNN: 8)


def _device_kind(x: torch.Tensor) -> str:
    return x.device.type


def _fused_kernel_available(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                            mask: torch.Tensor | None, dropout: float) -> bool:
    """Whether CUDA's ``scaled_dot_product_attention`` can run a fused kernel (flash,
    memory-efficient or cuDNN; all take ``dropout_p``) on these inputs, none of which
    keeps the ``(N, heads, T_q, T_k)`` weights; False off CUDA or when it cannot tell."""
    if queries.device.type != "cuda":
        return False
    if torch.compiler.is_compiling():  # the compiler picks the kernel itself
        return True
    cuda = torch.backends.cuda
    try:
        params = cuda.SDPAParams(queries, keys, values, mask, dropout, False, False)
        checks = [(cuda.flash_sdp_enabled, cuda.can_use_flash_attention),
                  (cuda.mem_efficient_sdp_enabled, cuda.can_use_efficient_attention),
                  (cuda.cudnn_sdp_enabled, cuda.can_use_cudnn_attention)]
        return any(enabled() and usable(params) for enabled, usable in checks)
    except (AttributeError, TypeError, RuntimeError):  # another torch's signature: take the safe path
        return False


def _attention_path(device: str, dropout: float, grad: bool, fused: bool) -> str:
    """``"checkpoint"`` (recompute the attention in the backward pass, dropout masks
    replayed) where SDPA would otherwise keep the ``(N, heads, T_q, T_k)`` weights for
    backward, else ``"direct"``. CPU: with attention dropout (its fused kernel has no
    dropout). CUDA: whenever no fused kernel takes the call (e.g. float32 with a
    head size that is not a multiple of 4, or a disabled backend): its math
    fallback keeps the weights with or without dropout."""
    if not grad:
        return "direct"
    if device == "cuda":
        return "direct" if fused else "checkpoint"
    return "checkpoint" if device == "cpu" and dropout > 0 else "direct"


def _attention(mha: nn.MultiheadAttention, q: torch.Tensor, kv: torch.Tensor, pad: torch.Tensor | None,
               training: bool) -> torch.Tensor:
    """``mha(q, kv, kv, key_padding_mask=pad)`` (same weights, same result) through
    ``scaled_dot_product_attention``, whose fused kernels never store the
    ``(N, heads, T_q, T_k)`` weights. Where no fused kernel applies
    (:func:`_attention_path`: CPU with attention dropout; CUDA without an eligible
    kernel) the attention is recomputed in the backward pass (activation
    checkpointing, dropout masks replayed) instead of storing the weights: at
    500 steps they dominate MulT's memory (9.6 GiB at batch 32 on CPU before).
    On CUDA the heads are zero-padded to a multiple of :data:`CUDA_HEAD_ALIGN`
    (scale kept at ``1 / sqrt(d / heads)``; padded query/key columns add exact
    zeros to ``Q K^T``, padded value columns are cut off), so MulT's 30 / 5 = 6-wide
    heads reach the memory-efficient kernel, dropout included."""
    n, t_q, d = q.shape
    h = mha.num_heads
    head = d // h
    w, b = mha.in_proj_weight, mha.in_proj_bias
    bq, bk, bv = (None, None, None) if b is None else b.chunk(3)
    wq, wk, wv = w.chunk(3)
    split = lambda x: x.view(n, -1, h, head).transpose(1, 2)  # noqa: E731
    queries, keys, values = split(F.linear(q, wq, bq)), split(F.linear(kv, wk, bk)), split(F.linear(kv, wv, bv))
    mask = None if pad is None else ~pad[:, None, None, :]  # no data-dependent branch (meta, compile, export)
    p = mha.dropout if training else 0.0
    device = _device_kind(queries)
    scale = None
    if device == "cuda" and head % CUDA_HEAD_ALIGN:
        extra = CUDA_HEAD_ALIGN - head % CUDA_HEAD_ALIGN
        queries, keys, values = (F.pad(x, (0, extra)) for x in (queries, keys, values))
        scale = 1.0 / math.sqrt(head)

    def attend(qs, ks, vs):
        return F.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask, dropout_p=p, scale=scale)

    grad = torch.is_grad_enabled() and any(x.requires_grad for x in (queries, keys, values))
    fused = device == "cuda" and grad and _fused_kernel_available(queries, keys, values, mask, p)
    if _attention_path(device, p, grad, fused) == "checkpoint":
        out = checkpoint(attend, queries, keys, values, use_reentrant=False)
    else:
        out = attend(queries, keys, values)
    return mha.out_proj(out[..., :head].transpose(1, 2).reshape(n, t_q, d))


class CrossmodalTransformer(nn.Module):
    """``layers`` pre-norm attention blocks (Tsai et al.'s ``TransformerEncoder``).

    Crossmodal (``source`` given): every layer :math:`i` queries with
    :math:`LN_i(Z^{[i-1]})` and takes keys/values from :math:`LN_i(Z^{[0]}_\\alpha)`, the
    embedded source re-normalised by that layer's LayerNorm (Eq. 4). Self-attention
    (``source=None``): every layer attends over its own current input
    :math:`LN_i(Z^{[i-1]})`. Inputs are scaled by :math:`\\sqrt{d}` and get
    sinusoidal positions; padded source (or, for self-attention, target) steps
    are masked out of the attention; a final LayerNorm follows.
    """

    def __init__(self, dim: int, heads: int, layers: int, dropout: float = 0.0, attn_dropout: float = 0.0,
                 embed_dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(_CrossmodalLayer(dim, heads, dropout, attn_dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.embed_dropout = nn.Dropout(embed_dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        pos = sinusoidal_positions(x.shape[1], self.dim, x.device, x.dtype)
        return self.embed_dropout(math.sqrt(self.dim) * x + pos)

    def forward(self, target: torch.Tensor, source: torch.Tensor | None, source_pad: torch.Tensor) -> torch.Tensor:
        """``(N, T_t, d)`` states of ``target`` (N, T_t, d) attending to ``source`` (N, T_s, d), or to
        itself when ``source`` is None; ``source_pad`` (N, T_s) (or (N, T_t)) is True at padding."""
        z = self._embed(target)
        s = None if source is None else self._embed(source)
        for layer in self.layers:
            z = layer(z, s, source_pad)
        return self.norm(z)


@register("fusion", "mult")
class MultimodalTransformer(nn.Module):
    """Directional pairwise crossmodal attention; works on unaligned sequences.

    For every target modality :math:`\\beta` and source :math:`\\alpha \\ne \\beta`
    a crossmodal transformer :math:`CM_{\\alpha \\to \\beta}` lets the target
    attend to the source (Tsai et al., ACL 2019, Eq. 4):

    .. math:: Z^{[i]}_{\\alpha\\to\\beta} = CM^{[i]}(LN(Z^{[i-1]}_{\\alpha\\to\\beta}), LN(Z^{[0]}_\\alpha))
              + \\text{FFN}, \\quad
              CM(Q_\\beta, K_\\alpha) = \\mathrm{softmax}(Q_\\beta W_Q W_K^\\top K_\\alpha^\\top / \\sqrt{d}) K_\\alpha W_V

    The outputs for one target are concatenated, passed through a
    self-attention transformer (each layer attends over its current input), and its state at the target's last real step is
    kept. The concatenation over targets goes through a residual two-layer
    block: ``z = W_2 relu(W_1 z) + z``. Modalities are first projected to ``dim``
    per step (MulT's kernel-size-1 temporal convolution).

    Parameters
    ----------
    in_features : dict[str, int]
        Per-step size of each modality (>= 2 modalities; lengths may differ).
    dim : int
        Model width ``d`` (divisible by ``heads``).
    heads, layers : int
        Attention heads; layers of each crossmodal transformer.
    memory_layers : int
        Layers of each target's self-attention transformer (MulT: 3).
    dropout, attn_dropout, embed_dropout, out_dropout : float

    Output: ``(N, M (M - 1) d)``.

    >>> f = MultimodalTransformer({"a": 2, "b": 3}, dim=8, heads=2, layers=1, memory_layers=1)
    >>> f({"a": torch.zeros(4, 7, 2), "b": torch.zeros(4, 12, 3)}).shape
    torch.Size([4, 16])
    """

    def __init__(self, in_features: Mapping[str, int], dim: int = 30, heads: int = 5, layers: int = 4,
                 memory_layers: int = 3, dropout: float = 0.1, attn_dropout: float = 0.1,
                 embed_dropout: float = 0.25, out_dropout: float = 0.0) -> None:
        super().__init__()
        self.in_features = dict(in_features)
        names = list(self.in_features)
        if len(names) < 2:
            raise ValueError(f"the Multimodal Transformer needs at least 2 modalities, got {names}")
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.dim = dim
        self.project = nn.ModuleDict({m: nn.Linear(d, dim, bias=False) for m, d in self.in_features.items()})
        self.crossmodal = nn.ModuleDict({
            f"{s}->{t}": CrossmodalTransformer(dim, heads, layers, dropout, attn_dropout, embed_dropout)
            for t in names for s in names if s != t
        })
        width = (len(names) - 1) * dim
        self.memories = nn.ModuleDict({
            t: CrossmodalTransformer(width, heads, memory_layers, dropout, attn_dropout, embed_dropout) for t in names
        })
        total = len(names) * width
        self.proj1, self.proj2 = nn.Linear(total, total), nn.Linear(total, total)
        self.out_dropout = nn.Dropout(out_dropout)
        self.out_features = total

    def forward(self, features: Mapping[str, torch.Tensor | PaddedSequence],
                present: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        values, lengths = gather_sequences(features, self.in_features, present, aligned=False, model="mult")
        names = list(self.in_features)
        proj = {m: self.project[m](values[m]) for m in names}
        pad = {m: ~sequence_mask(lengths[m], proj[m].shape[1], proj[m].device) for m in names}
        last = []
        for t in names:
            z = torch.cat([self.crossmodal[f"{s}->{t}"](proj[t], proj[s], pad[s]) for s in names if s != t], dim=-1)
            z = self.memories[t](z, None, pad[t])
            index = (lengths[t] - 1).to(z.device)
            last.append(z[torch.arange(z.shape[0], device=z.device), index])
        h = torch.cat(last, dim=1)
        return self.proj2(self.out_dropout(torch.relu(self.proj1(h)))) + h
