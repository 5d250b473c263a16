"""Greedy and beam search against brute force on a small random RNN language model."""

import itertools

import pytest
import torch

from polymodal.errors import ConfigError, ShapeError
from polymodal.translation import beam_search, greedy_decode, map_state

BOS, EOS = 1, 2


class TinyRNN:
    """h' = tanh(W h + E[tok]); log p = log_softmax(sharp * U h')  (state: h (N, H))."""

    def __init__(self, V=5, H=6, sharp=3.0, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(H, H, generator=g, dtype=torch.float64) / H ** 0.5
        self.E = torch.randn(V, H, generator=g, dtype=torch.float64)
        self.U = torch.randn(H, V, generator=g, dtype=torch.float64) * sharp / H ** 0.5
        self.V, self.H = V, H

    def init(self, B, seed=1):
        return torch.randn(B, self.H, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def step(self, tok, h):
        h = torch.tanh(h @ self.W + self.E[tok])
        return torch.log_softmax(h @ self.U, dim=-1), h

    def score(self, h0, seq, ended):
        """Total log-probability of seq (+ <eos> when ended) from state h0 (1, H)."""
        tok, h, total = torch.tensor([BOS]), h0, 0.0
        for y in list(seq) + ([EOS] if ended else []):
            lp, h = self.step(tok, h)
            total += float(lp[0, y])
            tok = torch.tensor([y])
        return total


def exhaustive(model, h0, max_len, alpha):
    words = [v for v in range(model.V) if v != EOS]
    best = None
    for L in range(max_len + 1):
        for seq in itertools.product(words, repeat=L):
            ended = L < max_len
            lp = model.score(h0, seq, ended)
            s = lp / (L + ended) ** alpha if alpha else lp
            if best is None or s > best[0] + 1e-12:
                best = (s, list(seq), lp)
    return best


def test_beam_one_equals_greedy_exactly():
    m = TinyRNN(V=7, sharp=1.5)
    h0 = m.init(32)
    for alpha in (0.0, 0.7, 1.0):
        g = greedy_decode(m.step, h0, 32, BOS, EOS, max_len=8, length_penalty=alpha)
        b = beam_search(m.step, h0, 32, BOS, EOS, max_len=8, beam_size=1, length_penalty=alpha)
        assert g.sequences() == b.sequences()
        assert torch.equal(g.tokens, b.tokens) and torch.equal(g.lengths, b.lengths)
        assert torch.allclose(g.log_prob, b.log_prob, rtol=0, atol=1e-12)
        assert torch.allclose(g.score, b.score, rtol=0, atol=1e-12)


def test_greedy_log_prob_matches_rescoring():
    m = TinyRNN(V=6, sharp=1.0)
    h0 = m.init(5)
    g = greedy_decode(m.step, h0, 5, BOS, EOS, max_len=6)
    for i, h in enumerate(g.hypotheses):
        assert h[0].log_prob == pytest.approx(m.score(h0[i:i + 1], h[0].tokens, h[0].ended), abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_large_beam_equals_exhaustive_search(alpha):
    m = TinyRNN(V=5, sharp=1.0, seed=3)
    B, T = 6, 3
    h0 = m.init(B, seed=4)
    res = beam_search(m.step, h0, B, BOS, EOS, max_len=T, beam_size=100, length_penalty=alpha)
    for i in range(B):
        s, seq, lp = exhaustive(m, h0[i:i + 1], T, alpha)
        assert res.hypotheses[i][0].tokens == seq
        assert float(res.score[i]) == pytest.approx(s, abs=1e-10)
        assert float(res.log_prob[i]) == pytest.approx(lp, abs=1e-10)


def test_beam_hypotheses_are_scored_correctly_and_sorted():
    m = TinyRNN(V=6, sharp=2.0, seed=5)
    h0 = m.init(4, seed=6)
    res = beam_search(m.step, h0, 4, BOS, EOS, max_len=6, beam_size=4, length_penalty=0.5)
    for i, hyps in enumerate(res.hypotheses):
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            lp = m.score(h0[i:i + 1], h.tokens, h.ended)
            assert h.log_prob == pytest.approx(lp, abs=1e-10)
            assert h.score == pytest.approx(lp / (len(h.tokens) + h.ended) ** 0.5, abs=1e-10)


def test_batched_equals_one_at_a_time():
    m = TinyRNN(V=8, sharp=2.0, seed=7)
    h0 = m.init(5, seed=8)
    full = beam_search(m.step, h0, 5, BOS, EOS, max_len=7, beam_size=3, length_penalty=0.6)
    for i in range(5):
        one = beam_search(m.step, h0[i:i + 1], 1, BOS, EOS, max_len=7, beam_size=3, length_penalty=0.6)
        assert one.sequences()[0] == full.sequences()[i]
        assert float(one.score[0]) == pytest.approx(float(full.score[i]), abs=1e-12)


def test_nested_state_and_errors():
    m = TinyRNN()
    h0 = m.init(2)
    step = lambda tok, s: (lambda lp_h: (lp_h[0], {"h": (lp_h[1],)}))(m.step(tok, s["h"][0]))  # noqa: E731
    a = beam_search(step, {"h": (h0,)}, 2, BOS, EOS, max_len=5, beam_size=2)
    b = beam_search(m.step, h0, 2, BOS, EOS, max_len=5, beam_size=2)
    assert a.sequences() == b.sequences()
    assert map_state(lambda x: x * 2, {"a": (torch.ones(1), None)})["a"][0].item() == 2
    with pytest.raises(ConfigError, match="beam_size"):
        beam_search(m.step, h0, 2, BOS, EOS, max_len=5, beam_size=0)
    with pytest.raises(ConfigError, match="max_len"):
        greedy_decode(m.step, h0, 2, BOS, EOS, max_len=0)
    with pytest.raises(ShapeError, match=r"\(2, V\)"):
        greedy_decode(lambda t, s: (torch.zeros(3, 4), s), h0, 2, BOS, EOS, max_len=3)
