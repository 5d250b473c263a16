"""Image captioning: Show and Tell (CNN -> MLP -> LSTM) and Show, Attend and Tell (soft attention)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from polymodal.core.pytree import pytree_output
from polymodal.alignment.attention import AdditiveAttention
from polymodal.encoders.image import ResNetCNN
from polymodal.errors import ConfigError, ShapeError
from polymodal.translation.attention import (StepwiseDecoder, _AttentionDecoder, _check_tokens,
                                             _eval_mode, token_loss)

__all__ = ["CaptionOutput", "GridImageEncoder", "ShowAndTell", "ShowAttendTell"]


@pytree_output
@dataclass
class CaptionOutput:
    """Teacher-forced output: ``logits`` (B, T, V), ``attention`` (B, T, L) or None, ``regulariser`` (scalar)."""

    logits: torch.Tensor
    attention: torch.Tensor | None = None
    regulariser: torch.Tensor | None = None


class GridImageEncoder(nn.Module):
    """A small residual CNN (:class:`polymodal.encoders.image.ResNetCNN` trunk) returning a feature grid.

    Images (B, 3, S, S) in [0, 1] (or uint8 (B, S, S, 3), converted) -> grid features
    (B, g*g, C) (adaptive average pooling to ``grid`` x ``grid``), the annotation
    vectors :math:`a_i` of Xu et al. (2015).

    >>> GridImageEncoder(32, widths=(8, 16), grid=4)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 16, 16])
    """

    def __init__(self, image_size: int = 64, widths: Sequence[int] = (16, 32, 64), grid: int = 8,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.cnn = ResNetCNN(in_channels=in_channels, image_size=image_size, widths=widths)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.grid, self.image_size, self.in_channels = grid, image_size, in_channels
        self.out_features = int(widths[-1])

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) float; uint8 channel-last images are moved and scaled to [0, 1]."""
        if images.dtype == torch.uint8:
            images = images.permute(0, 3, 1, 2).float() / 255.0 if images.shape[-1] == self.in_channels \
                else images.float() / 255.0
        shape = (self.in_channels, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != shape:
            raise ShapeError(f"images must be (B, {', '.join(map(str, shape))}) float or "
                             f"(B, {self.image_size}, {self.image_size}, {self.in_channels}) uint8, "
                             f"got {tuple(images.shape)}")
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.cnn.features(self.cnn.input(self.prepare(images)))
        return self.pool(x).flatten(2).transpose(1, 2)


class ShowAndTell(StepwiseDecoder):
    r"""Encoder-decoder captioner (Vinyals, Toshev, Bengio & Erhan, "Show and tell: a neural image
    caption generator", CVPR 2015).

    .. math:: x_{-1} = \mathrm{MLP}(\mathrm{vec}\,\mathrm{CNN}(I)),\quad x_t = W_e y_t,\quad
              h_t = \mathrm{LSTM}(x_t, h_{t-1}),\quad p(y_{t+1}) = \mathrm{softmax}(W_o h_t)

    The image embedding is the LSTM's input before ``<bos>``; training minimises
    :math:`-\sum_t \log p(y_t \mid I, y_{<t})`.

    Parameters
    ----------
    vocab_size : int
    encoder : GridImageEncoder, optional
        Default ``GridImageEncoder(image_size)``; its grid is flattened into the MLP
        (keeping where things are, which global pooling would lose).
    image_size : int
    embed_dim, hidden : int
    dropout : float

    Examples
    --------
    >>> m = ShowAndTell(10, image_size=32, embed_dim=8, hidden=8)
    >>> m.generate(torch.zeros(2, 3, 32, 32), max_len=4).tokens.shape[0]
    2
    """

    def __init__(self, vocab_size: int, encoder: GridImageEncoder | None = None, image_size: int = 64,
                 embed_dim: int = 64, hidden: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        if vocab_size < 4:
            raise ConfigError(f"vocab_size must be >= 4 (specials + words), got {vocab_size}")
        self.encoder = encoder if encoder is not None else GridImageEncoder(image_size)
        grid_features = self.encoder.out_features * self.encoder.grid ** 2
        self.project = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(grid_features, hidden), nn.ReLU(),
                                     nn.Linear(hidden, embed_dim))
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTMCell(embed_dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)
        self.vocab_size = vocab_size

    def init_state(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lstm(self.project(self.encoder(images)))

    def step(self, tokens: torch.Tensor, state):
        h, c = self.lstm(self.embed(tokens), state)
        return torch.log_softmax(self.out(h), dim=-1), (h, c)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> CaptionOutput:
        """Teacher forcing: logits (B, T, V) of the next token after each of ``tokens`` (B, T)."""
        _check_tokens(tokens, self.vocab_size)
        h, c = self.init_state(images)
        emb = self.embed(tokens)
        outs = []
        for emb_t in emb.unbind(1):  # not emb[:, t]: a slice's backward is full-sequence every step
            h, c = self.lstm(emb_t, (h, c))
            outs.append(h)
        return CaptionOutput(self.out(self.drop(torch.stack(outs, 1))))

    def compute_loss(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``tokens[:, 1:]`` given ``tokens[:, :-1]`` (``<bos>`` ... ``<eos>`` padded)."""
        return token_loss(self(images, tokens[:, :-1]).logits, tokens[:, 1:], self.pad_id)


class ShowAttendTell(_AttentionDecoder):
    r"""Soft-attention captioner (Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel & Bengio,
    "Show, attend and tell", ICML 2015).

    Over annotation vectors :math:`a_i` (the CNN grid, L positions):

    .. math:: \alpha_t = \mathrm{softmax}_i\, v^\top\tanh(W_a a_i + W_h h_{t-1}),\quad
              \hat z_t = \beta_t \sum_i \alpha_{ti} a_i,\quad \beta_t = \sigma(w_\beta^\top h_{t-1} + b)

    .. math:: h_t = \mathrm{LSTM}([E y_{t-1}; \hat z_t], h_{t-1}),\quad
              p(y_t) = \mathrm{softmax}(L_o(E y_{t-1} + L_h h_t + L_z \hat z_t))

    with :math:`h_0, c_0` from MLPs of :math:`\frac1L\sum_i a_i`, and the doubly
    stochastic regulariser (Eq. 14) added to the loss, averaged over the L positions
    and the batch: :math:`\frac{\lambda}{L} \sum_i (1 - \sum_t \alpha_{ti})^2` (the
    paper sums over i; the mean keeps one lambda usable across grid sizes).

    Parameters
    ----------
    vocab_size : int
    encoder : GridImageEncoder, optional
    image_size : int
    embed_dim, hidden, attention_dim : int
    dropout : float
    doubly_stochastic : float
        lambda (0 turns the regulariser off).
    gate : bool
        Use the gating scalar beta.

    Examples
    --------
    >>> m = ShowAttendTell(10, image_size=32, embed_dim=8, hidden=8, attention_dim=8)
    >>> out = m(torch.zeros(2, 3, 32, 32), torch.ones(2, 3, dtype=torch.long))
    >>> out.attention.shape
    torch.Size([2, 3, 64])
    """

    def __init__(self, vocab_size: int, encoder: GridImageEncoder | None = None, image_size: int = 64,
                 embed_dim: int = 64, hidden: int = 128, attention_dim: int = 64, dropout: float = 0.2,
                 doubly_stochastic: float = 0.1, gate: bool = True) -> None:
        super().__init__()
        if vocab_size < 4:
            raise ConfigError(f"vocab_size must be >= 4 (specials + words), got {vocab_size}")
        if doubly_stochastic < 0:
            raise ConfigError(f"doubly_stochastic must be >= 0, got {doubly_stochastic}")
        self.encoder = encoder if encoder is not None else GridImageEncoder(image_size)
        D = self.encoder.out_features
        self.attention = AdditiveAttention(hidden, D, attention_dim)
        self.init_h, self.init_c = nn.Linear(D, hidden), nn.Linear(D, hidden)
        self.gate = nn.Linear(hidden, 1) if gate else None
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTMCell(embed_dim + D, hidden)
        self.L_h, self.L_z = nn.Linear(hidden, embed_dim), nn.Linear(D, embed_dim, bias=False)
        self.L_o = nn.Linear(embed_dim, vocab_size)
        self.drop = nn.Dropout(dropout)
        self.vocab_size, self.doubly_stochastic = vocab_size, doubly_stochastic

    def init_state(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        a = self.encoder(images)
        mean = a.mean(dim=1)
        return {"h": torch.tanh(self.init_h(mean)), "c": torch.tanh(self.init_c(mean)), "a": a,
                "pa": self.attention.project_keys(a)}

    def _advance(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]):
        e = self.embed(tokens)
        att = self.attention(state["h"][:, None], state["a"], projected_keys=state["pa"])
        z, alpha = att.context[:, 0], att.weights[:, 0]
        if self.gate is not None:
            z = torch.sigmoid(self.gate(state["h"])) * z
        h, c = self.lstm(torch.cat([e, z], dim=-1), (state["h"], state["c"]))
        logits = self.L_o(self.drop(e + self.L_h(h) + self.L_z(z)))
        return logits, alpha, {**state, "h": h, "c": c}

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> CaptionOutput:
        """Teacher forcing: logits (B, T, V), attention (B, T, L), and the regulariser for non-pad steps."""
        _check_tokens(tokens, self.vocab_size)
        logits, attention = self._teacher_forced(tokens, self.init_state(images))
        valid = ((tokens != self.pad_id) & (tokens != self.eos_id)).unsqueeze(-1).to(attention.dtype)
        reg = ((1.0 - (attention * valid).sum(dim=1)) ** 2).mean()
        return CaptionOutput(logits, attention, reg)

    def compute_loss(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy + lambda * doubly stochastic regulariser."""
        out = self(images, tokens[:, :-1])
        loss = token_loss(out.logits, tokens[:, 1:], self.pad_id)
        return loss + self.doubly_stochastic * out.regulariser if self.doubly_stochastic else loss

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor, tokens: list[list[int]]) -> list[torch.Tensor]:
        """Attention (T_i + 1, g, g) of each image while producing its caption ``tokens`` and ``<eos>``."""
        with _eval_mode(self):
            seqs = [[self.bos_id] + list(t) for t in tokens]
            T = max(len(s) for s in seqs)
            ids = torch.tensor([s + [self.pad_id] * (T - len(s)) for s in seqs], dtype=torch.long, device=images.device)
            att = self(images, ids).attention
            g = self.encoder.grid
            return [att[i, : len(s)].reshape(len(s), g, g) for i, s in enumerate(seqs)]
