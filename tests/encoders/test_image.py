"""Image encoders: smooth max pooling limits and closed form, LeNet/ResNet references, shape errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.encoders.image import LeNet, ResidualBlock, ResNetCNN, SmoothMaxPool2d, smooth_max_pool2d
from polymodal.errors import ConfigError, ShapeError


def test_smooth_pool_alpha_zero_is_mean_pooling():
    x = torch.randn(3, 4, 9, 10, dtype=torch.float64)
    torch.testing.assert_close(smooth_max_pool2d(x, 2, alpha=0.0), F.avg_pool2d(x, 2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(smooth_max_pool2d(x, 3, stride=2, alpha=0.0), F.avg_pool2d(x, 3, stride=2))


@pytest.mark.parametrize("alpha,tol", [(1e2, 0.05), (1e4, 5e-4)])
def test_smooth_pool_tends_to_max_pooling(alpha, tol):
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    err = (smooth_max_pool2d(x, 2, alpha=alpha) - F.max_pool2d(x, 2)).abs().max()
    assert err < tol
    # monotone in alpha towards the max (the softmax mean never exceeds the max)
    assert torch.all(smooth_max_pool2d(x, 2, alpha=alpha) <= F.max_pool2d(x, 2) + 1e-12)


def test_smooth_pool_closed_form_and_min_limit():
    a, b, alpha = 0.3, -1.2, 2.5
    x = torch.tensor([[[[a, b]]]], dtype=torch.float64)
    expected = (a * np.exp(alpha * a) + b * np.exp(alpha * b)) / (np.exp(alpha * a) + np.exp(alpha * b))
    assert float(smooth_max_pool2d(x, (1, 2), alpha=alpha)) == pytest.approx(expected, rel=1e-12)
    y = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(smooth_max_pool2d(y, 2, alpha=-1e4), -F.max_pool2d(-y, 2), atol=1e-3, rtol=0)


def test_smooth_pool_gradcheck_and_learnable_alpha():
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a: smooth_max_pool2d(x, 2, alpha=a), (x, alpha))
    layer = SmoothMaxPool2d(2, alpha=1.0, learn_alpha=True)
    layer(torch.randn(2, 1, 4, 4)).sum().backward()
    assert layer.alpha.grad is not None and isinstance(layer.alpha, torch.nn.Parameter)


def test_lenet_matches_functional_composition():
    torch.manual_seed(0)
    net = LeNet(784, hidden=(20,), out_features=10).double().eval()
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    c1, c2 = net.features[0], net.features[3]
    h = F.max_pool2d(F.relu(F.conv2d(x, c1.weight, c1.bias, padding=2)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, c2.weight, c2.bias, padding=2)), 2).flatten(1)
    l1, l2 = net.classifier[0], net.classifier[2]
    expected = F.linear(F.relu(F.linear(h, l1.weight, l1.bias)), l2.weight, l2.bias)
    torch.testing.assert_close(net(x), expected)
    # flat, (N, H, W) and (N, C, H, W) inputs give the same output
    torch.testing.assert_close(net(x.reshape(4, 784)), expected)
    torch.testing.assert_close(net(x[:, 0]), expected)


def test_lenet_smooth_pool_alpha_zero_equals_avg_pool():
    torch.manual_seed(1)
    smooth = LeNet(240, image_size=(15, 16), pool="smooth", alpha=0.0).double()
    avg = LeNet(240, image_size=(15, 16), pool="avg").double()
    avg.load_state_dict({k: v for k, v in smooth.state_dict().items() if "alpha" not in k})
    x = torch.randn(3, 240, dtype=torch.float64)
    torch.testing.assert_close(smooth(x), avg(x))


def test_residual_block_identity_when_residual_branch_is_zero():
    block = ResidualBlock(4, 4).double().eval()
    torch.nn.init.zeros_(block.bn2.weight)  # F(x) = 0 -> y = relu(x)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(block(x), F.relu(x))
    down = ResidualBlock(4, 8, stride=2).double().eval()
    torch.nn.init.zeros_(down.bn2.weight)
    conv, bn = down.shortcut
    expected = F.relu(bn(F.conv2d(x, conv.weight, stride=2)))
    torch.testing.assert_close(down(x), expected)


def test_resnet_translation_invariance_of_global_pool_and_gradcheck():
    torch.manual_seed(2)
    net = ResNetCNN(16 * 16, widths=(3,), out_features=2).double().eval()
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    x[0, 0, 6:8, 5:8] = 1.0  # receptive radius 3: the support never reaches the zero-padded border
    shifted = torch.roll(x, shifts=(2, -1), dims=(2, 3))  # one stage, stride 1: convs are equivariant
    torch.testing.assert_close(net(x), net(shifted))
    tiny = ResNetCNN(36, widths=(2,), out_features=2).double().eval()
    small = torch.randn(2, 36, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tiny, (small,))


def test_wrong_image_size_errors():
    net = LeNet(784)
    with pytest.raises(ShapeError, match=r"expects images of shape \(N, 1, 28, 28\).*got \(2, 1, 32, 32\)"):
        net(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ShapeError, match=r"got \(2, 100\)"):
        ResNetCNN(784)(torch.zeros(2, 100))
    with pytest.raises(ConfigError, match="in_features=240 is not in_channels=1 x a square image"):
        LeNet(240)
    with pytest.raises(ConfigError, match="pool must be one of"):
        LeNet(784, pool="median")
    with pytest.raises(ShapeError, match="smaller than kernel_size"):
        smooth_max_pool2d(torch.zeros(1, 1, 1, 1), 2)


@pytest.mark.slow
def test_lenet_trains_on_mfeat_pixels(tmp_path):
    """Integration with the engine: LeNet on mfeat's 15 x 16 pixel view (~0.96 reported for MLPs).
    Benchmark-style (real data, ~14 s): the default-run learning check is
    tests/encoders/test_learning.py."""
    import polymodal.fusion  # noqa: F401  (registers "concat")
    from polymodal.training.engine import fit

    config = {"name": "lenet-pix", "data": {"name": "mfeat", "modalities": ["pix"]},
              "model": {"encoder": {"name": "lenet", "image_size": [15, 16], "channels": [8, 16], "hidden": [64]},
                        "fusion": {"name": "concat"}},
              "optim": {"lr": 3e-3}, "trainer": {"max_epochs": 8, "progress": False}, "seed": 0,
              "output_dir": str(tmp_path)}
    result = fit(config)
    assert result.test_metrics["accuracy"] > 0.9
