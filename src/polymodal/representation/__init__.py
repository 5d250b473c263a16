"""polymodal.representation."""
