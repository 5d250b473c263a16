"""Decoding for any step-wise decoder: greedy and batched beam search with length normalisation.

A *step function* ``step(tokens, state) -> (log_probs, state)`` takes the last
token of every hypothesis (N,) and a decoder state (a tensor or a nested
tuple/list/dict of tensors whose first dimension is N) and returns the
log-probabilities of the next token (N, V) and the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from polymodal.errors import ConfigError, ShapeError

__all__ = ["DecodeResult", "Hypothesis", "beam_search", "greedy_decode", "map_state"]

StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def map_state(fn: Callable[[torch.Tensor], torch.Tensor], state: Any) -> Any:
    """Apply ``fn`` to every tensor of a nested tuple/list/dict decoder state (``None`` kept)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {k: map_state(fn, v) for k, v in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, v) for v in state)
    raise ConfigError(f"decoder state must be tensors in tuples/lists/dicts, got {type(state).__name__}")


@dataclass
class Hypothesis:
    """One finished hypothesis: tokens (without ``<bos>``/``<eos>``), total log-probability, normalised score."""

    tokens: list[int]
    log_prob: float
    score: float
    ended: bool  # True when it ended with <eos>, False when cut at max_len


@dataclass
class DecodeResult:
    """Best hypothesis per input.

    ``tokens`` (B, L) int64 padded with ``pad_id``, ``lengths`` (B,) without
    ``<eos>``, ``log_prob`` (B,) the model log-probability of the whole output
    (``<eos>`` included when it was produced), ``score`` (B,) the length-normalised
    score that chose it, ``hypotheses`` the finished hypotheses per input, best first.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    log_prob: torch.Tensor
    score: torch.Tensor
    hypotheses: list[list[Hypothesis]] = field(default_factory=list)

    def sequences(self) -> list[list[int]]:
        """The best token ids per input, as lists."""
        return [h[0].tokens for h in self.hypotheses]


def _state_device(state: Any) -> torch.device:
    found: list[torch.device] = []
    map_state(lambda x: found.append(x.device) or x, state)
    return found[0] if found else torch.device("cpu")


def _normalise(log_prob: float, length: int, alpha: float) -> float:
    return log_prob / (max(length, 1) ** alpha) if alpha else log_prob


def _check(batch_size: int, max_len: int, beam_size: int = 1, length_penalty: float = 0.0) -> None:
    if not length_penalty >= 0:  # NaN too
        raise ConfigError(f"length_penalty must be >= 0, got {length_penalty}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if max_len < 1:
        raise ConfigError(f"max_len must be >= 1, got {max_len}")
    if beam_size < 1:
        raise ConfigError(f"beam_size must be >= 1, got {beam_size}")


def _check_logp(logp: torch.Tensor, n: int) -> None:
    if logp.ndim != 2 or logp.shape[0] != n:
        raise ShapeError(f"step function must return log-probabilities of shape ({n}, V), got {tuple(logp.shape)}")


def _result(hyps: list[list[Hypothesis]], pad_id: int, device: torch.device) -> DecodeResult:
    best = [h[0] for h in hyps]
    L = max((len(h.tokens) for h in best), default=0)
    tokens = torch.full((len(best), L), pad_id, dtype=torch.long, device=device)
    for i, h in enumerate(best):
        if h.tokens:
            tokens[i, : len(h.tokens)] = torch.tensor(h.tokens, dtype=torch.long, device=device)
    return DecodeResult(
        tokens=tokens,
        lengths=torch.tensor([len(h.tokens) for h in best], dtype=torch.long),
        log_prob=torch.tensor([h.log_prob for h in best], dtype=torch.float64),
        score=torch.tensor([h.score for h in best], dtype=torch.float64),
        hypotheses=hyps,
    )


@torch.no_grad()
def greedy_decode(step: StepFn, state: Any, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                  pad_id: int = 0, length_penalty: float = 0.0) -> DecodeResult:
    r"""Greedy decoding: :math:`y_t = \arg\max_v \log p(v \mid y_{<t}, x)` until ``<eos>`` or ``max_len`` tokens.

    Parameters
    ----------
    step : callable ``(tokens (N,), state) -> (log_probs (N, V), state)``
    state : the decoder state of the B inputs (first dimension B)
    batch_size : int
        B.
    bos_id, eos_id, pad_id : int
    max_len : int
        Most tokens generated, ``<eos>`` included.
    length_penalty : float
        Only sets the reported ``score`` (``log_prob / length ** alpha``).

    Examples
    --------
    >>> logp = torch.log_softmax(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), -1)
    >>> step = lambda tok, s: (logp.expand(len(tok), 4), s)
    >>> greedy_decode(step, None, 1, bos_id=1, eos_id=2, max_len=5).lengths.tolist()
    [0]
    """
    _check(batch_size, max_len, length_penalty=length_penalty)
    device = _state_device(state)
    tokens = None
    alive = torch.ones(batch_size, dtype=torch.bool)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    total = torch.zeros(batch_size, dtype=torch.float64)
    ended = [False] * batch_size
    for t in range(max_len):
        if tokens is None:
            tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
        logp, state = step(tokens, state)
        _check_logp(logp, batch_size)
        device = logp.device
        best_lp, nxt = logp.max(dim=1)
        best_lp, nxt_cpu = best_lp.double().cpu(), nxt.tolist()
        total = torch.where(alive, total + best_lp, total)
        for i in torch.nonzero(alive).flatten().tolist():
            if nxt_cpu[i] == eos_id:
                alive[i] = False
                ended[i] = True
            else:
                out[i].append(int(nxt_cpu[i]))
        if not alive.any():
            break
        tokens = nxt
    hyps = [[Hypothesis(out[i], float(total[i]), _normalise(float(total[i]), len(out[i]) + ended[i], length_penalty),
                        ended[i])] for i in range(batch_size)]
    return _result(hyps, pad_id, device)


@torch.no_grad()
def beam_search(step: StepFn, state: Any, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                beam_size: int = 3, length_penalty: float = 0.0, pad_id: int = 0) -> DecodeResult:
    r"""Batched beam search with length normalisation.

    Keeps the ``beam_size`` best prefixes of every input, ranked by total
    log-probability :math:`\sum_t \log p(y_t \mid y_{<t}, x)`. At each step the
    :math:`2k` best extensions are drawn; an extension by ``<eos>`` ranked among
    the first :math:`k` is finished with the normalised score
    :math:`s(y) = \log p(y \mid x) / |y|^{\alpha}` (Wu et al., "Google's neural
    machine translation system", arXiv 2016, uses a similar penalty; :math:`|y|`
    counts ``<eos>``), the first :math:`k` others continue (the scheme of
    fairseq, Ott et al., NAACL 2019). An input is done when it has :math:`k`
    finished hypotheses; when :math:`\alpha = 0` it is done as soon as its best
    finished log-probability is at least that of every live prefix (log-probabilities
    only fall, so none can win any more). Prefixes alive after ``max_len`` tokens
    are finished there. The best finished hypothesis by ``score`` is returned.
    With ``beam_size=1`` this is exactly :func:`greedy_decode`; with a beam
    larger than every possible prefix set it is exhaustive search.

    Parameters
    ----------
    step, state, batch_size, bos_id, eos_id, max_len, pad_id : as :func:`greedy_decode`
    beam_size : int
        k.
    length_penalty : float
        alpha >= 0 (0: raw log-probability, 1: per-token average).

    Examples
    --------
    >>> logp = torch.log_softmax(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), -1)
    >>> step = lambda tok, s: (logp.expand(len(tok), 4), s)
    >>> beam_search(step, None, 1, bos_id=1, eos_id=2, max_len=5, beam_size=2).lengths.tolist()
    [0]
    """
    _check(batch_size, max_len, beam_size, length_penalty)
    B, K = batch_size, beam_size
    state = map_state(lambda x: x.repeat_interleave(K, dim=0), state)
    tokens = torch.full((B * K,), bos_id, dtype=torch.long)
    scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0
    prefixes = torch.zeros((B, K, 0), dtype=torch.long)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    device = _state_device(state)
    for t in range(max_len):
        logp, state = step(tokens.to(device), state)
        _check_logp(logp, B * K)
        device = logp.device
        V = logp.shape[1]
        cand = (scores.unsqueeze(-1) + logp.double().cpu().view(B, K, V)).view(B, K * V)
        n = min(2 * K, K * V)
        top_s, top_i = cand.topk(n, dim=1)
        beam, tok = top_i // V, top_i % V
        is_eos = tok == eos_id
        last = t == max_len - 1
        k_s, k_eos = top_s[:, :K].tolist(), is_eos[:, :K].tolist()
        k_beam, k_tok = beam[:, :K].tolist(), tok[:, :K].tolist()
        for b in range(B):
            if done[b]:
                continue
            for r in range(min(K, n)):
                s = k_s[b][r]
                if s == float("-inf"):
                    break
                if k_eos[b][r] or last:
                    seq = prefixes[b, k_beam[b][r]].tolist() + ([] if k_eos[b][r] else [k_tok[b][r]])
                    finished[b].append(Hypothesis(seq, s, _normalise(s, t + 1, length_penalty), k_eos[b][r]))
        # continue with the k best extensions that are not <eos>
        order = torch.argsort(is_eos.to(torch.int8), dim=1, stable=True)[:, :K]
        if order.shape[1] < K:  # fewer than k candidates (tiny vocabularies): pad with dead beams
            order = torch.cat([order, order[:, :1].expand(B, K - order.shape[1])], dim=1)
            pad_dead = True
        else:
            pad_dead = False
        sel_beam = beam.gather(1, order)
        new_scores = top_s.gather(1, order)
        new_tok = tok.gather(1, order)
        new_scores = torch.where(is_eos.gather(1, order), torch.full_like(new_scores, float("-inf")), new_scores)
        if pad_dead:
            new_scores[:, min(n, K):] = float("-inf")
        live_max = new_scores.max(dim=1).values.tolist()
        for b in range(B):
            if done[b] or not finished[b]:
                continue
            if length_penalty == 0:
                done[b] = max(h.log_prob for h in finished[b]) >= live_max[b]
            else:
                done[b] = len(finished[b]) >= K
        if last or all(done):
            break
        prefixes = torch.cat([prefixes.gather(1, sel_beam.unsqueeze(-1).expand(B, K, prefixes.shape[2])),
                              new_tok.unsqueeze(-1)], dim=2)
        scores = new_scores
        flat = (sel_beam + torch.arange(B).unsqueeze(1) * K).flatten()
        flat_dev = flat.to(device)
        state = map_state(lambda x: x.index_select(0, flat_dev), state)
        tokens = new_tok.flatten()
    hyps = [sorted(f, key=lambda h: -h.score) for f in finished]
    return _result(hyps, pad_id, device)
