"""Multi-View LSTM (Rajagopalan, Morency, Baltrušaitis & Goecke, "Extending
Long Short-Term Memory for Multi-View Structured Learning", ECCV 2016)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.encoders.sequence import PaddedSequence, sequence_mask
from polymodal.fusion.sequential._common import freeze_padded, gather_sequences
from polymodal.core.registry import register

__all__ = ["MVLSTM", "MVLSTMCell", "MVLSTM_TOPOLOGIES"]

# topology -> (alpha, beta): fractions of each view's memory cells that are
# view-specific (alpha) and coupled (beta); the rest are fully connected.
MVLSTM_TOPOLOGIES = {"view_specific": (1.0, 0.0), "coupled": (0.0, 1.0), "fully_connected": (0.0, 0.0)}


class MVLSTMCell(nn.Module):
    """One step of the MV-LSTM: per-view memories partitioned by connectivity.

    View :math:`k` has memory :math:`c^k \\in R^H`, split into three regions:
    the first :math:`\\lfloor \\alpha H \\rceil` cells are *view-specific*
    (their gates and candidate read :math:`h^k_{t-1}` only), the next
    :math:`\\lfloor \\beta H \\rceil` are *coupled* (they read the other views'
    :math:`h^{j \\ne k}_{t-1}` only), the rest are *fully connected* (all views).
    Every region reads its own view's input :math:`x^k_t` (the MV-sigmoid /
    MV-tanh activations)::

        [i, f, o, g]^k_t = [s, s, s, tanh](W^k x^k_t + (U^k * M^k) [h^1_{t-1}; ...; h^K_{t-1}] + b^k)
        c^k_t = f * c^k_{t-1} + i * g,    h^k_t = o * tanh(c^k_t)

    with :math:`M^k` the fixed 0/1 connectivity mask of the regions (masked
    weights get exactly zero gradient).

    Parameters
    ----------
    in_features : dict[str, int]
        Per-step input size of each view.
    hidden : int
        Memory cells per view, ``H``.
    alpha, beta : float
        Fractions of view-specific and coupled cells, ``alpha + beta <= 1``.
    """

    def __init__(self, in_features: Mapping[str, int], hidden: int, alpha: float, beta: float) -> None:
        super().__init__()
        if not (0 <= alpha <= 1 and 0 <= beta <= 1 and alpha + beta <= 1 + 1e-9):
            raise ValueError(f"need 0 <= alpha, beta and alpha + beta <= 1, got alpha={alpha}, beta={beta}")
        self.views = list(in_features)
        k, h = len(self.views), hidden
        self.hidden = h
        self.n_specific = int(round(alpha * h))
        self.n_coupled = min(int(round(beta * h)), h - self.n_specific)
        self.inputs = nn.ModuleDict({v: nn.Linear(d, 4 * h) for v, d in in_features.items()})
        self.recurrent = nn.Parameter(torch.empty(k, 4 * h, k * h))
        mask = torch.zeros(k, 4, h, k * h)
        own = torch.zeros(k, k * h)
        for v in range(k):
            own[v, v * h:(v + 1) * h] = 1.0
        a, b = self.n_specific, self.n_specific + self.n_coupled
        for v in range(k):
            mask[v, :, :a] = own[v]
            mask[v, :, a:b] = 1.0 - own[v]
            mask[v, :, b:] = 1.0
        self.register_buffer("mask", mask.reshape(k, 4 * h, k * h))
        bound = 1.0 / h**0.5
        nn.init.uniform_(self.recurrent, -bound, bound)
        for layer in self.inputs.values():
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.uniform_(layer.bias, -bound, bound)

    def regions(self) -> dict[str, slice]:
        """Cell index ranges of the view-specific, coupled and fully-connected regions."""
        a, b = self.n_specific, self.n_specific + self.n_coupled
        return {"view_specific": slice(0, a), "coupled": slice(a, b), "fully_connected": slice(b, self.hidden)}

    def masked_recurrent(self) -> torch.Tensor:
        """``U * M`` as one ``(K * 4H, K * H)`` matrix (rows: view-major gates)."""
        k = len(self.views)
        return (self.recurrent * self.mask).reshape(k * 4 * self.hidden, k * self.hidden)

    def input_gates(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``W^k x^k + b^k`` for every view, stacked on axis -2: ``(..., K, 4H)``."""
        return torch.stack([self.inputs[v](x[v]) for v in self.views], dim=-2)

    def step(self, x_gates: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
             recurrent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update from precomputed input gates ``(N, K, 4H)`` and ``recurrent = masked_recurrent()``."""
        n, k, hid = h.shape
        gates = x_gates + (h.reshape(n, k * hid) @ recurrent.T).view(n, k, 4 * hid)
        i, f, o, g = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x: Mapping[str, torch.Tensor], h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x[v]`` ``(N, d_v)``; ``h, c`` ``(N, K, H)``; returns the new ``(h, c)``."""
        return self.step(self.input_gates(x), h, c, self.masked_recurrent())


@register("fusion", "mv_lstm")
class MVLSTM(nn.Module):
    """Multi-View LSTM over aligned views; output the final hidden states of all views.

    Topologies (Rajagopalan et al., ECCV 2016, Sec. 3.2) as ``(alpha, beta)``:
    ``"view_specific"`` (1, 0): no cross-view interaction inside the cell;
    ``"coupled"`` (0, 1): each view's memory is driven by the other views'
    hidden states; ``"fully_connected"`` (0, 0): by all of them; ``"hybrid"``:
    ``alpha`` view-specific, ``beta`` coupled, the rest fully connected.

    Parameters
    ----------
    in_features : dict[str, int]
        Per-step size of each view (aligned sequences: equal lengths per sample).
    hidden : int
        Memory cells per view.
    topology : {"view_specific", "coupled", "fully_connected", "hybrid"}
    alpha, beta : float
        Only for ``"hybrid"`` (default 1/3, 1/3).

    Output: ``[h^1_{T_i}; ...; h^K_{T_i}]``, ``(N, K * hidden)``; a missing view is zeroed.

    >>> f = MVLSTM({"a": 2, "b": 3}, hidden=4, topology="hybrid", alpha=0.5, beta=0.25)
    >>> f({"a": torch.zeros(5, 7, 2), "b": torch.zeros(5, 7, 3)}).shape
    torch.Size([5, 8])
    """

    def __init__(self, in_features: Mapping[str, int], hidden: int = 32, topology: str = "hybrid",
                 alpha: float | None = None, beta: float | None = None) -> None:
        super().__init__()
        if topology not in (*MVLSTM_TOPOLOGIES, "hybrid"):
            raise ValueError(f"topology must be one of {(*MVLSTM_TOPOLOGIES, 'hybrid')}, got {topology!r}")
        if topology != "hybrid":
            if alpha is not None or beta is not None:
                raise ValueError(f"alpha/beta are fixed by topology={topology!r}; use topology='hybrid' to set them")
            alpha, beta = MVLSTM_TOPOLOGIES[topology]
        else:
            alpha = 1 / 3 if alpha is None else alpha
            beta = 1 / 3 if beta is None else beta
        self.in_features = dict(in_features)
        self.topology, self.alpha, self.beta = topology, alpha, beta
        self.cell = MVLSTMCell(self.in_features, hidden, alpha, beta)
        self.out_features = hidden * len(self.in_features)

    def run(self, features, present=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The final ``(h, c)``, each ``(N, K, H)``, at every sequence's last real step."""
        values, lengths = gather_sequences(features, self.in_features, present, aligned=True, model="mv_lstm")
        first = next(iter(values.values()))
        n, t = first.shape[:2]
        active = sequence_mask(next(iter(lengths.values())), t, first.device)
        full = bool(active.all())
        h = first.new_zeros(n, len(self.in_features), self.cell.hidden)
        c = torch.zeros_like(h)
        # (N, T, K, 4H), all steps at once; unbind (one backward node for all T views) rather than
        # x_gates[:, step], whose backward writes a full (N, T, K, 4H) zero-padded gradient per step,
        # O(T^2) in all: 50 -> 500 steps cost x42 instead of ~x10.
        x_steps = self.cell.input_gates(values).unbind(1)
        recurrent = self.cell.masked_recurrent()
        for step, gates in enumerate(x_steps):
            h_new, c_new = self.cell.step(gates, h, c, recurrent)
            if full:
                h, c = h_new, c_new
            else:
                h = freeze_padded(h_new.flatten(1), h.flatten(1), active[:, step]).view_as(h)
                c = freeze_padded(c_new.flatten(1), c.flatten(1), active[:, step]).view_as(c)
        return h, c

    def forward(self, features: Mapping[str, torch.Tensor | PaddedSequence],
                present: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.run(features, present)[0].flatten(1)
