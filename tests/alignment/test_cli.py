"""`polymodal align`: results equal the library calls (and dtaidistance for
DTW), files are written, bad input gives one line ``error: ...`` and exit 2."""

import json

import numpy as np
import pytest

from polymodal.alignment import CTW, GCTW, dtw
from polymodal.alignment.cli import align_cli, load_sequence


def _save(tmp_path, name, a):
    f = tmp_path / name
    np.save(f, a)
    return str(f)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2)).cumsum(0)
    y = rng.normal(size=(25, 2)).cumsum(0)
    return x, y, _save(tmp_path, "x.npy", x), _save(tmp_path, "y.npy", y)


def test_dtw_matches_library_and_dtaidistance(pair, tmp_path, capsys):
    from dtaidistance import dtw_ndim

    x, y, fx, fy = pair
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = align_cli([fx, fy, "--method", "dtw", "--plot", str(out_png), "--json", str(out_json)])
    assert rc == 0
    res = json.loads(out_json.read_text())
    ref = dtw(x, y, return_path=True)
    assert res["distance"] == pytest.approx(dtw_ndim.distance(x, y), abs=1e-9)
    assert res["cost"] == pytest.approx(ref.cost, abs=1e-12)
    assert np.array_equal(np.array(res["path"]), ref.path)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert f"{res['distance']:.6g}" in text and f"path length {len(ref.path)}" in text and str(out_png) in text


def test_dtw_window_and_1d_input(tmp_path):
    from tslearn import metrics as tslearn_metrics

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=40), rng.normal(size=40)
    fx, fy = _save(tmp_path, "a.npy", x), _save(tmp_path, "b.npy", y)
    out = tmp_path / "w.json"
    assert align_cli([fx, fy, "--window", "1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    ref = tslearn_metrics.dtw(x[:, None], y[:, None], global_constraint="sakoe_chiba", sakoe_chiba_radius=1)
    assert res["distance"] == pytest.approx(ref, abs=1e-9)
    assert res["distance"] > dtw(x, y).distance  # the band really constrains this pair


def test_ctw_matches_library(tmp_path):
    t = np.linspace(0, 4 * np.pi, 60)
    x = np.stack([np.sin(t), np.cos(t)], 1)
    y = np.stack([np.sin(t[::2]), np.cos(t[::2]), 0.1 * np.ones(30)], 1) @ np.array(
        [[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    fx, fy = _save(tmp_path, "x.npy", x), _save(tmp_path, "y.npy", y)
    out = tmp_path / "c.json"
    assert align_cli([fx, fy, "--method", "ctw", "--json", str(out), "--plot", str(tmp_path / "c.png")]) == 0
    res = json.loads(out.read_text())
    ref = CTW().fit(x, y)
    assert np.array_equal(np.array(res["path"]), ref.path_)
    assert res["n_components"] == ref.n_components_
    assert (tmp_path / "c.png").stat().st_size > 0


def test_gctw_three_files(tmp_path, capsys):
    t = np.linspace(0, 3 * np.pi, 40)
    base = np.stack([np.sin(t), np.cos(2 * t)], 1)
    seqs = [base, base[::2] * [2.0, -1.0], np.repeat(base, 2, axis=0)[:70]]
    files = [_save(tmp_path, f"s{i}.npy", s) for i, s in enumerate(seqs)]
    out = tmp_path / "g.json"
    assert align_cli(files + ["--method", "gctw", "--json", str(out), "--plot", str(tmp_path / "g.png")]) == 0
    res = json.loads(out.read_text())
    ref = GCTW().fit(seqs)
    for i in (1, 2):
        assert np.array_equal(np.array(res["paths"][f"0-{i}"]), ref.pairwise_path(0, i))
    assert "path" in capsys.readouterr().out and (tmp_path / "g.png").stat().st_size > 0


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_file(pair, tmp_path, capsys):
    _, _, fx, _ = pair
    assert align_cli([fx, str(tmp_path / "nope.npy")]) == 2
    assert "nope.npy: no such file" in _err(capsys)


def test_wrong_shape_and_nan(pair, tmp_path, capsys):
    _, _, fx, _ = pair
    f3 = _save(tmp_path, "cube.npy", np.zeros((4, 3, 2)))
    assert align_cli([fx, f3]) == 2
    assert "cube.npy" in (e := _err(capsys)) and "(4, 3, 2)" in e
    bad = np.ones((10, 2))
    bad[7, 1] = np.nan
    fn = _save(tmp_path, "nan.npy", bad)
    assert align_cli([fn, fx, "--method", "ctw"]) == 2
    assert "nan.npy" in (e := _err(capsys)) and "NaN" in e and "[7]" in e


def test_other_bad_input(pair, tmp_path, capsys):
    x, _, fx, fy = pair
    f3 = _save(tmp_path, "three.npy", np.zeros((20, 3)))
    assert align_cli([fx, f3, "--method", "dtw"]) == 2  # DTW needs the same d
    assert "d=2" in (e := _err(capsys)) and "d=3" in e
    assert align_cli([fx, fy, f3, "--method", "ctw"]) == 2
    assert "exactly 2" in _err(capsys)
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert align_cli([fx, str(obj)]) == 2  # pickled content is refused, never executed
    assert "obj.npy" in _err(capsys)
    assert align_cli([fx, fy, "--method", "gctw", "--window", "2"]) == 2
    assert "--window" in _err(capsys)
    assert align_cli([fx, fy, "--plot", str(tmp_path / "no_dir" / "p.png")]) == 2
    assert "no_dir" in _err(capsys)
    assert align_cli([fx, fy, "--method", "soft"]) == 2  # argparse usage error


def test_npz_and_empty_refused(pair, tmp_path, capsys):
    _, _, fx, _ = pair
    npz = tmp_path / "a.npz"
    np.savez(npz, x=np.zeros(3))
    assert align_cli([fx, str(npz)]) == 2
    assert ".npz archive" in _err(capsys)
    empty = _save(tmp_path, "empty.npy", np.zeros((0, 2)))
    assert align_cli([empty, fx]) == 2
    assert "empty.npy" in (e := _err(capsys)) and "(0, 2)" in e


def test_load_sequence_contract(tmp_path):
    a = np.arange(6, dtype=np.int32).reshape(3, 2)
    got = load_sequence(_save(tmp_path, "i.npy", a))
    assert got.dtype == np.float64 and np.array_equal(got, a)


def test_main_cli_delegates(pair, capsys):
    from polymodal.cli import main

    _, _, fx, fy = pair
    assert main(["align", fx, fy]) == 0
    assert "DTW distance" in capsys.readouterr().out
