"""Temporal Attention-Gated Model: gate limits equal a plain RNN / a frozen
state, padding invariance, and it learns to attend to the informative step."""

from __future__ import annotations

import pytest
import torch

from polymodal.alignment import TemporalAttentionGatedModel
from polymodal.errors import ShapeError


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return TemporalAttentionGatedModel(3, 6, num_classes=2, attention_hidden=5, **kw).double()


def test_open_gates_give_a_plain_rnn_and_closed_gates_freeze_the_state():
    model = _model()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    with torch.no_grad():
        model.attention_score.weight.zero_()
        model.attention_score.bias.fill_(80.0)  # a_t = 1 (to rounding)
        rnn = torch.nn.RNN(3, 6, nonlinearity="relu", batch_first=True).double()
        rnn.weight_ih_l0.copy_(model.W.weight)
        rnn.bias_ih_l0.copy_(model.W.bias)
        rnn.weight_hh_l0.copy_(model.U.weight)
        rnn.bias_hh_l0.zero_()
        _, h = rnn(x)
        out = model(x)
        torch.testing.assert_close(out.hidden, h[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(out.logits, model.classifier(h[0]), rtol=0, atol=1e-12)
        model.attention_score.bias.fill_(-80.0)  # a_t = 0: nothing enters the state
        out = model(x)
        assert out.hidden.abs().max() < 1e-30
        torch.testing.assert_close(out.logits, model.classifier.bias.expand(4, 2), rtol=0, atol=1e-12)


def test_padding_does_not_change_the_result():
    model = _model(1, activation="tanh")
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randn(t, 3, generator=g, dtype=torch.float64) for t in (8, 5, 2)]
    batch = torch.zeros(3, 8, 3, dtype=torch.float64)
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = s
    out = model(batch, lengths=torch.tensor([8, 5, 2]))
    for i, s in enumerate(seqs):
        alone = model(s[None])
        torch.testing.assert_close(out.logits[i], alone.logits[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(out.salience[i, : len(s)], alone.salience[0], rtol=0, atol=1e-12)
        assert (out.salience[i, len(s):] == 0).all()


def test_learns_to_attend_to_the_one_informative_step():
    """Class = sign of a marker step at a random position among noise steps."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only wait on a shared machine
    try:
        _train_and_check()
    finally:
        torch.set_num_threads(threads)


def _train_and_check():
    g = torch.Generator().manual_seed(0)
    N, T = 128, 10
    x = torch.randn(N, T, 3, generator=g) * 0.5
    pos = torch.randint(0, T, (N,), generator=g)
    y = torch.randint(0, 2, (N,), generator=g)
    x[torch.arange(N), pos, 0] = 3.0 * (2 * y - 1).float()
    x[torch.arange(N), pos, 1] = 3.0  # a flag marking the informative step
    torch.manual_seed(0)
    model = TemporalAttentionGatedModel(3, 16, num_classes=2, attention_hidden=8)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(80):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).logits, y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = model(x)
    assert (out.logits.argmax(1) == y).float().mean() > 0.95
    on = out.salience[torch.arange(N), pos]
    off = out.salience.sum(1) - on
    assert on.mean() > 3 * (off / (T - 1)).mean()


def test_bad_input():
    model = _model()
    with pytest.raises(ShapeError, match=r"^x must have 3 features, got 4$"):
        model(torch.zeros(2, 5, 4, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"^lengths must be \(B,\) = \(2,\) with values in \[1, 5\], got \[5, 0\]$"):
        model(torch.zeros(2, 5, 3, dtype=torch.float64), lengths=torch.tensor([5, 0]))
