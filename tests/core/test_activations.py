"""The one activation table: module and function forms agree; names are checked."""

import pytest
import torch

from polymodal.core.activations import ACTIVATIONS, activation_function, activation_module
from polymodal.errors import ConfigError


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_function_equals_module(name):
    x = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(activation_function(name)(x), activation_module(name)(x), rtol=0, atol=0)


def test_reference_values_and_errors():
    x = torch.tensor([-1.0, 0.5])
    torch.testing.assert_close(activation_function("sigmoid")(x), 1 / (1 + torch.exp(-x)))
    assert isinstance(activation_module(None), torch.nn.Identity)
    with pytest.raises(ConfigError, match=r"output must be one of \['linear', 'sigmoid'\], got 'tanh'"):
        activation_function("tanh", allowed=("linear", "sigmoid"), where="output")
    with pytest.raises(ConfigError, match="activation must be one of"):
        activation_module("swish")
