"""benchmarks/bench_whisper_digits.py: its failures are one error line naming the way out (the run itself is
the benchmark: ours against faster-whisper's transcribe on the Tux Paint words)."""

import pytest
from benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_whisper_digits") as module:
        return module


def test_errors_name_what_is_missing(bench, tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--tux", str(tmp_path / "absent")])
    assert exit_.value.code == 2 and "tuxpaint-stamps-default" in capsys.readouterr().err
    monkeypatch.setenv("POLYMODAL_WHISPER_DIR", str(tmp_path))  # an empty folder: no model
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--tux", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and ("model.bin" in err or "polymodal[asr]" in err)
