"""benchmarks/bench_av_digits.py --gate-ood-penalty: the penalty switches the gated experts' audio gate off on
uninformative (other-language) samples, leaves it on elsewhere, and at 0 changes nothing."""

import pytest
import torch
from benchmark_scripts import benchmark_script

from polymodal.errors import ConfigError


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_av_digits") as module:
        return module


def _data(width, n=512):
    """Image: a weak expert. Audio: a confident correct expert, except on the ``ood`` third, whose audio
    features are marked by dimension 0 and whose logits are mildly confident in a random class."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    ood = torch.arange(n) % 3 == 0
    li = torch.randn(n, 10, generator=g) + 1.5 * torch.nn.functional.one_hot(y, 10)
    la = 4.0 * torch.nn.functional.one_hot(y, 10).float()
    la[ood] = 1.0 * torch.nn.functional.one_hot(torch.randint(0, 10, (int(ood.sum()),), generator=g), 10).float()
    ha = 0.1 * torch.randn(n, width, generator=g)
    ha[:, 0] = ood.float() * 2 - 1
    hi = 0.1 * torch.randn(n, width, generator=g)
    ones = torch.ones(n, dtype=torch.bool)
    return ({"image": hi, "audio": ha}, {"image": li, "audio": la}, {"image": ones, "audio": ones}, y,
            {"image": torch.zeros(n, 1), "audio": torch.zeros(n, 1)}), ood


def _audio_gate(bench, head, data, mask):
    feats, logits, present, _, quality = data
    with torch.no_grad():
        g = head.fusion.gates(feats, logits, present, head.gate_quality(quality))
    return float(g[mask, head.fusion.modalities.index("audio")].mean())


def test_gate_ood_penalty_switches_the_audio_gate_off_on_ood_samples_only(bench):
    data, ood = _data(bench.WIDTH)
    temps = {"image": 1.0, "audio": 1.0}
    plain = bench.train_head(bench.GatedHead(temps), data, 20, 0)
    penal = bench.train_head(bench.GatedHead(temps), data, 20, 0, ood=ood, ood_penalty=1.0)
    before, after = _audio_gate(bench, plain, data, ood), _audio_gate(bench, penal, data, ood)
    assert after < 0.1 and after < 0.2 * before
    assert _audio_gate(bench, penal, data, ~ood) > 1.4  # the informative audio keeps its weight (gates in [0, 2])
    # the penalty is the mean audio gate over the masked samples (a closed form through gates())
    feats, logits, present, _, quality = data
    g = penal.fusion.gates(feats, logits, present, penal.gate_quality(quality))[:, 1]
    assert torch.allclose(bench.gate_ood_loss(penal, feats, logits, present, quality, ood), g[ood].mean())


def test_gate_ood_penalty_zero_is_the_default_and_needs_a_gated_head(bench):
    data, ood = _data(bench.WIDTH, n=256)
    temps = {"image": 1.0, "audio": 1.0}
    a = bench.train_head(bench.GatedHead(temps), data, 2, 0)
    b = bench.train_head(bench.GatedHead(temps), data, 2, 0, ood=ood, ood_penalty=0.0)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    with pytest.raises(ConfigError, match="GatedHead"):
        bench.train_head(bench.FeatureHead("concat"), data, 1, 0, ood=ood, ood_penalty=1.0)
    with pytest.raises(ConfigError, match="ood mask"):
        bench.train_head(bench.GatedHead(temps), data, 1, 0, ood_penalty=1.0)
