"""The shared step-wise decoder interface of the attention captioners and seq2seq
(their attention is :class:`polymodal.alignment.AdditiveAttention`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from polymodal.errors import ShapeError
from polymodal.translation.decoding import DecodeResult, _state_device, beam_search, greedy_decode

__all__ = ["StepwiseDecoder", "token_loss"]


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Run the block with ``module`` in eval mode, then restore its training flag."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _check_tokens(tokens: torch.Tensor, vocab_size: int) -> None:
    if tokens.ndim != 2 or tokens.dtype != torch.long:
        raise ShapeError(f"tokens must be (B, T) int64 ids, got {tuple(tokens.shape)} {tokens.dtype}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ShapeError(f"token ids must be in [0, {vocab_size}), got range [{int(tokens.min())}, {int(tokens.max())}]")


def token_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Mean cross-entropy over the non-padding target tokens; ``logits`` (B, T, V), ``targets`` (B, T).

    A batch whose targets are all padding has no tokens to score: its loss is 0 with a zero
    gradient (``F.cross_entropy(..., ignore_index=pad_id)`` gives NaN there, and a NaN gradient
    would silently turn every weight into NaN). No host synchronisation: the count is a tensor."""
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ShapeError(f"token_loss: logits must be (B, T, V) and targets (B, T) with the same B and T; got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ShapeError(f"token_loss: targets must be integer token ids, got dtype {targets.dtype}")
    targets = targets.reshape(-1)
    total = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, ignore_index=pad_id,
                                        reduction="sum")
    return total / (targets != pad_id).sum().clamp(min=1).to(total.dtype)


class StepwiseDecoder(nn.Module):
    """Base of the sequence generators: subclasses define ``init_state(source)`` and
    ``step(tokens, state) -> (log_probs, state)`` (and a teacher-forced ``forward``);
    :meth:`generate` decodes with greedy or beam search.

    Class attributes ``bos_id``, ``eos_id``, ``pad_id`` follow
    :class:`polymodal.data.vocab.Vocabulary` (1, 2, 0).
    """

    pad_id, bos_id, eos_id = 0, 1, 2

    def init_state(self, source: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def batch_size(self, source: Any) -> int:
        """Number of inputs in ``source`` (its first tensor's first dimension)."""
        first = source[0] if isinstance(source, (tuple, list)) else source
        return int(first.shape[0])

    @torch.no_grad()
    def generate(self, source: Any, max_len: int = 20, beam_size: int = 1, length_penalty: float = 0.0) -> DecodeResult:
        """Decode ``source``: greedy when ``beam_size == 1``, otherwise beam search (see :func:`beam_search`)."""
        with _eval_mode(self):
            state = self.init_state(source)
            B = self.batch_size(source)
            if beam_size == 1:
                return greedy_decode(self.step, state, B, self.bos_id, self.eos_id, max_len, self.pad_id,
                                     length_penalty)
            return beam_search(self.step, state, B, self.bos_id, self.eos_id, max_len, beam_size, length_penalty,
                               self.pad_id)

    @torch.no_grad()
    def sequence_log_prob(self, source: Any, tokens: list[list[int]], ended: list[bool] | None = None) -> torch.Tensor:
        """Model log-probability (B,) of given outputs (ids without ``<bos>``/``<eos>``), by stepping the decoder."""
        with _eval_mode(self):
            state = self.init_state(source)
            B = len(tokens)
            ended = [True] * B if ended is None else ended
            full = [list(t) + ([self.eos_id] if e else []) for t, e in zip(tokens, ended)]
            T = max(len(f) for f in full)
            dev = _state_device(state)  # the decoder's device; the sum is kept on the CPU
            total = torch.zeros(B, dtype=torch.float64, device="cpu")
            prev = torch.full((B,), self.bos_id, dtype=torch.long, device=dev)
            for t in range(T):
                logp, state = self.step(prev, state)
                nxt = torch.tensor([f[t] if t < len(f) else self.pad_id for f in full], device="cpu")
                keep = torch.tensor([t < len(f) for f in full], device="cpu")
                total += torch.where(keep, logp.double().cpu().gather(1, nxt[:, None]).squeeze(1), 0.0)
                prev = nxt.to(logp.device)
            return total


class _AttentionDecoder(StepwiseDecoder):
    """Step-wise decoder built on ``_advance(tokens, state) -> (logits, attention, state)``
    (:class:`ShowAttendTell`, :class:`Seq2SeqAttention`): one step and the teacher-forced loop."""

    def _advance(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:  # pragma: no cover
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        logits, _, state = self._advance(tokens, state)
        return torch.log_softmax(logits, dim=-1), state

    def _teacher_forced(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, V) and attention (B, T, L) after each of ``tokens`` (B, T), starting from ``state``."""
        logits, alphas = [], []
        for t in range(tokens.shape[1]):
            lg, alpha, state = self._advance(tokens[:, t], state)
            logits.append(lg)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)
