"""Implicit alignment: attention modules that return their weights.

Every module maps ``query`` (B, Lq, dq), ``key`` (B, Lk, dk) and ``value``
(B, Lk, dv; default: ``key``) with an optional ``key_padding_mask`` (B, Lk),
True where a key is padding, to an :class:`AttentionOutput`: the context
(B, Lq, dv or embed_dim) and the weights (B, Lq, Lk) - a soft alignment of
every query step to the key steps, ready for :func:`plot_attention`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from polymodal.core.pytree import pytree_output
from polymodal.errors import ConfigError, ShapeError

__all__ = [
    "AttentionOutput",
    "AdditiveAttention",
    "DotAttention",
    "GeneralAttention",
    "MultiHeadAttention",
]


@pytree_output
@dataclass
class AttentionOutput:
    """``context`` (B, Lq, d_out); ``weights`` (B, Lq, Lk), or (B, heads, Lq, Lk)
    for :class:`MultiHeadAttention` with ``average_weights=False``."""

    context: Tensor
    weights: Tensor


def _check(query: Tensor, key: Tensor, value: Tensor | None, mask: Tensor | None):
    if query.dim() != 3 or key.dim() != 3:
        raise ShapeError(
            f"query and key must be (B, L, d), got {tuple(query.shape)} and {tuple(key.shape)}"
        )
    value = key if value is None else value
    if value.dim() != 3 or value.shape[:2] != key.shape[:2] or query.shape[0] != key.shape[0]:
        raise ShapeError(
            f"value must be (B, Lk, dv) matching key (B, Lk) = {tuple(key.shape[:2])} and query batch "
            f"{query.shape[0]}, got {tuple(value.shape)}"
        )
    if mask is not None:
        if mask.shape != key.shape[:2] or mask.dtype != torch.bool:
            raise ShapeError(
                f"key_padding_mask must be a bool tensor of shape {tuple(key.shape[:2])}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        if mask.all(dim=1).any():
            raise ShapeError("key_padding_mask hides every key of some sequence: its attention is undefined")
    return value


def _attend(scores: Tensor, value: Tensor, mask: Tensor | None, dropout: nn.Module | None = None):
    """softmax over keys (masked keys get weight 0), then the weighted sum."""
    if mask is not None:
        scores = scores.masked_fill(mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    w = weights if dropout is None else dropout(weights)
    return AttentionOutput(torch.bmm(w, value), weights)


class DotAttention(nn.Module):
    """Dot-product attention (Luong, Pham & Manning, EMNLP 2015, "dot"):
    :math:`a_{ij} = \\mathrm{softmax}_j(q_i^\\top k_j / s)` with ``s = sqrt(d)``
    when ``scaled`` (Vaswani et al., NeurIPS 2017), else 1.

    >>> out = DotAttention()(torch.ones(1, 2, 4), torch.ones(1, 3, 4))
    >>> out.weights[0, 0].tolist()
    [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
    """

    def __init__(self, scaled: bool = True):
        super().__init__()
        self.scaled = scaled

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                key_padding_mask: Tensor | None = None) -> AttentionOutput:
        value = _check(query, key, value, key_padding_mask)
        if query.shape[-1] != key.shape[-1]:
            raise ShapeError(f"dot attention needs dq == dk, got {query.shape[-1]} and {key.shape[-1]}")
        scores = torch.bmm(query, key.transpose(1, 2))
        if self.scaled:
            scores = scores / math.sqrt(query.shape[-1])
        return _attend(scores, value, key_padding_mask)


class GeneralAttention(nn.Module):
    """Bilinear ("general") attention (Luong et al., EMNLP 2015):
    :math:`a_{ij} = \\mathrm{softmax}_j(q_i^\\top W k_j)`, W (dq, dk).

    >>> att = GeneralAttention(4, 6)
    >>> att(torch.randn(2, 3, 4), torch.randn(2, 5, 6)).weights.shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.W = nn.Linear(key_dim, query_dim, bias=False)

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                key_padding_mask: Tensor | None = None) -> AttentionOutput:
        value = _check(query, key, value, key_padding_mask)
        return _attend(torch.bmm(query, self.W(key).transpose(1, 2)), value, key_padding_mask)


class AdditiveAttention(nn.Module):
    """Additive attention (Bahdanau, Cho & Bengio, "Neural machine translation by
    jointly learning to align and translate", ICLR 2015; the soft attention of
    Xu et al., ICML 2015, Eq. 4-5):
    :math:`a_{ij} = \\mathrm{softmax}_j\\, v^\\top \\tanh(W_q q_i + W_k k_j + b)`,
    context :math:`c_i = \\sum_j a_{ij} v_j` (values default to the keys).

    A step-wise decoder attends with one query per step (``query`` (B, 1, dq))
    over the same keys: :meth:`project_keys` computes :math:`W_k k_j` once and
    ``forward(..., projected_keys=...)`` reuses it.

    Parameters
    ----------
    query_dim, key_dim : int
        Feature sizes dq of the queries and dk of the keys.
    hidden_dim : int
        Size of the hidden layer of the score MLP.

    Examples
    --------
    >>> att = AdditiveAttention(4, 6, hidden_dim=8)
    >>> round(att(torch.randn(2, 3, 4), torch.randn(2, 5, 6)).weights.detach().sum(-1).mean().item(), 6)
    1.0
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int = 64):
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        self.W_k = nn.Linear(key_dim, hidden_dim, bias=False)
        self.W_q = nn.Linear(query_dim, hidden_dim, bias=True)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def project_keys(self, key: Tensor) -> Tensor:
        """:math:`W_k k_j` (B, Lk, hidden_dim), computed once per input and reused at every decoding step."""
        return self.W_k(key)

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                key_padding_mask: Tensor | None = None,
                projected_keys: Tensor | None = None) -> AttentionOutput:
        value = _check(query, key, value, key_padding_mask)
        if key.shape[-1] != self.key_dim or query.shape[-1] != self.query_dim:
            raise ShapeError(
                f"keys must be (B, Lk, {self.key_dim}) and queries (B, Lq, {self.query_dim}), "
                f"got key {tuple(key.shape)} and query {tuple(query.shape)}"
            )
        pk = self.project_keys(key) if projected_keys is None else projected_keys
        h = torch.tanh(self.W_q(query)[:, :, None, :] + pk[:, None, :, :])
        return _attend(self.v(h).squeeze(-1), value, key_padding_mask)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (Vaswani et al., NeurIPS 2017):
    :math:`\\mathrm{concat}_h(\\mathrm{softmax}(Q W^Q_h (K W^K_h)^\\top / \\sqrt{d_h}) V W^V_h) W^O`.

    Same parameters and result as :class:`torch.nn.MultiheadAttention`
    (``batch_first=True``), with the weights returned per head
    (``average_weights=False``) or averaged over heads.

    >>> mha = MultiHeadAttention(8, num_heads=2)
    >>> out = mha(torch.randn(2, 3, 8), torch.randn(2, 5, 8))
    >>> tuple(out.context.shape), tuple(out.weights.shape)
    ((2, 3, 8), (2, 3, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int = 1, kdim: int | None = None,
                 vdim: int | None = None, dropout: float = 0.0, average_weights: bool = True):
        super().__init__()
        if embed_dim % num_heads:
            raise ConfigError(f"embed_dim must be divisible by num_heads, got {embed_dim} and {num_heads}")
        self.num_heads = num_heads
        self.average_weights = average_weights
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(kdim or embed_dim, embed_dim)
        self.v_proj = nn.Linear(vdim or embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                key_padding_mask: Tensor | None = None) -> AttentionOutput:
        value = _check(query, key, value, key_padding_mask)
        B, Lq, E = query.shape
        Lk, H = key.shape[1], self.num_heads

        def heads(t: Tensor, L: int) -> Tensor:
            return t.view(B, L, H, E // H).transpose(1, 2).reshape(B * H, L, E // H)

        q = heads(self.q_proj(query), Lq) / math.sqrt(E // H)
        k, v = heads(self.k_proj(key), Lk), heads(self.v_proj(value), Lk)
        mask = None if key_padding_mask is None else key_padding_mask.repeat_interleave(H, dim=0)
        out = _attend(torch.bmm(q, k.transpose(1, 2)), v, mask, self.dropout)
        ctx = out.context.view(B, H, Lq, E // H).transpose(1, 2).reshape(B, Lq, E)
        w = out.weights.view(B, H, Lq, Lk)
        return AttentionOutput(self.out_proj(ctx), w.mean(dim=1) if self.average_weights else w)
