"""Visual question answering baseline: CNN image encoder + question LSTM + fusion + answer classifier."""

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
    r"""VQA baseline (Antol et al., "VQA: Visual question answering", ICCV 2015: "deeper LSTM Q + norm I"):

    .. math:: v = \tanh(W_v\, \mathrm{vec}\,\mathrm{CNN}(I)),\quad q = \tanh(W_q h_{|Q|}),\quad
              p(a \mid I, Q) = \mathrm{softmax}(\mathrm{MLP}(f(v, q)))

    with :math:`h` the last LSTM state over the question's word embeddings and
    :math:`f(v, q) = v \odot q` (``"product"``, as Antol et al.) or :math:`[v; q]` (``"concat"``).
    The CNN's feature grid is flattened (keeping positions, which questions ask about).

    Parameters
    ----------
    question_vocab : int
        Question token vocabulary (id 0 is padding).
    n_answers : int
    image_size : int
    fusion : {"product", "concat"}
    embed_dim, hidden, fused : int
    widths, grid : the CNN (:class:`GridImageEncoder`)
    dropout : float

    Examples
    --------
    >>> m = VQABaseline(12, 5, image_size=24, widths=(4, 8), grid=3, embed_dim=8, hidden=8, fused=8)
    >>> m(torch.zeros(2, 3, 24, 24), torch.ones(2, 4, dtype=torch.long), torch.tensor([4, 2])).shape
    torch.Size([2, 5])
    """

    pad_id = 0

    def __init__(self, question_vocab: int, n_answers: int, image_size: int = 36, fusion: str = "product",
                 embed_dim: int = 32, hidden: int = 64, fused: int = 64, widths=(16, 32), grid: int = 3,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.encoder = GridImageEncoder(image_size, widths=widths, grid=grid)
        self.image_proj = nn.Linear(self.encoder.out_features * grid * grid, fused)
        self.embed = nn.Embedding(question_vocab, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.question_proj = nn.Linear(hidden, fused)
        self.fusion = fusion
        width = fused if fusion == "product" else 2 * fused
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, fused), nn.ReLU(),
                                        nn.Linear(fused, n_answers))
        self.question_vocab, self.n_answers = question_vocab, n_answers

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
        v = torch.tanh(self.image_proj(self.encoder(images).flatten(1)))
        packed = pack_padded_sequence(self.embed(questions), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        q = torch.tanh(self.question_proj(h[-1]))
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
