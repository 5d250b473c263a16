"""ContaminatedProductOfExperts: the epsilon-contaminated product of calibrated experts against its closed
form, its two limits (the plain product, the other expert alone), a brute-force maximum-likelihood fit, its
errors, and a task only the contamination solves (a strong expert that is sometimes confidently off
distribution)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.fusion import CalibratedProductOfExperts, ContaminatedProductOfExperts


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _set(pe, temperatures, params):
    for i, m in enumerate(pe.modalities):
        pe.log_temperature[i] = float(np.log(temperatures[m]))
        if m in params:
            pe.contamination_slope[i], pe.contamination_offset[i] = params[m]


def test_matches_the_closed_form_with_a_presence_mask():
    rng = np.random.default_rng(0)
    z = {"image": rng.normal(0, 2, (7, 4)), "audio": rng.normal(0, 3, (7, 4))}
    present = {"audio": torch.tensor([1, 1, 0, 1, 1, 1, 0], dtype=torch.bool)}
    temps, params = {"image": 1.3, "audio": 0.6}, {"audio": (-0.7, 0.4)}
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"])
    _set(pe, temps, params)
    out = pe({m: torch.tensor(v, dtype=torch.float32) for m, v in z.items()}, present).exp().numpy()
    p_img, p_aud = _softmax(z["image"] / temps["image"]), _softmax(z["audio"] / temps["audio"])
    top = p_aud.max(1)
    eps = 1 / (1 + np.exp(-(params["audio"][0] * np.log(top / (1 - top)) + params["audio"][1])))
    lik = (1 - eps[:, None]) * p_aud + eps[:, None] / 4
    lik = np.where(present["audio"].numpy()[:, None], lik, 1.0)
    want = p_img * lik
    np.testing.assert_allclose(out, want / want.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pe.contamination({m: torch.tensor(v, dtype=torch.float32) for m, v in z.items()})
                               ["audio"].numpy(), eps, rtol=1e-5)


def test_initial_contamination_is_the_experts_doubt():
    z = {"a": torch.tensor([[3.0, 0.0, -1.0], [0.1, 0.0, 0.2]]), "b": torch.zeros(2, 3)}
    pe = ContaminatedProductOfExperts(["a", "b"])
    eps = pe.contamination(z)
    torch.testing.assert_close(eps["a"], 1 - F.softmax(z["a"], 1).max(1).values)
    torch.testing.assert_close(eps["b"], torch.full((2,), 2 / 3))


def test_no_contamination_is_the_calibrated_product_and_full_contamination_drops_the_modality():
    torch.manual_seed(0)
    z = {"image": torch.randn(20, 5) * 2, "audio": torch.randn(20, 5) * 4}
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"])
    poe = CalibratedProductOfExperts(["image", "audio"])
    for model in (pe, poe):
        _set(model, {"image": 0.8, "audio": 1.7}, {})
    _set(pe, {"image": 0.8, "audio": 1.7}, {"audio": (0.0, -40.0)})  # eps = 4e-18
    torch.testing.assert_close(pe(z), poe(z), atol=1e-5, rtol=1e-5)
    _set(pe, {"image": 0.8, "audio": 1.7}, {"audio": (0.0, 40.0)})  # eps = 1 - 1e-3 (the cap): nearly nothing
    torch.testing.assert_close(pe(z).exp(), F.softmax(z["image"] / 0.8, 1), atol=2e-3, rtol=0)
    only_image = {"audio": torch.zeros(20, dtype=torch.bool)}
    torch.testing.assert_close(pe(z, only_image), poe(z, only_image))


def _experts(n, foreign_share, rng, strong=8.0, weak=2.5):
    """A reliable weaker expert (image) and a strong one (audio) that, on a ``foreign_share`` of samples,
    answers a random class, less confidently than it answers the true one elsewhere."""
    y = rng.integers(0, 10, n)
    foreign = rng.random(n) < foreign_share
    img = rng.normal(0, 1, (n, 10))
    img[np.arange(n), y] += weak
    aud = rng.normal(0, 1, (n, 10))
    said = np.where(foreign, rng.integers(0, 10, n), y)
    aud[np.arange(n), said] += np.where(foreign, strong * 0.4, strong)
    return {"image": torch.tensor(img, dtype=torch.float32), "audio": torch.tensor(aud, dtype=torch.float32)}, \
        torch.tensor(y), torch.tensor(foreign)


def test_fit_reaches_the_maximum_likelihood_a_grid_search_finds():
    rng = np.random.default_rng(1)
    z, y, _ = _experts(600, 0.3, rng)
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"]).fit(z, y)
    weight = torch.tensor(rng.uniform(0.5, 2.0, len(y)))
    pe.fit_contamination(z, y, sample_weight=weight)
    (a, b), = pe.contamination_parameters.values()
    w = (weight / weight.sum()).double()
    zz = {m: v.double() for m, v in z.items()}

    def nll(slope, offset):
        return -(pe._fused(zz, None, None, torch.stack([torch.zeros((), dtype=torch.float64), slope]),
                           torch.stack([torch.zeros((), dtype=torch.float64), offset]),
                           torch.zeros(2, 0, dtype=torch.float64)).gather(1, y[:, None])[:, 0] * w).sum()

    at = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b)]
    fitted = nll(*at)
    fitted.backward()
    assert max(abs(float(t.grad)) for t in at) < 1e-3  # a stationary point
    grid = min(float(nll(torch.tensor(s_, dtype=torch.float64), torch.tensor(o_, dtype=torch.float64)))
               for s_ in np.linspace(-3, 1, 41) for o_ in np.linspace(-5, 25, 61))
    assert float(fitted.detach()) <= grid + 1e-5  # and no point of a wide grid does better


def test_sample_weight_two_is_the_sample_twice():
    rng = np.random.default_rng(2)
    z, y, _ = _experts(200, 0.3, rng)
    w = torch.ones(len(y))
    w[:50] = 2.0
    twice = {m: torch.cat([v, v[:50]]) for m, v in z.items()}
    a = ContaminatedProductOfExperts(["image", "audio"]).fit(z, y).fit_contamination(z, y, sample_weight=w)
    b = ContaminatedProductOfExperts(["image", "audio"])
    b.log_temperature.copy_(a.log_temperature)
    b.fit_contamination(twice, torch.cat([y, y[:50]]))
    for m in ("image", "audio"):
        np.testing.assert_allclose(a.contamination_parameters[m], b.contamination_parameters[m], atol=1e-3)


def test_a_confidently_off_distribution_expert_no_longer_outvotes_the_reliable_one():
    """The product trusts the strong expert's confident foreign answers; the fitted contamination learns
    that its less confident answers are often outliers, and keeps it where it is right."""
    rng = np.random.default_rng(3)
    held_z, held_y, held_foreign = _experts(2000, 0.5, rng)
    clean = ~held_foreign
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"])
    pe.fit({m: v[clean] for m, v in held_z.items()}, held_y[clean])  # temperatures on in-distribution data
    poe = CalibratedProductOfExperts(["image", "audio"]).fit({m: v[clean] for m, v in held_z.items()},
                                                             held_y[clean])
    pe.fit_contamination(held_z, held_y)
    z, y, foreign = _experts(3000, 0.5, np.random.default_rng(4))

    def acc(log_p, mask):
        return float((log_p.argmax(1) == y)[mask].float().mean())

    image = F.log_softmax(z["image"], 1)
    audio = F.log_softmax(z["audio"], 1)
    image_foreign, audio_clean = acc(image, foreign), acc(audio, ~foreign)
    assert image_foreign < 0.85 and audio_clean > 0.99 and acc(audio, foreign) < 0.15  # each fails a group
    assert acc(poe(z), foreign) < 0.3  # the plain product follows the confident outlier
    assert acc(pe(z), foreign) > image_foreign - 0.02
    assert acc(pe(z), ~foreign) > audio_clean - 0.01
    eps = pe.contamination(z)["audio"]
    assert float(eps[foreign].mean()) > 0.5 > 0.1 > float(eps[~foreign].mean())


def test_state_dict_round_trip():
    rng = np.random.default_rng(5)
    z, y, _ = _experts(300, 0.3, rng)
    pe = ContaminatedProductOfExperts(["image", "audio"]).fit(z, y).fit_contamination(z, y)
    other = ContaminatedProductOfExperts(["image", "audio"])
    other.load_state_dict(pe.state_dict())
    torch.testing.assert_close(other(z), pe(z))
    # a state dict of the class before detector scores (no weights buffer) still loads, strictly
    old = {k: v for k, v in pe.state_dict().items() if k != "contamination_weights"}
    again = ContaminatedProductOfExperts(["image", "audio"])
    again.load_state_dict(old)
    torch.testing.assert_close(again(z), pe(z))
    with pytest.raises(RuntimeError, match="contamination_weights"):  # but one with scores needs its weights
        ContaminatedProductOfExperts(["image", "audio"], detector_scores={"audio": 1}).load_state_dict(old)


def test_errors_name_the_modality_and_the_problem():
    with pytest.raises(ModalityError, match="'video'"):
        ContaminatedProductOfExperts(["image", "audio"], contaminated=["video"])
    with pytest.raises(ConfigError, match="at least one contaminated"):
        ContaminatedProductOfExperts(["image", "audio"], contaminated=[])
    pe = ContaminatedProductOfExperts(["image", "audio"])
    good = {"image": torch.zeros(3, 4), "audio": torch.zeros(3, 4)}
    with pytest.raises(ModalityError, match="'audio'"):
        pe({"image": torch.zeros(3, 4)})
    with pytest.raises(ShapeError, match="'audio'.*do not match"):
        pe({"image": torch.zeros(3, 4), "audio": torch.zeros(3, 5)})
    with pytest.raises(ShapeError, match="'image'.*NaN"):
        pe({"image": torch.full((3, 4), float("nan")), "audio": torch.zeros(3, 4)})
    with pytest.raises(ShapeError, match="'image'.*\\(N, C\\)"):
        pe({"image": torch.zeros(3), "audio": torch.zeros(3, 4)})
    with pytest.raises(ShapeError, match=r"fit_contamination: target must be class indices in \[0, 4\), got 4 "
                                         r"at sample 2"):
        pe.fit_contamination(good, torch.tensor([0, 1, 4]))
    with pytest.raises(ShapeError, match="class indices.*0.5 at sample 1"):
        pe.fit_contamination(good, torch.tensor([0.0, 0.5, 2.0]))
    with pytest.raises(ShapeError, match="target \\(N,\\)"):
        pe.fit_contamination(good, torch.tensor([0, 1]))
    # the rule of fit (fit_temperature): integral floats are class indices
    a = ContaminatedProductOfExperts(["image", "audio"]).fit_contamination(good, torch.tensor([0.0, 1.0, 2.0]))
    b = ContaminatedProductOfExperts(["image", "audio"]).fit_contamination(good, torch.tensor([0, 1, 2]))
    assert a.contamination_parameters == b.contamination_parameters
    with pytest.raises(ShapeError, match="sample_weight"):
        pe.fit_contamination(good, torch.tensor([0, 1, 2]), sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ShapeError, match="sample_weight"):
        pe.fit_contamination(good, torch.tensor([0, 1, 2]), sample_weight=[1.0, 1.0])


def _foreign_as_confident(n, rng):
    """As :func:`_experts`, but the strong expert answers foreign samples exactly as confidently as the
    others, so its confidence tells nothing; a detector score ``d`` (foreign ~ N(5, 1), others ~ N(0, 1))
    does."""
    y = rng.integers(0, 10, n)
    foreign = rng.random(n) < 0.5
    img = rng.normal(0, 1, (n, 10))
    img[np.arange(n), y] += 2.5
    aud = rng.normal(0, 1, (n, 10))
    aud[np.arange(n), np.where(foreign, rng.integers(0, 10, n), y)] += 6.0
    d = rng.normal(0, 1, (n, 1)) + 5.0 * foreign[:, None]
    return {"image": torch.tensor(img, dtype=torch.float32), "audio": torch.tensor(aud, dtype=torch.float32)}, \
        torch.tensor(y), torch.tensor(foreign), {"audio": torch.tensor(d, dtype=torch.float32)}


def test_detector_scores_enter_the_closed_form():
    rng = np.random.default_rng(6)
    z = {"image": rng.normal(0, 2, (9, 3)), "audio": rng.normal(0, 3, (9, 3))}
    d = rng.normal(0, 1, (9, 2))
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"], detector_scores={"audio": 2})
    _set(pe, {"image": 0.9, "audio": 1.4}, {"audio": (-0.5, 0.3)})
    pe.contamination_weights[1] = torch.tensor([0.8, -1.2])
    zt = {m: torch.tensor(v, dtype=torch.float32) for m, v in z.items()}
    out = pe(zt, scores={"audio": torch.tensor(d, dtype=torch.float32)}).exp().numpy()
    p_img, p_aud = _softmax(z["image"] / 0.9), _softmax(z["audio"] / 1.4)
    top = p_aud.max(1)
    eps = 1 / (1 + np.exp(-(-0.5 * np.log(top / (1 - top)) + 0.3 + d @ np.array([0.8, -1.2]))))
    want = p_img * ((1 - eps[:, None]) * p_aud + eps[:, None] / 3)
    np.testing.assert_allclose(out, want / want.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert pe.contamination_parameters["audio"] == pytest.approx((-0.5, 0.3, 0.8, -1.2))


def test_a_detector_score_solves_what_confidence_cannot():
    """Foreign answers as confident as the right ones: the confidence-only contamination must give up one
    group; with the detector's score the fitted eps follows the detector and both groups keep their best
    expert's accuracy. The fit is a stationary point in (a, b, w)."""
    held_z, held_y, _, held_d = _foreign_as_confident(3000, np.random.default_rng(7))
    z, y, foreign, d = _foreign_as_confident(3000, np.random.default_rng(8))
    plain = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"])
    plain.fit_contamination(held_z, held_y)
    scored = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"], detector_scores={"audio": 1})
    scored.fit_contamination(held_z, held_y, scores=held_d)

    def acc(log_p, mask):
        return float((log_p.argmax(1) == y)[mask].float().mean())

    image_foreign, audio_clean = acc(F.log_softmax(z["image"], 1), foreign), acc(F.log_softmax(z["audio"], 1), ~foreign)
    worst_plain = min(acc(plain(z), foreign) - image_foreign, acc(plain(z), ~foreign) - audio_clean)
    fused = scored(z, scores=d)
    assert worst_plain < -0.03
    assert acc(fused, foreign) > image_foreign - 0.03 and acc(fused, ~foreign) > audio_clean - 0.01
    a, b, w = scored.contamination_parameters["audio"]
    assert w > 1.0  # the detector, not the confidence, drives eps
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b, w)]
    zz, dd = {m: v.double() for m, v in held_z.items()}, {"audio": held_d["audio"].double()}
    zero = torch.zeros((), dtype=torch.float64)
    nll = -scored._fused(zz, None, dd, torch.stack([zero, params[0]]), torch.stack([zero, params[1]]),
                         torch.stack([zero, params[2]])[:, None]).gather(1, held_y[:, None]).mean()
    nll.backward()
    assert max(abs(float(p.grad)) for p in params) < 1e-3


def test_detector_scores_state_dict_and_errors():
    z, y, _, d = _foreign_as_confident(200, np.random.default_rng(9))
    pe = ContaminatedProductOfExperts(["image", "audio"], detector_scores={"audio": 1})
    pe.fit(z, y).fit_contamination(z, y, scores=d)
    other = ContaminatedProductOfExperts(["image", "audio"], detector_scores={"audio": 1})
    other.load_state_dict(pe.state_dict())
    torch.testing.assert_close(other(z, scores=d), pe(z, scores=d))
    with pytest.raises(ModalityError, match="'audio': no detector scores"):
        pe(z)
    with pytest.raises(ShapeError, match="'audio': detector scores must be a tensor \\(200, 1\\)"):
        pe(z, scores={"audio": torch.zeros(200, 2)})
    with pytest.raises(ShapeError, match="'audio': detector scores hold NaN"):
        pe.contamination(z, scores={"audio": torch.full((200, 1), float("nan"))})
    with pytest.raises(ModalityError, match="'image', which was built without"):
        pe(z, scores={"audio": d["audio"], "image": d["audio"]})
    with pytest.raises(ModalityError, match="'image', which is not a contaminated"):
        ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"], detector_scores={"image": 1})
    with pytest.raises(ConfigError, match="number of scores >= 1"):
        ContaminatedProductOfExperts(["image", "audio"], detector_scores={"audio": 0})


def test_a_likely_outlier_alone_still_ranks_the_classes():
    """eps is capped at MAX_CONTAMINATION: where the contaminated expert is the only modality present, its
    ranking survives float32 however sure the detector is (uncapped, every class would tie)."""
    from polymodal.fusion.robust import MAX_CONTAMINATION
    z = {"image": torch.zeros(2, 4), "audio": torch.tensor([[0.0, 3.0, 1.0, 0.5], [2.0, 0.0, 0.1, 0.2]])}
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"], detector_scores={"audio": 1})
    pe.contamination_weights[1, 0] = 50.0
    scores = {"audio": torch.full((2, 1), 10.0)}  # u = 500: eps would round to 1
    only_audio = {"image": torch.zeros(2, dtype=torch.bool)}
    assert pe(z, only_audio, scores=scores).argmax(1).tolist() == [1, 0]
    torch.testing.assert_close(pe.contamination(z, scores=scores)["audio"], torch.full((2,), MAX_CONTAMINATION))
    p = F.softmax(z["audio"], 1)
    want = (1 - MAX_CONTAMINATION) * p + MAX_CONTAMINATION / 4
    torch.testing.assert_close(pe(z, only_audio, scores=scores).exp(), want / want.sum(1, keepdim=True))
