"""outlier_exposure_loss (Hendrycks, Mazeika & Dietterich, ICLR 2019) against closed forms, torch's
soft-target cross-entropy, a gradient check, and its use: a classifier trained with it stays accurate
on its data and becomes unsure on outliers."""

import math

import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ShapeError
from polymodal.fusion import outlier_exposure_loss


@pytest.mark.parametrize("k", [2, 10, 37])
def test_uniform_logits_give_log_k(k):
    for shift in (0.0, 5.0, -3.0):  # any constant row is a uniform softmax
        assert float(outlier_exposure_loss(torch.full((4, k), shift))) == pytest.approx(math.log(k), abs=1e-6)


def test_closed_form_one_hot_limit():
    # logits (a, 0): log-softmax = (-log(1 + e^-a), -a - log(1 + e^-a)); mean over classes, averaged over rows
    a = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64)
    logits = torch.stack([a, torch.zeros_like(a)], 1)
    expected = ((torch.log1p(torch.exp(-a)) * 2 + a) / 2).mean()
    assert float(outlier_exposure_loss(logits)) == pytest.approx(float(expected), rel=1e-12)


def test_equals_cross_entropy_with_uniform_soft_target():
    z = torch.randn(16, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    ref = F.cross_entropy(z, torch.full_like(z, 0.1))
    assert float(outlier_exposure_loss(z)) == pytest.approx(float(ref), rel=1e-12)
    assert float(outlier_exposure_loss(z)) >= math.log(10) - 1e-12  # Gibbs: minimum at the uniform softmax


def test_gradient_check():
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(outlier_exposure_loss, (z,))
    # closed form: d/dz_ik = (softmax(z)_ik - 1/K) / N
    outlier_exposure_loss(z).backward()
    torch.testing.assert_close(z.grad, (F.softmax(z.detach(), 1) - 0.25) / 5)


@pytest.mark.parametrize("bad", [torch.zeros(10), torch.zeros(2, 3, 4), torch.zeros(0, 10), torch.zeros(3, 1)])
def test_bad_shapes_raise(bad):
    with pytest.raises(ShapeError, match="shape"):
        outlier_exposure_loss(bad)


def test_not_a_tensor_raises():
    with pytest.raises(ShapeError, match="list"):
        outlier_exposure_loss([[0.0, 1.0]])


def test_oe_training_flattens_outliers_and_keeps_accuracy():
    # inliers: two Gaussian blobs at (-2, 0), (2, 0); outliers at (+-2, +-4), on either class's side. Without OE
    # a small MLP is confident on new outliers; with OE (lambda 0.5) its max-softmax there drops near 1/2.
    g = torch.Generator().manual_seed(0)
    x_in = torch.randn(200, 2, generator=g) * 0.5
    y_in = torch.arange(200) % 2
    x_in[:, 0] += torch.where(y_in == 1, 2.0, -2.0)
    x_out = torch.randn(400, 2, generator=g) * 0.5
    x_out[:, 0] += torch.where(torch.arange(400) % 2 == 1, 2.0, -2.0)
    x_out[:, 1] += torch.where(torch.arange(400) % 4 >= 2, 4.0, -4.0)
    x_out, x_test = x_out[:200], x_out[200:]  # held-out outliers of the same kind for the test

    def fit(lam):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(300):
            loss = F.cross_entropy(net(x_in), y_in)
            if lam:
                loss = loss + lam * outlier_exposure_loss(net(x_out))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float((net(x_in).argmax(1) == y_in).float().mean())
            conf = float(F.softmax(net(x_test), 1).max(1).values.mean())
        return acc, conf

    (acc0, conf0), (acc1, conf1) = fit(0.0), fit(0.5)
    assert acc0 > 0.97 and acc1 > 0.97
    assert conf0 > 0.9 and conf1 < 0.65  # measured 0.996 -> 0.545
