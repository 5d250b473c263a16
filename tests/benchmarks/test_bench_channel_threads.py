"""benchmarks/bench_channel_threads.py: threaded and serial rendering agree, and the script says so."""

import pytest
from benchmark_scripts import benchmark_script


def test_threaded_and_serial_channels_agree(capsys):
    with benchmark_script("bench_channel_threads") as bench:
        assert bench.main(["--n", "6", "--jobs", "2"]) == 0
        assert "identical output: True" in capsys.readouterr().out
        with pytest.raises(SystemExit):
            bench.main(["--n", "0"])
        assert "--n must be >= 1, got 0" in capsys.readouterr().err
