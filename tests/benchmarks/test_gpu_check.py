"""benchmarks/gpu_check.py and bench_mosei_scale.py run on CPU in tiny mode:
every row passes its own check (soft-DTW's GPU wavefront code equals the CPU
kernel, the torch CCA equals the numpy CCA), a failing row is reported rather
than fatal, and without CUDA the default run is a clean skip."""

import pytest
import torch
from benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def gpu_check():
    with benchmark_script("gpu_check") as module:
        yield module


def _table(out):
    return [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| check")]


def test_quick_cpu_run_passes_every_row(gpu_check, capsys):
    assert gpu_check.main(["--device", "cpu", "--quick"]) == 0
    rows = _table(capsys.readouterr().out)
    assert len(rows) == 7 and all(row.rstrip(" |").endswith("ok") for row in rows), rows
    soft_dtw = next(r for r in rows if r.startswith("| soft-DTW"))
    assert "OK vs CPU" in soft_dtw
    assert "OK: sum corr" in next(r for r in rows if r.startswith("| CCA"))


def test_a_failing_row_is_reported_not_fatal(gpu_check, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(gpu_check, "check_cca", broken)
    monkeypatch.setitem(gpu_check.QUICK, "mosei", [])
    assert gpu_check.main(["--device", "cpu", "--quick"]) == 1
    rows = _table(capsys.readouterr().out)
    assert rows[-1].startswith("| CCA") and "planted failure" in rows[-1] and rows[-1].endswith("FAIL |")
    assert rows[0].startswith("| soft-DTW") and rows[0].endswith("ok |")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message printed without CUDA")
def test_without_cuda_the_default_run_skips_cleanly(gpu_check, capsys):
    assert gpu_check.main([]) == 0
    assert capsys.readouterr().out.startswith("SKIP gpu_check: no CUDA device")
