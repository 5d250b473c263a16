"""polymodal.colearning."""
