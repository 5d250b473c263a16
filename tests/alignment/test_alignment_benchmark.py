"""The alignment benchmark's readers, warps and protocol, on tiny files in the
real formats (no network): BasicMotions ``.ts`` and Daphnet CSV."""

import zipfile

import numpy as np
import pytest
import torch

from polymodal.alignment import CTW, alignment_error, dtw
from polymodal.benchmarks.alignment import (
    METHODS,
    align_problem,
    load_basic_motions,
    load_daphnet,
    make_problem,
    plot_errors,
    plot_example,
    random_time_warp,
    read_ts,
    run_alignment_benchmark,
    summary_table,
    true_path_from_warp,
)
from polymodal.errors import DatasetError

T = 40


def _cases(seed, n=4):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 4 * np.pi, T)
    X = np.stack([np.stack([np.sin((1 + c + k / 3) * t + rng.uniform(0, 6)) for k in range(6)]) for c in range(n)])
    labels = ["Standing", "Walking", "Running", "Badminton"][:n]
    return np.round(X, 6), labels


def _ts_text(X, labels):
    head = ("#A tiny file in the BasicMotions layout.\n#Second comment line\n@problemName BasicMotions\n"
            "@timeStamps false\n@missing false\n@univariate false\n@dimensions 6\n@equalLength true\n"
            f"@seriesLength {T}\n@classLabel true Standing Running Walking Badminton\n@data\n")
    rows = [":".join(",".join(f"{v:.6f}" for v in ch) for ch in case) + f":{lab}" for case, lab in zip(X, labels)]
    return head + "\n".join(rows) + "\n"


@pytest.fixture
def bm_folder(tmp_path):
    d = tmp_path / "BasicMotions"
    d.mkdir()
    parts = {"TRAIN": _cases(0), "TEST": _cases(1)}
    for split, (X, lab) in parts.items():
        (d / f"BasicMotions_{split}.ts").write_text(_ts_text(X, lab))
    return d, parts


def _daphnet_csv(n=500):
    rng = np.random.default_rng(3)
    t = np.arange(n) / 64
    cols = ["ankle_horiz_fwd", "ankle_vert", "ankle_horiz_lateral", "leg_horiz_fwd", "leg_vert",
            "leg_horiz_lateral", "trunk_horiz_fwd", "trunk_vert", "trunk_horiz_lateral"]
    data = np.rint(np.stack([300 * np.sin(2 * np.pi * (1 + k / 5) * t) + 10 * rng.normal(size=n)
                             for k in range(9)], 1)).astype(int)
    lines = ["timestamp," + ",".join(cols) + ",is_anomaly"]
    lines += [f"1970-01-01 00:04:40.{i:03d}," + ",".join(map(str, r)) + ",0" for i, r in enumerate(data)]
    return "\n".join(lines) + "\n", data, cols


def test_read_ts_round_trip(bm_folder):
    d, parts = bm_folder
    X, y = read_ts((d / "BasicMotions_TRAIN.ts").read_text())
    assert X.shape == (4, 6, T)
    np.testing.assert_array_equal(X, parts["TRAIN"][0])
    assert y.tolist() == parts["TRAIN"][1]
    with pytest.raises(DatasetError, match="line 3"):
        read_ts("@data\n1,2:a\n1,x:b\n")
    with pytest.raises(DatasetError, match="equal-length"):
        read_ts("@data\n1,2:a\n1,2,3:b\n")


def test_load_basic_motions_folder_wheel_env(bm_folder, tmp_path, monkeypatch):
    d, parts = bm_folder
    X, y = load_basic_motions(d)
    np.testing.assert_array_equal(X, np.concatenate([parts["TRAIN"][0], parts["TEST"][0]]))
    assert len(y) == 8
    whl = tmp_path / "aeon-0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for split in ("TRAIN", "TEST"):
            z.write(d / f"BasicMotions_{split}.ts", f"aeon/datasets/data/BasicMotions/BasicMotions_{split}.ts")
    np.testing.assert_array_equal(load_basic_motions(whl)[0], X)
    monkeypatch.setenv("POLYMODAL_BASICMOTIONS", str(d))
    np.testing.assert_array_equal(load_basic_motions()[0], X)
    with pytest.raises(DatasetError, match="no such file"):
        load_basic_motions(tmp_path / "missing")
    monkeypatch.delenv("POLYMODAL_BASICMOTIONS")
    with pytest.raises(DatasetError, match="POLYMODAL_BASICMOTIONS"):
        load_basic_motions()


def test_load_daphnet_csv_folder_wheel(tmp_path):
    text, data, cols = _daphnet_csv()
    (tmp_path / "S06R02E0.csv").write_text(text)
    got, names = load_daphnet(tmp_path / "S06R02E0.csv")
    np.testing.assert_array_equal(got, data)
    assert names == cols
    np.testing.assert_array_equal(load_daphnet(tmp_path)[0], data)
    whl = tmp_path / "w.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv", text)
    np.testing.assert_array_equal(load_daphnet(whl)[0], data)


@pytest.mark.parametrize("m,n,strength", [(50, 40, 0.7), (30, 60, 0.3), (80, 80, 0.9)])
def test_random_time_warp_is_monotone_with_bounded_speed(m, n, strength):
    t = random_time_warp(m, n, np.random.default_rng(m), strength)
    assert t[0] == 0 and t[-1] == pytest.approx(n - 1)
    speed = np.diff(t) * (m - 1) / (n - 1)  # finite differences of w on [0, 1]
    assert speed.min() >= 1 - strength - 1e-2 and speed.max() <= 1 + strength + 1e-2


def test_true_path_identity_and_dtw_on_exact_warp():
    n = 60
    t0 = random_time_warp(n, n, np.random.default_rng(0), 0.0)
    assert np.array_equal(true_path_from_warp(t0, n), np.stack([np.arange(n)] * 2, 1))
    # a strictly increasing signal resampled at the warp: DTW must find the true warp (to rounding)
    x = np.linspace(0, 1, n) ** 1.5
    t = random_time_warp(70, n, np.random.default_rng(1), 0.6)
    y = np.interp(t, np.arange(n), x)
    truth = true_path_from_warp(t, n)
    assert truth[:, 1].min() == 0 and truth[:, 1].max() == 69 and (np.diff(truth[:, 1]) >= 0).all()
    assert alignment_error(dtw(x, y, return_path=True).path, truth) < 1.0


def test_make_problem_ctw_recovers_linear_map_dtw_does_not():
    """Same signal, rotated and padded with noise: CTW's premise (linear map +
    warp) holds, so it must beat raw-feature DTW by a wide margin."""
    t = np.linspace(0, 4 * np.pi, 80)
    sig = np.stack([np.sin(t), np.cos(1.5 * t), np.sin(0.5 * t)], 1)
    prob = make_problem(sig, [sig], np.random.default_rng(2), noise_dims=2, noise=0.3)
    x, y = prob.sequences
    assert x.shape == (80, 5) and y.shape[1] == 5 and len(prob.true_paths[0]) == 80
    e_ctw = alignment_error(CTW().fit(x, y).path_, prob.true_paths[0])
    e_dtw = alignment_error(dtw(x, y, return_path=True).path, prob.true_paths[0])
    assert e_ctw < 1.0 and e_ctw < 0.3 * e_dtw


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_align_problem_errors_are_alignment_errors(one_thread):
    t = np.linspace(0, 3 * np.pi, 40)
    sig = np.stack([np.sin(t), np.cos(2 * t)], 1)
    prob = make_problem(sig, [sig, sig], np.random.default_rng(4), noise=0.2)
    res = align_problem(prob, list(METHODS))
    assert set(res) == set(METHODS)
    for r in res.values():
        assert len(r["paths"]) == 2
        want = np.mean([alignment_error(p, q, 40) for p, q in zip(r["paths"], prob.true_paths)])
        assert r["error"] == pytest.approx(want)
    direct = dtw(prob.sequences[0], prob.sequences[2], return_path=True).path
    assert np.array_equal(res["DTW (raw features)"]["paths"][1], direct)


def test_run_benchmark_on_tiny_files(bm_folder, tmp_path):
    d, _ = bm_folder
    text, _, _ = _daphnet_csv()
    (tmp_path / "S06R02E0.csv").write_text(text)
    methods = ["DTW (raw features)", "CTW", "GCTW"]
    rec = run_alignment_benchmark(load_basic_motions(d), load_daphnet(tmp_path), seeds=(0, 1), per_seed=2,
                                  methods=methods, log=None)
    settings = {r["setting"] for r in rec.rows}
    assert len(settings) == 4 and all(r["method"] in methods for r in rec.rows)
    assert not any("(Standing)" in r["problem"] for r in rec.rows)  # no motion, nothing to align
    table = summary_table(rec.rows)
    ticks = [t.get_text() for t in plot_errors(rec.rows).axes[0].get_xticklabels()]
    for s in settings:
        assert s in table and s.replace(" (", "\n(") in ticks
    per_seed = [np.mean([r["error"] for r in rec.rows if r["method"] == "DTW (raw features)" and r["seed"] == k
                         and r["setting"] == "BasicMotions acc -> gyro"]) for k in (0, 1)]
    assert f"| DTW (raw features) | {np.mean(per_seed):.2f} +- {np.std(per_seed):.2f} | 1.00 |" in table
    fig = plot_errors(rec.rows)
    assert len(fig.axes[0].patches) == len(methods) * len(settings)
    fig2 = plot_example(*rec.example)
    assert len(fig2.axes[0].lines) == 3  # true path + DTW + CTW
