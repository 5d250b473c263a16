"""polymodal.alignment."""
