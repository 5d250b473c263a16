"""polymodal.metrics."""
