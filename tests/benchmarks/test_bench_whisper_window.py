"""benchmarks/bench_whisper_window.py: its AUROC against scikit-learn's and its failures as one error line naming
the way out (the run itself is the study: Whisper's window on validation words)."""

import numpy as np
import pytest
from benchmark_scripts import benchmark_script
from sklearn.metrics import roc_auc_score


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_whisper_window") as module:
        return module


def test_auroc_is_scikit_learns_with_ties(bench):
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(-1, 4, 30).astype(float)  # many ties
    expected = roc_auc_score(np.r_[np.ones(40), np.zeros(30)], np.r_[pos, neg])
    assert bench.auroc(pos, neg) == pytest.approx(expected, abs=1e-12)
    assert bench.auroc(np.array([2.0]), np.array([1.0])) == 1.0 and bench.auroc(np.array([1.0]), np.array([1.0])) == 0.5


def test_errors_name_what_is_missing(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--data", str(tmp_path / "absent")])
    assert exit_.value.code == 2 and "polymodal datasets build av-digits" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--data", str(tmp_path), "--fsdd", str(tmp_path / "no-fsdd")])
    assert exit_.value.code == 2 and "download_fsdd" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--data", str(tmp_path), "--fsdd", str(tmp_path), "--windows", "0.5"])
    err = capsys.readouterr().err  # the window is refused (or, without faster-whisper, the extra is named)
    assert exit_.value.code == 2 and ("window_s" in err or "polymodal[asr]" in err)
