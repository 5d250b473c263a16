"""fit_generator on train_network: batches cut to their longest non-padding target (and a
``(values, lengths)`` source to its longest length), the validation loss is the size-weighted mean
over validation batches and is that of the kept weights, seeding is reproducible and leaves the
caller's global RNG alone, bad input raises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.errors import ConfigError, ShapeError
from polymodal.translation import fit_generator


class _Classifier(nn.Module):
    pad_id = 0

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 3))

    def compute_loss(self, x, y):
        return nn.functional.cross_entropy(self.net(x), y)


class _Recorder(nn.Module):
    """Records the shapes it is trained on; loss = mean of a learnable scale times the source."""

    pad_id = 0

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.seen = []

    def compute_loss(self, source, tokens):
        values, lengths = source
        self.seen.append((values.shape[1], int(lengths.max()), tokens.shape[1],
                          int((tokens != self.pad_id).sum(1).max())))
        return (self.w * values.float()).pow(2).mean()


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long()


def test_validation_loss_is_the_mean_over_validation_rows_of_the_kept_weights():
    train, val = _data(200, 0), _data(300, 1)  # validation batches of 128, 128, 44
    torch.manual_seed(0)
    model = _Classifier()
    rng = torch.get_rng_state()
    fit = fit_generator(model, train, val, max_epochs=6, batch_size=32, lr=1e-2, random_state=3, device="cpu")
    assert torch.equal(torch.get_rng_state(), rng)  # dropout drew from a forked, seeded stream
    assert fit.best_val_loss == min(fit.val_loss) == fit.val_loss[fit.best_epoch]
    with torch.no_grad():  # the weighted mean of the batch means is the mean over all rows
        assert float(model.compute_loss(*val)) == pytest.approx(fit.best_val_loss, rel=1e-5)
    torch.manual_seed(0)
    same = _Classifier()
    fit_generator(same, train, val, max_epochs=6, batch_size=32, lr=1e-2, random_state=3, device="cpu")
    for a, b in zip(model.parameters(), same.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batches_are_cut_to_their_longest_sequence():
    n, T = 12, 9
    lengths = torch.tensor([1, 2, 3, 2, 1, 4, 2, 1, 3, 2, 5, 1])
    values = torch.zeros(n, T, 2)
    for i, k in enumerate(lengths):
        values[i, :k] = 1.0
    tokens = torch.zeros(n, T + 2, dtype=torch.long)
    for i, k in enumerate(lengths):
        tokens[i, : int(k) + 2] = 5  # <bos> k words <eos>
    model = _Recorder()
    fit_generator(model, ((values, lengths), tokens), max_epochs=2, batch_size=4, random_state=0, device="cpu")
    assert len(model.seen) == 2 * (3 + 1)  # 3 training batches and 1 validation batch per epoch
    for source_len, longest, token_len, longest_tokens in model.seen:
        assert source_len == longest and token_len == longest_tokens
    assert {s[0] for s in model.seen} != {T}  # some batches were cut


def test_bad_input():
    x, y = _data(10, 0)
    with pytest.raises(ConfigError, match="train must be a pair"):
        fit_generator(_Classifier(), (x,), max_epochs=1)
    with pytest.raises(ShapeError, match="val: source has 9 items"):
        fit_generator(_Classifier(), (x, y), (x[:9], y), max_epochs=1)
    with pytest.raises(ConfigError, match="max_epochs must be an int >= 1"):
        fit_generator(_Classifier(), (x, y), max_epochs=0)
    with pytest.raises(ConfigError, match="batch_size"):
        fit_generator(_Classifier(), (x, y), max_epochs=1, batch_size=0)
