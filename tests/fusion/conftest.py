"""Fixtures shared by the fusion tests."""

import pytest
import torch


def _saved_numels(fn):
    """``fn()`` and the sizes (numel) of the tensors autograd saved for its backward pass."""
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sizes


@pytest.fixture
def saved_numels():
    """The function ``fn -> (fn(), sizes of the tensors saved for backward)``."""
    return _saved_numels
