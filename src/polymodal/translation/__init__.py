"""polymodal.translation."""
