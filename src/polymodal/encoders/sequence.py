"""Recurrent sequence encoders over padded batches (RNN, GRU, LSTM; bidirectional, stacked).

A padded batch ``x`` of shape ``(N, T, d)`` with true lengths ``(N,)`` is
packed (:func:`torch.nn.utils.rnn.pack_padded_sequence`), so padding never
enters the recurrence: every sequence gets exactly the states it would get if
run alone. Cells (Elman, "Finding structure in time", Cognitive Science 1990;
Cho et al., EMNLP 2014; Hochreiter & Schmidhuber, Neural Computation 1997)::

    RNN:  h_t = tanh(W x_t + U h_{t-1} + b)
    GRU:  z_t = s(W_z x_t + U_z h_{t-1}),  r_t = s(W_r x_t + U_r h_{t-1}),
          h_t = (1 - z_t) * tanh(W x_t + U (r_t * h_{t-1})) + z_t * h_{t-1}
    LSTM: [i, f, o, g]_t = [s, s, s, tanh](W x_t + U h_{t-1} + b),
          c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from polymodal.errors import ShapeError
from polymodal.core.registry import register

__all__ = [
    "CELLS",
    "OUTPUTS",
    "PaddedSequence",
    "SequenceEncoder",
    "RNNEncoder",
    "GRUEncoder",
    "LSTMEncoder",
    "SequenceSteps",
    "check_lengths",
    "sequence_mask",
    "split_steps",
]

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
OUTPUTS = ("last", "all", "mean", "max")


class PaddedSequence(NamedTuple):
    """A right-padded batch of sequences and its true lengths.

    ``values`` is ``(N, T, d)``; ``lengths`` is ``(N,)`` (or ``None``: every
    sequence has ``T`` steps). Sequential fusion models receive their
    modalities in this form from :class:`SequenceSteps`.
    """

    values: torch.Tensor
    lengths: torch.Tensor | None


def check_lengths(x: torch.Tensor, lengths: torch.Tensor | None, name: str = "x") -> torch.Tensor:
    """Validate a padded batch ``x`` ``(N, T, d)`` and its ``lengths``; return
    the lengths as a CPU int64 tensor (``T`` for every sequence when ``None``).

    Raises :class:`ShapeError` when ``x`` is not 3-D, when ``lengths`` has the
    wrong size, or when a length is < 1 or exceeds the padded size ``T``.

    >>> check_lengths(torch.zeros(2, 5, 3), torch.tensor([5, 2])).tolist()
    [5, 2]
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name}: expected a torch.Tensor (N, T, d), got {type(x).__name__}")
    if x.dim() != 3:
        raise ShapeError(f"{name}: expected a padded batch of shape (N, T, d), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ShapeError(f"{name}: expected floating-point features, got dtype {x.dtype} (convert with .float())")
    n, t = int(x.shape[0]), int(x.shape[1])
    if n == 0:
        raise ShapeError(f"{name}: empty batch (N = 0 sequences)")
    if lengths is None:
        if t < 1:
            raise ShapeError(f"{name}: sequences must have at least 1 step, got T = {t}")
        return torch.full((n,), t, dtype=torch.long, device="cpu")  # lengths live on the CPU (packing)
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or int(lengths.shape[0]) != n:
        raise ShapeError(f"{name}: lengths must have shape ({n},) (the batch size), got {tuple(lengths.shape)}")
    if lengths.dtype.is_floating_point and not bool((lengths == lengths.round()).all()):
        raise ShapeError(f"{name}: lengths must be integers, got {lengths.tolist()}")
    lengths = lengths.detach().to("cpu", torch.long)
    if n and int(lengths.max()) > t:
        i = int(lengths.argmax())
        raise ShapeError(f"{name}: lengths[{i}] = {int(lengths[i])} exceeds the padded size T = {t}")
    if n and int(lengths.min()) < 1:
        i = int(lengths.argmin())
        raise ShapeError(f"{name}: lengths[{i}] = {int(lengths[i])}; every sequence needs at least 1 step")
    return lengths


def sequence_mask(lengths: torch.Tensor, t: int, device: torch.device | None = None) -> torch.Tensor:
    """``(N, T)`` bool, True at real steps ``s < lengths[i]``."""
    return torch.arange(t, device=device)[None, :] < lengths.to(device)[:, None]


def split_steps(feature: torch.Tensor | PaddedSequence, name: str = "x") -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, lengths)`` of a padded tensor or :class:`PaddedSequence` (validated)."""
    if isinstance(feature, PaddedSequence):
        values, lengths = feature
    else:
        values, lengths = feature, None
    return values, check_lengths(values, lengths, name)


@register("encoder", "sequence")
class SequenceEncoder(nn.Module):
    """Recurrent encoder of a padded batch, packed so padding is never read.

    Parameters
    ----------
    in_features : int
        Per-step feature size ``d``.
    hidden : int
        State size per direction.
    cell : {"rnn", "gru", "lstm"}
    num_layers : int
        Stacked layers (each layer reads the states of the one below).
    bidirectional : bool
        Also run the sequence backwards; states are ``[forward; backward]``.
    output : {"last", "all", "mean", "max"}
        ``"last"``: top-layer state after the last real step (for
        bidirectional: forward state at ``T_i - 1`` and backward state at 0),
        ``(N, H)``; ``"all"``: every top-layer state ``(N, T, H)``, zeros at
        padded steps; ``"mean"``/``"max"``: pooled over real steps, ``(N, H)``.
        ``H = hidden * (2 if bidirectional else 1)``.
    dropout : float
        Dropout between stacked layers.

    Call as ``encoder(x, lengths=None)`` with ``x`` ``(N, T, d)`` and ``lengths`` ``(N,)``.

    >>> enc = SequenceEncoder(3, hidden=4, cell="gru", bidirectional=True)
    >>> enc(torch.zeros(2, 5, 3), lengths=torch.tensor([5, 2])).shape
    torch.Size([2, 8])
    """

    takes_lengths = True

    def __init__(
        self,
        in_features: int,
        hidden: int = 64,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        output: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if hidden < 1 or num_layers < 1:
            raise ValueError(f"hidden and num_layers must be >= 1, got hidden={hidden}, num_layers={num_layers}")
        self.rnn = CELLS[cell](in_features, hidden, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.in_features, self.hidden, self.cell, self.output = in_features, hidden, cell, output
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.out_features = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        lengths = check_lengths(x, lengths, f"{self.cell} encoder input")
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"{self.cell} encoder: expected {self.in_features} features per step, got {x.shape[-1]}")
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        states, final = self.rnn(packed)
        if self.output == "last":
            h_n = final[0] if self.cell == "lstm" else final  # (layers * dirs, N, hidden)
            if self.bidirectional:
                return torch.cat([h_n[-2], h_n[-1]], dim=1)
            return h_n[-1]
        out, _ = pad_packed_sequence(states, batch_first=True, total_length=x.shape[1])
        if self.output == "all":
            return out
        mask = sequence_mask(lengths, x.shape[1], out.device)[..., None]
        if self.output == "mean":
            return (out * mask).sum(1) / lengths.to(out.device, out.dtype)[:, None]
        return out.masked_fill(~mask, float("-inf")).amax(1)


@register("encoder", "rnn")
class RNNEncoder(SequenceEncoder):
    """:class:`SequenceEncoder` with ``cell="rnn"`` (Elman, Cognitive Science 1990)."""

    def __init__(self, in_features: int, hidden: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 output: str = "last", dropout: float = 0.0) -> None:
        super().__init__(in_features, hidden, "rnn", num_layers, bidirectional, output, dropout)


@register("encoder", "gru")
class GRUEncoder(SequenceEncoder):
    """:class:`SequenceEncoder` with ``cell="gru"`` (Cho et al., EMNLP 2014)."""

    def __init__(self, in_features: int, hidden: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 output: str = "last", dropout: float = 0.0) -> None:
        super().__init__(in_features, hidden, "gru", num_layers, bidirectional, output, dropout)


@register("encoder", "lstm")
class LSTMEncoder(SequenceEncoder):
    """:class:`SequenceEncoder` with ``cell="lstm"`` (Hochreiter & Schmidhuber, Neural Computation 1997)."""

    def __init__(self, in_features: int, hidden: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 output: str = "last", dropout: float = 0.0) -> None:
        super().__init__(in_features, hidden, "lstm", num_layers, bidirectional, output, dropout)



@register("encoder", "steps")
class SequenceSteps(nn.Module):
    """Passes a padded sequence through unchanged, with its lengths, as a
    :class:`PaddedSequence`: the encoder to put in front of the sequential
    fusion models (early-fusion LSTM, MV-LSTM, MFN, MulT), which model time
    themselves.

    >>> SequenceSteps(3)(torch.zeros(2, 4, 3), lengths=torch.tensor([4, 1])).lengths.tolist()
    [4, 1]
    """

    takes_lengths = True

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.in_features = self.out_features = in_features

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> PaddedSequence:
        checked = check_lengths(x, lengths, "steps encoder input")
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"steps encoder: expected {self.in_features} features per step, got {x.shape[-1]}")
        return PaddedSequence(x, checked.to(x.device))
