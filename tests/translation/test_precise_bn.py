"""Precise BatchNorm: recomputed running statistics are the closed-form averages
of the per-batch statistics under the current weights, and fit_generator's
option leaves the selected model's BatchNorm consistent with its weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.errors import ConfigError
from polymodal.translation import fit_generator, recompute_batchnorm


def test_running_stats_are_the_average_of_batch_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.0), nn.Linear(4, 2))
    model.eval()
    batches = [torch.randn(16, 3) * (1 + i) + i for i in range(5)]
    used = recompute_batchnorm(model, batches, model, max_batches=4)
    assert used == 4 and not model.training  # mode restored
    bn = model[1]
    with torch.no_grad():
        h = [model[0](b) for b in batches[:4]]
    mean = torch.stack([x.mean(0) for x in h]).mean(0)
    var = torch.stack([x.var(0, unbiased=True) for x in h]).mean(0)
    torch.testing.assert_close(bn.running_mean, mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, var, rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 4
    assert recompute_batchnorm(nn.Linear(2, 2), batches, lambda b: None) == 0  # nothing to do


class _TinyBNClassifier(nn.Module):
    """A class-target 'generator' with a BatchNorm, enough for fit_generator."""

    pad_id = 0

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    def compute_loss(self, x, y):
        return nn.functional.cross_entropy(self.net(x), y)


def test_fit_generator_selects_weights_with_matching_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g) * 3 + 1
    y = (x[:, 0] > 1).long()
    torch.manual_seed(0)
    model = _TinyBNClassifier()
    fit = fit_generator(model, (x, y), (x, y), max_epochs=3, batch_size=32, lr=1e-2, precise_bn_batches=4)
    bn = model.net[1]
    with torch.no_grad():  # 4 batches of 32 = all 128 samples: equal batches, so the mean is exact
        exact_mean = model.net[0](x).mean(0)
    torch.testing.assert_close(bn.running_mean, exact_mean, rtol=1e-4, atol=1e-5)
    assert fit.best_val_loss == min(fit.val_loss) == fit.val_loss[fit.best_epoch]
    with pytest.raises(ConfigError, match="precise_bn_batches"):
        fit_generator(model, (x, y), (x, y), max_epochs=1, precise_bn_batches=-1)
