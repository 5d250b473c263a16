"""benchmarks/bench_epoch_breakdown.py: one run's per-epoch parts, nested inside its epochs, and the
fast loop's own functions restored afterwards."""

from benchmark_scripts import benchmark_script


def test_breakdown_parts_lie_inside_the_epoch_and_the_loop_is_restored():
    with benchmark_script("bench_epoch_breakdown") as bench:
        from polymodal.training import fast_loop

        before = {name: getattr(fast_loop, name) for name in bench.PARTS}
        row = bench.breakdown("concat2", 0, 0.0)
        assert {name: getattr(fast_loop, name) for name in bench.PARTS} == before
        parts = [row[label] for label in bench.PARTS.values()]
        assert row["epochs"] >= 9  # MultiBench's rule: 8 epochs' patience after the best
        assert all(p >= 0 for p in parts) and row["forward+loss"] > 0 and row["write+fsync"] > 0
        assert sum(parts) < row["epoch"] * 1.02  # every part is inside an epoch (config.yaml's write aside)
