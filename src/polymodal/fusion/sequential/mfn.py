"""Memory Fusion Network (Zadeh, Liang, Mazumder, Poria, Cambria & Morency,
"Memory Fusion Network for Multi-view Sequential Learning", AAAI 2018)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.encoders.sequence import PaddedSequence, sequence_mask
from polymodal.fusion.sequential._common import freeze_padded, gather_sequences
from polymodal.core.registry import register

__all__ = ["MemoryFusionNetwork"]


def _mlp(n_in: int, n_hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(n_hidden, n_out))


@register("fusion", "mfn")
class MemoryFusionNetwork(nn.Module):
    """System of LSTMs + Delta-memory Attention Network + Multi-view Gated Memory.

    At each step :math:`t` every view :math:`n` updates its own LSTM,
    :math:`(h^n_t, c^n_t) = \\mathrm{LSTM}_n(x^n_t, h^n_{t-1}, c^n_{t-1})`. The
    delta-memory attention reads the memories of two consecutive steps,
    :math:`c^{[t-1,t]} = [c^1_{t-1}; \\dots; c^N_{t-1}; c^1_t; \\dots; c^N_t]`::

        a = softmax(D_a(c^{[t-1,t]})),       ĉ = a * c^{[t-1,t]}
        û_t = tanh(D_u(ĉ))
        γ1 = σ(D_γ1([ĉ; u_{t-1}])),           γ2 = σ(D_γ2([ĉ; u_{t-1}]))
        u_t = γ1 * u_{t-1} + γ2 * û_t

    (each ``D`` a two-layer ReLU network with dropout). Output: the final
    states and memory :math:`[h^1_T; \\dots; h^N_T; u_T]`. Steps past a
    sequence's length leave every state unchanged, so a padded batch gives the
    same result as each sequence alone.

    Parameters
    ----------
    in_features : dict[str, int]
        Per-step size of each view (aligned sequences).
    hidden : int or dict[str, int]
        LSTM size per view.
    memory : int
        Size of the multi-view gated memory ``u``.
    attention_hidden, gate_hidden : int
        Hidden sizes of ``D_a``/``D_u`` and of ``D_γ1``/``D_γ2``.
    dropout : float

    >>> f = MemoryFusionNetwork({"a": 2, "b": 3}, hidden=4, memory=5)
    >>> f({"a": torch.zeros(6, 7, 2), "b": torch.zeros(6, 7, 3)}).shape
    torch.Size([6, 13])
    """

    def __init__(self, in_features: Mapping[str, int], hidden: int | Mapping[str, int] = 32, memory: int = 64,
                 attention_hidden: int = 32, gate_hidden: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_features = dict(in_features)
        sizes = {m: int(hidden[m] if isinstance(hidden, Mapping) else hidden) for m in self.in_features}
        self.hidden = sizes
        self.lstms = nn.ModuleDict({m: nn.LSTMCell(d, sizes[m]) for m, d in self.in_features.items()})
        total = sum(sizes.values())
        self.memory = memory
        self.attention = _mlp(2 * total, attention_hidden, 2 * total, dropout)  # D_a
        self.candidate = _mlp(2 * total, attention_hidden, memory, dropout)  # D_u
        self.retain = _mlp(2 * total + memory, gate_hidden, memory, dropout)  # D_γ1
        self.update = _mlp(2 * total + memory, gate_hidden, memory, dropout)  # D_γ2
        self.out_features = total + memory

    def forward(self, features: Mapping[str, torch.Tensor | PaddedSequence],
                present: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        values, lengths = gather_sequences(features, self.in_features, present, aligned=True, model="mfn")
        first = next(iter(values.values()))
        n, t = first.shape[:2]
        active = sequence_mask(next(iter(lengths.values())), t, first.device)
        h = {m: first.new_zeros(n, s) for m, s in self.hidden.items()}
        c = {m: first.new_zeros(n, s) for m, s in self.hidden.items()}
        u = first.new_zeros(n, self.memory)
        full = bool(active.all())
        # unbind, not values[m][:, step]: a per-step slice's backward writes a full (N, T, d) gradient
        # every step (O(T^2) when the inputs come from a trained encoder)
        steps = {m: values[m].unbind(1) for m in self.lstms}
        for step in range(t):
            on = active[:, step]
            new_h, new_c = {}, {}
            for m, cell in self.lstms.items():
                new_h[m], new_c[m] = cell(steps[m][step], (h[m], c[m]))
            delta = torch.cat([c[m] for m in self.hidden] + [new_c[m] for m in self.hidden], dim=1)
            attended = torch.softmax(self.attention(delta), dim=1) * delta
            candidate = torch.tanh(self.candidate(attended))
            both = torch.cat([attended, u], dim=1)
            new_u = torch.sigmoid(self.retain(both)) * u + torch.sigmoid(self.update(both)) * candidate
            if full:  # no sequence has ended: skip the masking
                u, h, c = new_u, new_h, new_c
                continue
            u = freeze_padded(new_u, u, on)
            h = {m: freeze_padded(new_h[m], h[m], on) for m in self.hidden}
            c = {m: freeze_padded(new_c[m], c[m], on) for m in self.hidden}
        return torch.cat([h[m] for m in self.hidden] + [u], dim=1)
