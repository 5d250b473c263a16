"""polymodal.training."""
