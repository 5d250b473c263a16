"""polymodal.encoders."""
