"""Temporal Attention-Gated Model for classifying noisy sequences."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from polymodal.core.pytree import pytree_output
from polymodal.errors import ConfigError, ShapeError

__all__ = ["TAGMOutput", "TemporalAttentionGatedModel"]


@pytree_output
@dataclass
class TAGMOutput:
    """``logits`` (B, num_classes); ``salience`` (B, T) the attention gate
    a_t in [0, 1] of every step (0 on padding); ``hidden`` (B, hidden_dim)."""

    logits: Tensor
    salience: Tensor
    hidden: Tensor


class TemporalAttentionGatedModel(nn.Module):
    """Temporal Attention-Gated Model (Pei, Baltrušaitis, Tax & Morency,
    "Temporal Attention-Gated Model for Robust Sequence Classification",
    CVPR 2017).

    A bidirectional recurrent attention module scores the salience of every
    step, :math:`a_t = \\sigma(m^\\top [\\overrightarrow{h}_t; \\overleftarrow{h}_t] + b)`,
    and gates a recurrent unit so that irrelevant (noisy) steps leave its
    state unchanged:

    .. math:: h_t = (1 - a_t)\\, h_{t-1} + a_t\\, g(W x_t + U h_{t-1} + b_h),

    with :math:`g` = ReLU (as in the paper) or tanh; the class scores are
    :math:`W_c h_T + b_c`.

    Parameters
    ----------
    input_dim, hidden_dim, num_classes : int
    attention_hidden : hidden size of the bidirectional GRU of the attention module
    activation : "relu" or "tanh"

    forward(x (B, T, input_dim), lengths (B,) or None) -> :class:`TAGMOutput`;
    padded steps (t >= length) get a_t = 0.

    >>> model = TemporalAttentionGatedModel(3, 8, num_classes=2)
    >>> out = model(torch.randn(4, 10, 3), lengths=torch.tensor([10, 7, 5, 1]))
    >>> tuple(out.logits.shape), bool((out.salience[3, 1:] == 0).all())
    ((4, 2), True)
    """

    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int,
                 attention_hidden: int = 16, activation: str = "relu"):
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ConfigError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        self.attention_rnn = nn.GRU(input_dim, attention_hidden, batch_first=True, bidirectional=True)
        self.attention_score = nn.Linear(2 * attention_hidden, 1)
        self.W = nn.Linear(input_dim, hidden_dim)
        self.U = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.classifier = nn.Linear(hidden_dim, num_classes)
        self.act = torch.relu if activation == "relu" else torch.tanh
        self.hidden_dim = hidden_dim

    def salience(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Attention gates a (B, T)."""
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                       enforce_sorted=False)
            h, _ = self.attention_rnn(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        else:
            h, _ = self.attention_rnn(x)
        a = torch.sigmoid(self.attention_score(h)).squeeze(-1)
        if lengths is not None:
            a = a * (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None].to(x.device))
        return a

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> TAGMOutput:
        if x.dim() != 3 or x.shape[1] == 0:
            raise ShapeError(f"x must have shape (B, T, input_dim) with T >= 1, got {tuple(x.shape)}")
        if x.shape[2] != self.W.in_features:
            raise ShapeError(f"x must have {self.W.in_features} features, got {x.shape[2]}")
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            if lengths.shape != (x.shape[0],) or (lengths < 1).any() or (lengths > x.shape[1]).any():
                raise ShapeError(
                    f"lengths must be (B,) = ({x.shape[0]},) with values in [1, {x.shape[1]}], "
                    f"got {lengths.tolist()}"
                )
        a = self.salience(x, lengths)
        wx = self.W(x)
        h = x.new_zeros(x.shape[0], self.hidden_dim)
        # unbind, not wx[:, t]: a slice's backward writes a full-sequence gradient every step (O(T^2))
        for wx_t, a_t in zip(wx.unbind(1), a.unbind(1)):
            cand = self.act(wx_t + self.U(h))
            g = a_t[:, None]
            h = (1 - g) * h + g * cand
        return TAGMOutput(self.classifier(h), a, h)
