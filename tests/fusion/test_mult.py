"""Multimodal Transformer (Tsai et al., ACL 2019) against an independent stack
built from ``torch.nn.MultiheadAttention`` with the same weights, and a
learning test on unaligned sequences whose label needs both modalities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from polymodal.encoders import PaddedSequence
from polymodal.fusion.sequential import MultimodalTransformer


def _positions(t, d):
    """fairseq / MulT sinusoidal embedding: [sin | cos], frequencies 10000^(-i / (d/2 - 1))."""
    half = d // 2
    pe = torch.zeros(t, d, dtype=torch.float64)
    for p in range(t):
        for i in range(half):
            w = 10000.0 ** (-i / max(half - 1, 1))
            pe[p, i], pe[p, half + i] = math.sin(p * w), math.cos(p * w)
    return pe


def _mha(layer):
    """A fresh nn.MultiheadAttention with the layer's attention weights copied across."""
    ref = nn.MultiheadAttention(layer.attn.embed_dim, layer.attn.num_heads, batch_first=True).double()
    ref.load_state_dict(layer.attn.state_dict())
    return ref


def _ln(x, norm):
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _reference_transformer(tr, target, source, source_pad):
    """Tsai et al.'s TransformerEncoder (pre-norm): every layer i attends from
    LN_i(z^{[i-1]}) to LN_i(source embedding) (crossmodal) or to LN_i(z^{[i-1]})
    itself (self-attention, ``source is None``); final LayerNorm."""
    d = target.shape[-1]
    z = math.sqrt(d) * target + _positions(target.shape[1], d)
    s = None if source is None else math.sqrt(d) * source + _positions(source.shape[1], d)
    for layer in tr.layers:
        q = _ln(z, layer.norm_attn)
        kv = q if s is None else _ln(s, layer.norm_attn)
        z = z + _mha(layer)(q, kv, kv, key_padding_mask=source_pad, need_weights=False)[0]
        lin1, lin2 = layer.ffn[0], layer.ffn[3]
        z = z + F.linear(torch.relu(F.linear(_ln(z, layer.norm_ffn), lin1.weight, lin1.bias)), lin2.weight, lin2.bias)
    return _ln(z, tr.norm)


def _reference_mult(m, xs, lengths):
    names = list(m.in_features)
    proj = {k: xs[k] @ m.project[k].weight.T for k in names}
    pad = {k: torch.arange(xs[k].shape[1])[None, :] >= lengths[k][:, None] for k in names}
    last = []
    for t in names:
        z = torch.cat([_reference_transformer(m.crossmodal[f"{s}->{t}"], proj[t], proj[s], pad[s])
                       for s in names if s != t], -1)
        z = _reference_transformer(m.memories[t], z, None, pad[t])
        last.append(z[torch.arange(len(z)), lengths[t] - 1])
    h = torch.cat(last, 1)
    return F.linear(torch.relu(F.linear(h, m.proj1.weight, m.proj1.bias)), m.proj2.weight, m.proj2.bias) + h


@pytest.mark.parametrize("layers,memory_layers", [(1, 1), (2, 2), (3, 3), (1, 3)])
def test_stacked_layers_equal_independent_attention_stack(layers, memory_layers):
    """Layer i of the self-attention ("memory") transformer attends over its
    own current input z^{[i-1]}; crossmodal layers attend over the re-normalised
    source. Before the fix every memory layer used the layer-0 embedding as
    keys and values (max deviation 0.018 with memory_layers=2)."""
    torch.manual_seed(0)
    dims = {"a": 3, "b": 4, "c": 2}
    m = MultimodalTransformer(dims, dim=8, heads=2, layers=layers, memory_layers=memory_layers).double().eval()
    lengths = {"a": torch.tensor([5, 2, 4]), "b": torch.tensor([7, 7, 1]), "c": torch.tensor([3, 6, 6])}
    g = torch.Generator().manual_seed(1)
    xs = {k: torch.randn(3, int(n.max()), d, generator=g, dtype=torch.float64) for (k, d), n in
          zip(dims.items(), lengths.values())}
    out = m({k: PaddedSequence(x, lengths[k]) for k, x in xs.items()})
    torch.testing.assert_close(out, _reference_mult(m, xs, lengths), atol=1e-10, rtol=1e-10)


def _cooccurrence_task(n, k=3, ta=5, tb=8, noise=0.1, seed=0):
    """Modality a (length ta) and b (length tb): noise, plus at one random step
    a marker channel set to 1 and a one-hot content among ``k`` symbols. The
    label is whether both markers carry the same content: each modality's
    content is uniform and independent of the label, so one modality alone is
    at chance (0.5)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    ca = rng.integers(0, k, n)
    cb = np.where(y == 1, ca, (ca + rng.integers(1, k, n)) % k)
    xs = {}
    for name, t, c in (("a", ta, ca), ("b", tb, cb)):
        x = noise * rng.standard_normal((n, t, k + 1))
        pos = rng.integers(0, t, n)
        x[np.arange(n), pos, 0] += 1.0
        x[np.arange(n), pos, 1 + c] += 1.0
        xs[name] = torch.tensor(x, dtype=torch.float32)
    return xs, torch.tensor(y)


def test_learns_crossmodal_cooccurrence_on_unaligned_sequences():
    """Sequences of lengths 5 and 8; the label needs a's marker content compared
    with b's: MulT is near perfect while each modality alone is at chance."""
    from sklearn.linear_model import LogisticRegression

    xs, y = _cooccurrence_task(1000)
    xt, yt = _cooccurrence_task(400, seed=1)
    for k in ("a", "b"):  # each modality alone: chance
        lr = LogisticRegression(max_iter=500).fit(xs[k].flatten(1).numpy(), y.numpy())
        assert abs(lr.score(xt[k].flatten(1).numpy(), yt.numpy()) - 0.5) < 0.1
    torch.manual_seed(0)
    fusion = MultimodalTransformer({"a": 4, "b": 4}, dim=16, heads=2, layers=1, memory_layers=1, dropout=0.0,
                                   attn_dropout=0.0, embed_dropout=0.0)
    head = nn.Linear(fusion.out_features, 2)
    opt = torch.optim.Adam([*fusion.parameters(), *head.parameters()], lr=5e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(12):
        for idx in torch.randperm(len(y), generator=g).split(50):
            loss = F.cross_entropy(head(fusion({k: x[idx] for k, x in xs.items()})), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    fusion.eval()
    with torch.no_grad():
        acc = (head(fusion(xt)).argmax(1) == yt).float().mean().item()
    assert acc > 0.85, acc
