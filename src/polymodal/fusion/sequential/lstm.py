"""Early- and late-fusion recurrent models for multimodal sequences.

Early fusion concatenates the modalities at every time step and runs one LSTM
over the joint sequence (Baltrušaitis et al., TPAMI 2019, Sec. 6; "Multimodal
Sequence Modeling - Early Fusion" in the CMU MMML tutorial); late fusion runs
one LSTM per modality and concatenates their final states.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.encoders.sequence import PaddedSequence, SequenceEncoder
from polymodal.fusion.sequential._common import gather_sequences
from polymodal.errors import ConfigError
from polymodal.core.registry import register

__all__ = ["EarlyFusionLSTM", "LateFusionLSTM"]


def _check_vector_output(output: str) -> None:
    if output == "all":
        raise ConfigError("output='all' gives a sequence; a fusion must give one vector per sample "
                          "(use output='last', 'mean' or 'max')")


@register("fusion", "early_lstm")
class EarlyFusionLSTM(nn.Module):
    """One recurrent network over the per-step concatenation of aligned modalities.

    .. math:: z_t = [x^1_t; \\dots; x^M_t], \\qquad h_t = \\mathrm{LSTM}(z_t, h_{t-1}),
              \\qquad \\text{output } h_{T_i}

    Parameters
    ----------
    in_features : dict[str, int]
        Per-step feature size of each modality (aligned: same lengths).
    hidden : int
    cell, num_layers, bidirectional, output, dropout
        As :class:`~polymodal.encoders.SequenceEncoder` (``output`` in
        last/mean/max; ``out_features = hidden * directions``).

    Inputs are ``(N, T, d_m)`` tensors or :class:`PaddedSequence` (from the
    ``steps`` encoder), with a missing modality zeroed.

    >>> f = EarlyFusionLSTM({"a": 2, "b": 3}, hidden=4)
    >>> f({"a": torch.zeros(5, 7, 2), "b": torch.zeros(5, 7, 3)}).shape
    torch.Size([5, 4])
    """

    def __init__(self, in_features: Mapping[str, int], hidden: int = 64, cell: str = "lstm", num_layers: int = 1,
                 bidirectional: bool = False, output: str = "last", dropout: float = 0.0) -> None:
        super().__init__()
        _check_vector_output(output)
        self.in_features = dict(in_features)
        self.rnn = SequenceEncoder(sum(self.in_features.values()), hidden, cell, num_layers, bidirectional, output,
                                   dropout)
        self.out_features = self.rnn.out_features

    def forward(self, features: Mapping[str, torch.Tensor | PaddedSequence],
                present: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        values, lengths = gather_sequences(features, self.in_features, present, aligned=True, model="early_lstm")
        joint = torch.cat([values[m] for m in self.in_features], dim=-1)
        return self.rnn(joint, lengths=next(iter(lengths.values())))


@register("fusion", "late_lstm")
class LateFusionLSTM(nn.Module):
    """One recurrent network per modality; final states concatenated.

    .. math:: h^m = \\mathrm{LSTM}_m(x^m_{1..T_m}), \\qquad z = [h^1 \\pi_1; \\dots; h^M \\pi_M]

    with :math:`\\pi_m` the present mask. Modalities may have different lengths.

    Parameters
    ----------
    in_features : dict[str, int]
    hidden, cell, num_layers, bidirectional, output, dropout
        Per-modality :class:`~polymodal.encoders.SequenceEncoder` settings.

    >>> f = LateFusionLSTM({"a": 2, "b": 3}, hidden=4)
    >>> f({"a": torch.zeros(5, 7, 2), "b": torch.zeros(5, 9, 3)}).shape
    torch.Size([5, 8])
    """

    def __init__(self, in_features: Mapping[str, int], hidden: int = 64, cell: str = "lstm", num_layers: int = 1,
                 bidirectional: bool = False, output: str = "last", dropout: float = 0.0) -> None:
        super().__init__()
        _check_vector_output(output)
        self.in_features = dict(in_features)
        self.rnns = nn.ModuleDict({m: SequenceEncoder(d, hidden, cell, num_layers, bidirectional, output, dropout)
                                   for m, d in self.in_features.items()})
        self.out_features = sum(r.out_features for r in self.rnns.values())

    def forward(self, features: Mapping[str, torch.Tensor | PaddedSequence],
                present: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        values, lengths = gather_sequences(features, self.in_features, present, aligned=False, model="late_lstm")
        parts = []
        for m, rnn in self.rnns.items():
            h = rnn(values[m], lengths=lengths[m])
            if present and m in present:
                h = h * present[m].to(h.dtype)[:, None]
            parts.append(h)
        return torch.cat(parts, dim=1)
