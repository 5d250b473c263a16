"""benchmarks/av_digits_detection_ceiling.py on a small dump in the format of ``bench_av_digits.py --dump``:
without a detector it is the contaminated PoE the benchmark fits; a simulated detector of large separation
closes the foreign row, one of separation 0 does not help; the AUROC is the simulated one."""

import numpy as np
import pytest
import torch
from benchmark_scripts import benchmark_script

from polymodal.fusion import ContaminatedProductOfExperts


@pytest.fixture(scope="module")
def ceiling():
    with benchmark_script("av_digits_detection_ceiling") as module:
        return module


def _experts(n, foreign, noisy_image, rng):
    """Image logits (weak, weaker when noisy) and audio logits (right and confident on English; on foreign
    speech as confident, in a random class): the expert's confidence cannot tell the two apart."""
    y = rng.integers(0, 10, n)
    img = rng.normal(0, 1, (n, 10))
    img[np.arange(n), y] += 1.2 if noisy_image else 3.0
    aud = rng.normal(0, 1, (n, 10))
    aud[np.arange(n), np.where(foreign, rng.integers(0, 10, n), y)] += 6.0
    return torch.tensor(img, dtype=torch.float32), torch.tensor(aud, dtype=torch.float32), torch.tensor(y)


def _run(seed, n=800):
    rng = np.random.default_rng(seed)
    fit_img, fit_aud, fit_y, fit_f, fit_w = [], [], [], [], []
    for foreign in (False, True):
        for noisy in (False, True):
            i, a, y = _experts(n, np.full(n, foreign), noisy, rng)
            fit_img.append(i), fit_aud.append(a), fit_y.append(y)
            fit_f.append(torch.full((n,), foreign)), fit_w.append(torch.full((n,), 1.0 / n))
    grid = {}
    for audio in ("clean", "other language", "missing"):
        for image in ("clean", "noisy"):
            i, a, y = _experts(n, np.full(n, audio == "other language"), image == "noisy", rng)
            grid[f"{audio} | {image}"] = {"image": i, "audio": a, "target": y,
                                          "image present": torch.ones(n, dtype=torch.bool),
                                          "audio present": torch.full((n,), audio != "missing"),
                                          "foreign": torch.full((n,), audio == "other language")}
    return {"temperatures": {"image": 1.0, "audio": 1.0}, "grid": grid, "validation grid": {},
            "contamination fit": {"logits": {"image": torch.cat(fit_img), "audio": torch.cat(fit_aud)},
                                  "target": torch.cat(fit_y), "weight": torch.cat(fit_w), "foreign": torch.cat(fit_f)}}


def test_no_detector_is_the_benchmarks_contaminated_poe(ceiling):
    run = _run(0)
    margins, _ = ceiling.replay_seed(run, None, 0)
    fit = run["contamination fit"]
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"])
    pe.fit_contamination(fit["logits"], fit["target"], sample_weight=fit["weight"])
    c = run["grid"]["other language | noisy"]
    fused = pe({"image": c["image"], "audio": c["audio"]})
    best = max(ceiling.accuracy(c["image"], c["target"]), ceiling.accuracy(c["audio"], c["target"]))
    assert margins["other language | noisy"] == pytest.approx(ceiling.accuracy(fused, c["target"]) - best)
    assert margins["missing | clean"] == pytest.approx(0.0)  # the image alone where the audio is missing


def test_a_strong_simulated_detector_closes_the_foreign_row_and_a_blind_one_does_not(ceiling):
    run = _run(1)
    none, auroc_none = ceiling.replay_seed(run, None, 0)
    blind, auroc_blind = ceiling.replay_seed(run, 0.0, 0)
    strong, auroc_strong = ceiling.replay_seed(run, 6.0, 0)
    assert min(none.values()) < -0.03 and min(blind.values()) < -0.03  # confidence cannot tell foreign apart
    assert min(strong.values()) > -0.01
    assert abs(auroc_blind - 0.5) < 0.05 and auroc_strong > 0.99 and abs(auroc_none - 0.5) < 0.1


def test_main_prints_one_row_per_detector_and_names_a_missing_dump(ceiling, tmp_path, capsys):
    torch.save({0: _run(2, n=200)}, tmp_path / "dump.pt")
    assert ceiling.main([str(tmp_path / "dump.pt"), "--deltas", "6", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "| none (the expert's confidence only) |" in out and "| simulated, delta 6 (AUROC 1.0000) |" in out
    with pytest.raises(SystemExit):
        ceiling.main([str(tmp_path / "absent.pt")])
    assert "run bench_av_digits.py --dump" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ceiling.main([str(tmp_path / "dump.pt"), "--repeats", "0"])
    assert "--repeats must be >= 1, got 0" in capsys.readouterr().err
