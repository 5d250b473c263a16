"""polymodal.fusion."""
