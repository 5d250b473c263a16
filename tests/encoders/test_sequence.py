"""Sequence encoders: packed padded batches equal per-sequence runs; a
hand-written LSTM recurrence as reference; clear errors on bad lengths."""

from __future__ import annotations

import itertools

import pytest
import torch

from polymodal.data import collate
from polymodal.encoders import PaddedSequence, SequenceEncoder, SequenceSteps
from polymodal.errors import ShapeError
from polymodal.core.registry import build

LENGTHS = [5, 2, 7, 1]


def _batch(d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randn(t, d, generator=g, dtype=torch.float64) for t in LENGTHS]
    padded = torch.zeros(len(seqs), max(LENGTHS), d, dtype=torch.float64)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        padded[i, len(s):] = 100.0  # garbage in the padding must not leak
    return seqs, padded, torch.tensor(LENGTHS)


@pytest.mark.parametrize(
    "cell,bidirectional,num_layers,output",
    [(c, b, n, o) for c, b, n in itertools.product(["rnn", "gru", "lstm"], [False, True], [1, 2])
     for o in ("last", "all", "mean", "max")],
)
def test_padded_batch_equals_each_sequence_alone(cell, bidirectional, num_layers, output):
    torch.manual_seed(0)
    enc = SequenceEncoder(3, hidden=4, cell=cell, num_layers=num_layers, bidirectional=bidirectional,
                          output=output).double().eval()
    seqs, padded, lengths = _batch()
    batched = enc(padded, lengths=lengths)
    for i, s in enumerate(seqs):
        alone = enc(s[None], lengths=torch.tensor([len(s)]))[0]
        if output == "all":
            torch.testing.assert_close(batched[i, : len(s)], alone, atol=1e-12, rtol=0)
            assert torch.all(batched[i, len(s):] == 0)
        else:
            torch.testing.assert_close(batched[i], alone, atol=1e-12, rtol=0)
    assert enc.out_features == 4 * (2 if bidirectional else 1)


def test_lstm_matches_hand_written_recurrence():
    torch.manual_seed(1)
    enc = SequenceEncoder(3, hidden=5, cell="lstm", output="all").double()
    seqs, padded, lengths = _batch()
    out = enc(padded, lengths=lengths)
    w_ih, w_hh = enc.rnn.weight_ih_l0, enc.rnn.weight_hh_l0
    b = enc.rnn.bias_ih_l0 + enc.rnn.bias_hh_l0
    for i, s in enumerate(seqs):
        h = c = torch.zeros(5, dtype=torch.float64)
        for t in range(len(s)):
            gates = w_ih @ s[t] + w_hh @ h + b
            ig, fg, gg, og = gates.chunk(4)
            c = torch.sigmoid(fg) * c + torch.sigmoid(ig) * torch.tanh(gg)
            h = torch.sigmoid(og) * torch.tanh(c)
            torch.testing.assert_close(out[i, t], h, atol=1e-12, rtol=0)


def test_bidirectional_last_is_forward_end_and_backward_start():
    torch.manual_seed(2)
    kw = dict(hidden=3, cell="gru", bidirectional=True)
    last, every = SequenceEncoder(3, output="last", **kw).double(), SequenceEncoder(3, output="all", **kw).double()
    every.load_state_dict(last.state_dict())
    _, padded, lengths = _batch()
    h_last, h_all = last(padded, lengths), every(padded, lengths)
    for i, t in enumerate(LENGTHS):
        torch.testing.assert_close(h_last[i], torch.cat([h_all[i, t - 1, :3], h_all[i, 0, 3:]]))
    # mean pooling is the mean over real steps only
    mean = SequenceEncoder(3, output="mean", **kw).double()
    mean.load_state_dict(last.state_dict())
    torch.testing.assert_close(mean(padded, lengths)[1], h_all[1, :2].mean(0))


def test_no_lengths_means_full_length():
    enc = SequenceEncoder(3, hidden=4).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(enc(x), enc(x, lengths=torch.tensor([4, 4])))


def test_bad_lengths_and_shapes_raise_clear_errors():
    enc = SequenceEncoder(3, hidden=4)
    x = torch.zeros(3, 5, 3)
    with pytest.raises(ShapeError, match=r"lengths\[1\] = 6 exceeds the padded size T = 5"):
        enc(x, lengths=torch.tensor([5, 6, 2]))
    with pytest.raises(ShapeError, match=r"lengths\[2\] = 0; every sequence needs at least 1 step"):
        enc(x, lengths=torch.tensor([5, 1, 0]))
    with pytest.raises(ShapeError, match=r"lengths must have shape \(3,\)"):
        enc(x, lengths=torch.tensor([5, 1]))
    with pytest.raises(ShapeError, match=r"\(N, T, d\)"):
        enc(torch.zeros(3, 5))
    with pytest.raises(ShapeError, match="expected 3 features per step, got 4"):
        enc(torch.zeros(3, 5, 4))
    with pytest.raises(ShapeError, match="exceeds"):
        SequenceSteps(3)(x, lengths=torch.tensor([9, 1, 1]))


def test_registry_build_and_collated_batch():
    enc = build("encoder", {"name": "lstm", "hidden": 6, "bidirectional": True, "output": "mean"}, in_features=3)
    assert isinstance(enc, SequenceEncoder) and enc.cell == "lstm" and enc.out_features == 12
    for name in ("rnn", "gru", "sequence"):
        assert build("encoder", {"name": name, "hidden": 2}, in_features=3).out_features == 2
    seqs, _, _ = _batch()
    samples = [{"inputs": {"x": s.float()}, "id": i, "present": {}} for i, s in enumerate(seqs)]
    batch = collate(samples)
    steps = build("encoder", {"name": "steps"}, in_features=3)(batch["x"], lengths=batch.lengths["x"])
    assert isinstance(steps, PaddedSequence) and steps.lengths.tolist() == LENGTHS
    out = enc(batch["x"], lengths=batch.lengths["x"])
    torch.testing.assert_close(out[3], enc(seqs[3][None].float())[0])
