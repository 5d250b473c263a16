"""benchmarks/bench_whisper_window.py: its failures are one error line naming the way out (the run itself is the
study: Whisper's window on validation words; its AUROC is bench_av_digits.detection_auroc, scikit-learn's)."""

import pytest
from benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_whisper_window") as module:
        return module


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
