"""Unimodal encoders (registered by name for configs)."""

from polymodal.encoders.mlp import ACTIVATIONS, MLP, Identity

__all__ = ["ACTIVATIONS", "Identity", "MLP"]
