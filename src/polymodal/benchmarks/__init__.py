"""polymodal.benchmarks."""
