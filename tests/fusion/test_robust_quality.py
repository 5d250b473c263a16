"""Signal-quality measures (Donoho's MAD noise level against an explicit Haar transform and known noise
levels, the percentile SNR in closed form and on mixed signals) and GatedExpertFusion's quality input
(exactly the other expert when a gate is 0; learns to switch off a modality only the quality reveals)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import norm

from polymodal.data.audio import log_mel_image
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.fusion.quality import estimate_noise_sigma, spectrogram_snr
from polymodal.fusion.robust import GatedExpertFusion


def test_noise_sigma_matches_an_explicit_haar_transform():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 9, 12)) * np.array([0.1, 0.5, 2.0])[:, None, None]  # odd height: last row dropped
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)  # orthonormal 1-D Haar: rows = low, high
    basis = np.kron(h, h)  # 2-D Haar of a 2 x 2 block, flattened row-major; row 3 = diagonal detail HH
    for img, got in zip(images, estimate_noise_sigma(torch.as_tensor(images)).numpy()):
        blocks = img[:8].reshape(4, 2, 6, 2).transpose(0, 2, 1, 3).reshape(-1, 4)
        hh = blocks @ basis[3]
        assert got == pytest.approx(np.median(np.abs(hh)) / norm.ppf(0.75), rel=1e-5)


def test_noise_sigma_recovers_the_level_and_ignores_smooth_content():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    plane = (0.3 + 0.01 * xx - 0.02 * yy)[None].expand(4, 128, 128)
    assert torch.allclose(estimate_noise_sigma(plane), torch.zeros(4), atol=1e-6)  # HH of a plane is 0
    for sigma in (0.05, 0.3, 1.0):
        noisy = plane + sigma * torch.randn(4, 128, 128, generator=g)
        est = estimate_noise_sigma(noisy[:, None])  # (N, C, H, W) works too
        assert torch.allclose(est, torch.full((4,), sigma), rtol=0.05)
    with pytest.raises(ShapeError, match="H, W >= 2"):
        estimate_noise_sigma(torch.zeros(2, 1, 5))
    bad = torch.zeros(3, 4, 4)
    bad[1, 2, 2] = float("nan")
    with pytest.raises(ShapeError, match=r"NaN or inf in sample\(s\) \[1\]"):
        estimate_noise_sigma(bad)
    with pytest.raises(ShapeError, match="NaN or inf"):
        spectrogram_snr(bad.log().neg())  # -log 0 = inf


def test_spectrogram_snr_closed_form_and_on_mixtures():
    # 4 frames of speech at 0 dB, 6 of noise at -30 dB, 5 padding frames at the floor: SNR 30 dB
    db = torch.full((1, 3, 15), -80.0)
    db[0, :, 5:9], db[0, :, 9:15] = 0.0, -30.0
    assert float(spectrogram_snr(db, low=10, high=90, floor_db=-80.0)) == pytest.approx(30.0)
    assert float(spectrogram_snr(torch.full((1, 3, 5), -80.0))) == 0.0  # nothing sounds
    with pytest.raises(ConfigError, match="low < high"):
        spectrogram_snr(db, low=60, high=40)
    # a tone burst in white noise: the estimate falls as the noise rises
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    tone = np.where((t > 0.3) & (t < 0.7), np.sin(2 * np.pi * 440 * t), 0.0)
    noise = rng.normal(size=16000) * np.sqrt(np.mean(tone[4800:11200] ** 2))
    waves = torch.as_tensor(np.stack([tone + 10 ** (-snr / 20) * noise for snr in (30, 20, 10, 0)]),
                            dtype=torch.float32)
    est = spectrogram_snr(60.0 * (log_mel_image(waves) - 1.0)).numpy()
    assert np.all(np.diff(est) < -3.0), est


def test_gate_at_zero_gives_exactly_the_other_expert():
    torch.manual_seed(0)
    fusion = GatedExpertFusion({"a": 3, "b": 2}, 4, hidden=8, quality_features={"a": 2}).set_temperatures(
        {"a": 1.5, "b": 0.7})
    with torch.no_grad():
        fusion.gate[-1].bias.copy_(torch.tensor([-300.0, 0.0]))  # gate a: 2 sigmoid(-300) = 0 in float32
    h = {"a": torch.randn(5, 3), "b": torch.randn(5, 2)}
    z = {"a": 5 * torch.randn(5, 4), "b": torch.randn(5, 4)}
    q = {"a": torch.randn(5, 2)}
    assert torch.equal(fusion.gates(h, z, quality=q)[:, 0], torch.zeros(5))
    torch.testing.assert_close(fusion(h, z, quality=q), F.log_softmax(z["b"] / 0.7, 1))
    # a missing modality's quality is masked out: changing it changes nothing
    absent = {"a": torch.zeros(5, dtype=torch.bool)}
    torch.testing.assert_close(fusion(h, z, absent, q), fusion(h, z, absent, {"a": q["a"] + 100.0}))
    torch.testing.assert_close(fusion(h, z, absent, q), fusion(h, z, absent, {"a": q["a"] * float("nan")}))
    with pytest.raises(ShapeError, match="NaN"):
        fusion(h, z, quality={"a": q["a"] * float("nan")})  # present: refused, never zeroed silently
    with pytest.raises(ModalityError, match="quality"):
        fusion(h, z)
    with pytest.raises(ShapeError, match="'a'"):
        fusion(h, z, quality={"a": torch.zeros(5, 3)})
    with pytest.raises(ModalityError, match="'b'"):
        fusion(h, z, quality={"a": q["a"], "b": torch.zeros(5, 1)})


def _task(n, g):
    """b is the sharper expert, but in half the samples it is confidently wrong; its features and
    logits look the same either way, only a quality measure (a noisy noise-level reading) tells."""
    y = torch.randint(0, 5, (n,), generator=g)
    za = 1.5 * F.one_hot(y, 5).float() + torch.randn(n, 5, generator=g)
    bad = torch.rand(n, generator=g) < 0.5
    shown = torch.where(bad, (y + 1) % 5, y)
    zb = 4.0 * F.one_hot(shown, 5).float() + 0.5 * torch.randn(n, 5, generator=g)
    feats = {"a": torch.randn(n, 3, generator=g), "b": torch.randn(n, 3, generator=g)}
    quality = {"b": bad.float()[:, None] + 0.2 * torch.randn(n, 1, generator=g)}
    return feats, {"a": za, "b": zb}, quality, y, bad


def _train(fusion, feats, logits, quality, y):
    opt = torch.optim.Adam(fusion.parameters(), lr=1e-2)
    for _ in range(150):
        loss = F.nll_loss(fusion(feats, logits, quality=quality), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return fusion


def test_gate_learns_from_the_quality_input_alone():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    feats, logits, quality, y, _ = _task(2000, g)
    with_q = _train(GatedExpertFusion({"a": 3, "b": 3}, 5, hidden=16, quality_features={"b": 1}),
                    feats, logits, quality, y)
    without = _train(GatedExpertFusion({"a": 3, "b": 3}, 5, hidden=16), feats, logits, None, y)
    tf, tl, tq, ty, tbad = _task(2000, g)
    with torch.no_grad():
        acc_q = float((with_q(tf, tl, quality=tq).argmax(1) == ty).float().mean())
        acc_no = float((without(tf, tl).argmax(1) == ty).float().mean())
        gates = with_q.gates(tf, tl, quality=tq)
    acc_a = float((tl["a"].argmax(1) == ty).float().mean())
    assert acc_q > max(acc_no, acc_a) + 0.1, (acc_q, acc_no, acc_a)
    assert float(gates[tbad, 1].mean()) < 0.2 < float(gates[~tbad, 1].mean())


def test_per_modality_gates_recover_a_per_sample_temperature():
    """Expert b's logits are the true ones scaled by 1/T with T in {0.6, 1.8} per sample (labels drawn from the
    true softmax); only b's quality input says which. The per-modality gate of b, trained on b's own NLL,
    is b's inverse temperature: g_b -> T. Its gate ignores a's inputs exactly."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    n = 4000
    true = 2.0 * torch.randn(n, 4, generator=g)
    y = torch.multinomial(F.softmax(true, 1), 1, generator=g)[:, 0]
    temp = torch.where(torch.rand(n, generator=g) < 0.5, torch.tensor(0.6), torch.tensor(1.8))
    feats = {"a": torch.randn(n, 2, generator=g), "b": torch.randn(n, 2, generator=g)}
    logits = {"a": torch.randn(n, 4, generator=g), "b": true / temp[:, None]}
    quality = {"b": torch.log(temp)[:, None]}
    fusion = GatedExpertFusion({"a": 2, "b": 2}, 4, hidden=8, quality_features={"b": 1}, per_modality=True)
    opt = torch.optim.Adam(fusion.parameters(), lr=2e-2)
    for _ in range(200):
        loss = F.nll_loss(fusion.expert_log_probs(feats, logits, quality=quality)["b"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        gates = fusion.gates(feats, logits, quality=quality)
        for t in (0.6, 1.8):
            assert float(gates[temp == t, 1].median()) == pytest.approx(t, rel=0.1)
        lp = fusion.expert_log_probs(feats, logits, quality=quality)["b"]
        torch.testing.assert_close(lp, F.log_softmax(gates[:, 1:] * F.log_softmax(logits["b"], 1), 1))
        other = {"a": 10 * torch.randn(n, 4, generator=g), "b": logits["b"]}
        torch.testing.assert_close(fusion.gates(feats, other, quality=quality)[:, 1], gates[:, 1])


def test_a_gate_without_a_modalitys_features_ignores_them():
    torch.manual_seed(0)
    fusion = GatedExpertFusion({"a": 0, "b": 2}, 3, hidden=4)
    torch.nn.init.normal_(fusion.gate[-1].weight)  # a non-trivial gate
    z = {"a": torch.randn(6, 3), "b": torch.randn(6, 3)}
    hb = torch.randn(6, 2)
    out = fusion({"b": hb}, z)
    torch.testing.assert_close(fusion({"a": 100 * torch.randn(6, 5), "b": hb}, z), out)  # a's features unused
    assert not torch.allclose(fusion({"b": hb + 1.0}, z), out)  # b's are used
    with pytest.raises(ModalityError, match="'b'"):
        fusion({}, z)
    with pytest.raises(ConfigError, match="in_features"):
        GatedExpertFusion({"a": -1, "b": 2}, 3)
