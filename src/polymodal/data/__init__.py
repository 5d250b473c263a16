"""polymodal.data."""
