"""Sequence-to-sequence translation with Bahdanau attention (text -> text, any sequence -> text)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from polymodal.alignment.attention import AdditiveAttention
from polymodal.errors import ConfigError, ShapeError
from polymodal.translation.attention import _AttentionDecoder, _check_tokens, token_loss
from polymodal.translation.captioning import CaptionOutput

__all__ = ["Seq2SeqAttention"]


class Seq2SeqAttention(_AttentionDecoder):
    r"""RNN encoder-decoder with additive attention (Bahdanau, Cho & Bengio, "Neural machine
    translation by jointly learning to align and translate", ICLR 2015).

    A bidirectional GRU encodes the source into annotations :math:`h_j`; the decoder
    GRU state :math:`s_t` attends over them:

    .. math:: \alpha_{tj} = \mathrm{softmax}_j\, v^\top \tanh(W h_j + U s_{t-1}),\quad
              c_t = \textstyle\sum_j \alpha_{tj} h_j,\quad
              s_t = \mathrm{GRU}([E y_{t-1}; c_t], s_{t-1})

    .. math:: p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o [s_t; c_t; E y_{t-1}])

    with :math:`s_0 = \tanh(W_s \overleftarrow{h}_1)`. Padding never enters the
    encoder (packed sequences) nor the attention (masked).

    Parameters
    ----------
    target_vocab : int
        Output vocabulary size (ids as :class:`polymodal.data.vocab.Vocabulary`).
    source_vocab : int, optional
        Source token vocabulary (text -> text): sources are (B, S) int64 ids.
    source_features : int, optional
        Source feature size (sequence -> text): sources are (B, S, d) float. Give exactly one.
    embed_dim, hidden, attention_dim : int
    dropout : float

    Examples
    --------
    >>> m = Seq2SeqAttention(8, source_vocab=8, embed_dim=8, hidden=8)
    >>> src, lengths = torch.tensor([[4, 5, 6], [7, 4, 0]]), torch.tensor([3, 2])
    >>> m.generate((src, lengths), max_len=5).tokens.shape[0]
    2
    """

    def __init__(self, target_vocab: int, source_vocab: int | None = None, source_features: int | None = None,
                 embed_dim: int = 64, hidden: int = 128, attention_dim: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        if (source_vocab is None) == (source_features is None):
            raise ConfigError(f"give exactly one of source_vocab (token ids) or source_features (float "
                              f"sequences), got source_vocab={source_vocab}, source_features={source_features}")
        if target_vocab < 4:
            raise ConfigError(f"target_vocab must be >= 4 (specials + words), got {target_vocab}")
        self.source_in = (nn.Embedding(source_vocab, embed_dim, padding_idx=0) if source_vocab is not None
                          else nn.Linear(source_features, embed_dim))
        self.encoder = nn.GRU(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.init_s = nn.Linear(hidden, hidden)
        self.attention = AdditiveAttention(hidden, 2 * hidden, attention_dim)
        self.embed = nn.Embedding(target_vocab, embed_dim)
        self.decoder = nn.GRUCell(embed_dim + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden + embed_dim, target_vocab)
        self.drop = nn.Dropout(dropout)
        self.vocab_size, self.source_vocab, self.source_features = target_vocab, source_vocab, source_features

    def _check_source(self, source) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(source, (tuple, list)) or len(source) != 2:
            raise ShapeError(f"source must be a pair (values, lengths), got {type(source).__name__}"
                             f"{f' of length {len(source)}' if isinstance(source, (tuple, list)) else ''}")
        x, lengths = source
        lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
        if self.source_vocab is not None:
            if x.ndim != 2 or x.dtype != torch.long:
                raise ShapeError(f"source must be (B, S) int64 token ids, got {tuple(x.shape)} {x.dtype}")
        elif x.ndim != 3 or x.shape[-1] != self.source_features:
            raise ShapeError(f"source must be (B, S, {self.source_features}) float, got {tuple(x.shape)}")
        if lengths.shape != (x.shape[0],) or (lengths < 1).any() or (lengths > x.shape[1]).any():
            raise ShapeError(f"source lengths must be ({x.shape[0]},) in [1, {x.shape[1]}], got {lengths.tolist()}")
        return x, lengths

    def init_state(self, source) -> dict[str, torch.Tensor]:
        x, lengths = self._check_source(source)
        emb = self.drop(self.source_in(x))
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        keys, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        return {"s": torch.tanh(self.init_s(h_n[1])), "keys": keys, "pk": self.attention.project_keys(keys),
                "mask": mask}

    def _advance(self, tokens, state):
        e = self.drop(self.embed(tokens))
        att = self.attention(state["s"][:, None], state["keys"], key_padding_mask=~state["mask"],
                             projected_keys=state["pk"])
        c, alpha = att.context[:, 0], att.weights[:, 0]
        s = self.decoder(torch.cat([e, c], -1), state["s"])
        logits = self.out(self.drop(torch.cat([s, c, e], -1)))
        return logits, alpha, {**state, "s": s}

    def forward(self, source, tokens: torch.Tensor) -> CaptionOutput:
        """Teacher forcing: logits (B, T, V) and attention (B, T, S) after each of ``tokens`` (B, T)."""
        _check_tokens(tokens, self.vocab_size)
        return CaptionOutput(*self._teacher_forced(tokens, self.init_state(source)))

    def compute_loss(self, source, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``tokens[:, 1:]`` given ``tokens[:, :-1]``."""
        return token_loss(self(source, tokens[:, :-1]).logits, tokens[:, 1:], self.pad_id)
