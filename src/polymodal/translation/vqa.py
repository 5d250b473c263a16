"""Visual question answering baseline (Antol et al., ICCV 2015, "deeper LSTM Q + norm I"): L2-normalised CNN
image features, 2-layer question LSTM, pointwise product fusion, MLP answer classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from polymodal.errors import ConfigError, ShapeError
from polymodal.translation.captioning import GridImageEncoder

__all__ = ["FUSIONS", "VQABaseline", "VQAScores", "vqa_accuracy", "vqa_tensors"]

FUSIONS = ("product", "concat")


class VQABaseline(nn.Module):
    r"""VQA baseline "deeper LSTM Q + norm I" (Antol, Agrawal, Lu, Mitchell, Batra, Zitnick & Parikh,
    "VQA: Visual question answering", ICCV 2015, Sec. 6):

    .. math:: v = \tanh\big(W_v\, \phi(I) / \lVert \phi(I) \rVert_2\big),\quad
              q = \tanh\big(W_q\, [h^{(1)}_{|Q|}; c^{(1)}_{|Q|}; h^{(2)}_{|Q|}; c^{(2)}_{|Q|}]\big),\quad
              p(a \mid I, Q) = \mathrm{softmax}(\mathrm{MLP}(v \odot q))

    Question words get an embedding followed by tanh (the paper's fully connected
    layer + tanh on one-hot words) and go through a 2-layer LSTM; the question
    feature concatenates the last hidden and cell states of both layers. The
    image feature :math:`\phi(I)` is the flattened feature grid of a CNN (kept
    for the positions questions ask about), L2-normalised ("norm I"). The
    classifier is an MLP with two tanh hidden layers and dropout, over the top
    answers. Differences from the paper: the CNN is a small one trained end to
    end (the paper uses fixed VGGNet fc7 features), widths are small, :math:`W_v` starts
    uniform in :math:`[-1, 1]` (the default init times :math:`\sqrt{\dim\phi}`, as
    :math:`\phi` has unit norm), and
    ``fusion="concat"`` (:math:`[v; q]`) is available as an ablation of the
    pointwise product.

    Parameters
    ----------
    question_vocab : int
        Question token vocabulary (id 0 is padding).
    n_answers : int
        Answer classes (the top answers).
    image_size : int
    fusion : {"product", "concat"}
        ``"product"`` (the paper) or ``"concat"`` (ablation).
    embed_dim : int
        Word embedding size (paper: 300).
    hidden : int
        LSTM width per layer (paper: 512; the question feature has ``4 * hidden`` values).
    fused : int
        Common size of ``v`` and ``q`` (paper: 1024).
    mlp_hidden : int or None
        Width of the classifier's two hidden layers (paper: 1000); default ``fused``.
    widths, grid : the CNN (:class:`GridImageEncoder`)
    dropout : float
        Dropout before each classifier layer (paper: 0.5).

    Examples
    --------
    >>> m = VQABaseline(12, 5, image_size=24, widths=(4, 8), grid=3, embed_dim=8, hidden=8, fused=8)
    >>> m(torch.zeros(2, 3, 24, 24), torch.ones(2, 4, dtype=torch.long), torch.tensor([4, 2])).shape
    torch.Size([2, 5])
    """

    pad_id = 0
    lstm_layers = 2

    def __init__(self, question_vocab: int, n_answers: int, image_size: int = 36, fusion: str = "product",
                 embed_dim: int = 32, hidden: int = 64, fused: int = 64, mlp_hidden: int | None = None,
                 widths=(16, 32), grid: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.encoder = GridImageEncoder(image_size, widths=widths, grid=grid)
        self.image_proj = nn.Linear(self.encoder.out_features * grid * grid, fused)
        with torch.no_grad():  # unit-norm input: scale the default init so W_v phi starts with O(1) entries
            self.image_proj.weight.mul_(self.image_proj.in_features ** 0.5)
        self.embed = nn.Embedding(question_vocab, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=self.lstm_layers, batch_first=True)
        self.question_proj = nn.Linear(2 * self.lstm_layers * hidden, fused)
        self.fusion = fusion
        width = fused if fusion == "product" else 2 * fused
        mlp_hidden = fused if mlp_hidden is None else mlp_hidden
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, mlp_hidden), nn.Tanh(),
                                        nn.Dropout(dropout), nn.Linear(mlp_hidden, mlp_hidden), nn.Tanh(),
                                        nn.Dropout(dropout), nn.Linear(mlp_hidden, n_answers))
        self.question_vocab, self.n_answers = question_vocab, n_answers

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """``v`` (B, fused): the L2-normalised flattened CNN grid, then a tanh layer."""
        phi = nn.functional.normalize(self.encoder(images).flatten(1), dim=1)
        return torch.tanh(self.image_proj(phi))

    def question_state(self, questions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[h1; c1; h2; c2]`` (B, 4 * hidden): last hidden and cell states of both LSTM layers."""
        packed = pack_padded_sequence(torch.tanh(self.embed(questions)), lengths, batch_first=True,
                                      enforce_sorted=False)
        _, (h, c) = self.lstm(packed)
        return torch.cat([torch.cat([h[i], c[i]], dim=-1) for i in range(self.lstm_layers)], dim=-1)

    def forward(self, images: torch.Tensor, questions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Answer logits (B, n_answers) of images (B, 3, S, S), question ids (B, T) and lengths (B,)."""
        if questions.ndim != 2 or questions.dtype != torch.long:
            raise ShapeError(f"questions must be (B, T) int64 ids, got {tuple(questions.shape)} {questions.dtype}")
        lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
        if lengths.shape != (questions.shape[0],) or (lengths < 1).any() or (lengths > questions.shape[1]).any():
            raise ShapeError(f"lengths must be ({questions.shape[0]},) in [1, {questions.shape[1]}], "
                             f"got {lengths.tolist()}")
        if images.shape[0] != questions.shape[0]:
            raise ShapeError(f"images and questions must have the same batch size, got {images.shape[0]} "
                             f"and {questions.shape[0]}")
        v = self.image_features(images)
        q = torch.tanh(self.question_proj(self.question_state(questions, lengths)))
        z = v * q if self.fusion == "product" else torch.cat([v, q], dim=-1)
        return self.classifier(z)

    def compute_loss(self, source, answers: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the answers given ``source = (images, questions, lengths)``."""
        return nn.functional.cross_entropy(self(*source), answers)


def vqa_tensors(data, split: str, vocab) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``((images, question ids, lengths), answers)`` of one split of a :class:`~polymodal.data.vqa_shapes.VQAShapes`,
    with question ids from ``vocab`` (:class:`~polymodal.data.vocab.Vocabulary`, no ``<bos>``/``<eos>``)."""
    idx = data.indices(split)
    ids, lengths = vocab.encode_batch([data.questions[i] for i in idx], add_bos=False, add_eos=False)
    images = torch.tensor(data.images[data.image_index[idx]]).permute(0, 3, 1, 2).float() / 255
    return (images, torch.tensor(ids), torch.tensor(lengths)), torch.tensor(data.answers[idx])


@dataclass
class VQAScores:
    """Accuracy overall and per question type, and the majority-answer baseline per type."""

    accuracy: float
    per_type: dict[str, float]
    majority_per_type: dict[str, float]
    n_per_type: dict[str, int]


@torch.no_grad()
def vqa_accuracy(model: VQABaseline, source, answers: torch.Tensor, question_type: np.ndarray,
                 train_answers: np.ndarray | None = None, train_types: np.ndarray | None = None) -> VQAScores:
    """Accuracy of ``model`` overall and per question type; with the training answers and types, also the
    accuracy of always answering the most frequent training answer of each type."""
    model.eval()
    pred = torch.cat([model(*(s[i:i + 256] for s in source)).argmax(1) for i in range(0, len(answers), 256)])
    correct = (pred == answers).numpy()
    qt = np.asarray(question_type)
    types = sorted(set(qt.tolist()))
    per = {t: float(correct[qt == t].mean()) for t in types}
    majority = {}
    if train_answers is not None and train_types is not None:
        for t in types:
            vals = np.asarray(train_answers)[np.asarray(train_types) == t]
            top = np.bincount(vals).argmax() if len(vals) else -1
            majority[t] = float((answers.numpy()[qt == t] == top).mean())
    return VQAScores(float(correct.mean()), per, majority, {t: int((qt == t).sum()) for t in types})
