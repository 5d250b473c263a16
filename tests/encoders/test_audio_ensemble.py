"""ProbabilityEnsemble: the closed-form mean of the members' probabilities, feature pooling, errors."""

import numpy as np
import pytest
import torch
from torch import nn

from polymodal.encoders.audio import ProbabilityEnsemble
from polymodal.errors import ConfigError, ShapeError


class _Pair(nn.Module):
    def __init__(self, seed, width=4):
        super().__init__()
        torch.manual_seed(seed)
        self.enc, self.cls = nn.Linear(3, width), nn.Linear(width, 5)

    def forward(self, x):
        h = self.enc(x)
        return h, self.cls(h)


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_log_probabilities_are_the_log_of_the_members_mean_probability():
    x = torch.randn(7, 3, dtype=torch.float64)
    members = [nn.Linear(3, 5).double() for _ in range(3)]
    members[1].weight.data *= 50.0  # a very confident member: the mean must not underflow
    expected = np.log(np.mean([_softmax(m(x).detach().numpy()) for m in members], axis=0))
    out = ProbabilityEnsemble(members)(x).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.exp(out).sum(1), 1.0, atol=1e-12)
    # one member: its log-softmax
    np.testing.assert_allclose(ProbabilityEnsemble(members[:1])(x).detach().numpy(),
                               torch.log_softmax(members[0](x), 1).detach().numpy(), atol=1e-12)


def test_pair_members_pool_features_by_mean_or_concat():
    x = torch.randn(6, 3)
    a, b = _Pair(0), _Pair(1)
    (ha, za), (hb, zb) = a(x), b(x)
    h, logp = ProbabilityEnsemble([a, b])(x)
    torch.testing.assert_close(h, (ha + hb) / 2)
    torch.testing.assert_close(logp.exp(), (za.softmax(1) + zb.softmax(1)) / 2)
    h, _ = ProbabilityEnsemble([a, _Pair(2, width=6)], features="concat")(x)
    assert h.shape == (6, 10) and torch.equal(h[:, :4], ha)
    with pytest.raises(ShapeError, match="features='mean'"):
        ProbabilityEnsemble([a, _Pair(2, width=6)])(x)


def test_errors():
    with pytest.raises(ConfigError, match="at least one member"):
        ProbabilityEnsemble([])
    with pytest.raises(ConfigError, match="'mean' or 'concat'"):
        ProbabilityEnsemble([nn.Linear(3, 2)], features="max")
    with pytest.raises(ShapeError, match="one shape"):
        ProbabilityEnsemble([nn.Linear(3, 2), nn.Linear(3, 4)])(torch.randn(2, 3))
    with pytest.raises(ShapeError, match="all return logits"):
        ProbabilityEnsemble([nn.Linear(3, 5), _Pair(0)])(torch.randn(2, 3))
