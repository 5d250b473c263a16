"""soft-DTW: value and gradient vs tslearn, gradcheck, gamma -> 0 limit, GPU path on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tslearn.metrics import SoftDTW as TsSoftDTW
from tslearn.metrics import SquaredEuclidean
from tslearn.metrics import soft_dtw as ts_soft_dtw

from polymodal.alignment import (
    SoftDTW,
    SoftDTWLoss,
    dtw,
    soft_dtw,
    soft_dtw_divergence,
    soft_dtw_loss,
    soft_dtw_torch_wavefront,
)
from polymodal.alignment.dtw._soft_kernels import exp_nonpos, log_1_3
from polymodal.errors import ConfigError, ShapeError


@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0, 10.0])
def test_value_and_gradient_match_tslearn(gamma):
    rng = np.random.default_rng(0)
    for n, m, d in [(1, 1, 1), (1, 7, 2), (9, 1, 1), (23, 31, 3), (40, 17, 1)]:
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
        ours = soft_dtw(x, y, gamma=gamma, return_grad=True)
        assert ours.value == pytest.approx(ts_soft_dtw(x, y, gamma=gamma), abs=1e-9, rel=1e-12)
        D = SquaredEuclidean(x, y)
        ref = TsSoftDTW(D, gamma=gamma)
        ref.compute()
        E = ref.grad()
        np.testing.assert_allclose(ours.alignment, E, atol=1e-9)
        np.testing.assert_allclose(ours.grad, D.jacobian_product(E), atol=1e-9)


def test_tends_to_dtw_cost_as_gamma_goes_to_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(25, 2)), rng.normal(size=(30, 2))
    cost = dtw(x, y).cost
    gaps = []
    for gamma in [1.0, 0.1, 0.01, 0.001, 1e-5]:
        gap = cost - soft_dtw(x, y, gamma=gamma).value
        # min over paths >= soft-min >= min - gamma * log(number of paths)
        assert -1e-9 <= gap <= gamma * (25 + 30) * np.log(3)
        gaps.append(gap)
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-3


def test_vectorisable_exp_and_log_are_exact_to_one_ulp():
    x = -np.concatenate([np.linspace(0, 700, 20001), np.geomspace(1e-300, 1e-3, 500)])
    ours = np.array([exp_nonpos(v) for v in x])
    np.testing.assert_allclose(ours, np.exp(x), rtol=4e-16, atol=0)
    s = np.linspace(1.0, 3.0, 20001)
    np.testing.assert_allclose(np.array([log_1_3(v) for v in s]), np.log(s), rtol=0, atol=4e-16)


def test_divergence_is_debiased():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(15, 2))
    assert soft_dtw_divergence(x, x, gamma=0.5) == 0.0
    div = soft_dtw_divergence(x, y, gamma=0.5)
    ref = ts_soft_dtw(x, y, 0.5) - 0.5 * (ts_soft_dtw(x, x, 0.5) + ts_soft_dtw(y, y, 0.5))
    assert div == pytest.approx(ref, abs=1e-9) and div > 0


def test_torch_gradcheck_float64_and_dtype_kept():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, 2, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randn(3, 5, 2, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw_loss(a, b, 0.5), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw_loss(a, b, 0.3, normalize=True), (x, y))
    C = torch.rand(2, 4, 7, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c: SoftDTW.apply(c, 0.2), (C,))
    v = soft_dtw_loss(x, y, 0.5)
    assert v.dtype == torch.float64
    for b in range(3):  # float64 all the way: equal to the numpy value at 1e-12
        ref = soft_dtw(x[b].detach().numpy(), y[b].detach().numpy(), gamma=0.5, return_grad=True)
        assert v[b].item() == pytest.approx(ref.value, abs=1e-12)
        gx = torch.autograd.grad(v[b], x, retain_graph=True)[0][b].numpy()
        np.testing.assert_allclose(gx, ref.grad, atol=1e-10)
    assert soft_dtw_loss(x.float(), y.float(), 0.5).dtype == torch.float32


def test_torch_wavefront_equals_compiled_kernel():
    g = torch.Generator().manual_seed(1)
    C = torch.rand(3, 9, 6, dtype=torch.float64, generator=g, requires_grad=True)
    vals, E = soft_dtw_torch_wavefront(C.detach(), 0.7)
    ours = SoftDTW.apply(C, 0.7)
    ours.sum().backward()
    torch.testing.assert_close(vals, ours.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(E, C.grad, rtol=0, atol=1e-12)
    for b in range(3):
        assert vals[b].item() == pytest.approx(_sdtw_bruteforce(C[b].detach().numpy(), 0.7), abs=1e-12)


def _sdtw_bruteforce(C, gamma):
    """Soft-min over every warping path of the path costs (small C only)."""
    n, m = C.shape
    costs = []

    def walk(i, j, acc):
        acc = acc + C[i, j]
        if (i, j) == (n - 1, m - 1):
            costs.append(acc)
            return
        for a, b in ((1, 0), (0, 1), (1, 1)):
            if i + a < n and j + b < m:
                walk(i + a, j + b, acc)

    walk(0, 0, 0.0)
    costs = np.array(costs)
    lo = costs.min()
    return lo - gamma * np.log(np.exp(-(costs - lo) / gamma).sum())


def test_module_and_bad_input():
    loss = SoftDTWLoss(gamma=0.1, reduction="sum")
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert loss(x, x).item() == pytest.approx(soft_dtw_loss(x, x, 0.1).sum().item())
    with pytest.raises(ShapeError, match=r"^x and y must share batch size and feature dimension: "
                       r"x has \(B=2, d=3\), y has \(B=2, d=4\)$"):
        soft_dtw_loss(x, torch.zeros(2, 5, 4, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"^gamma must be a finite number > 0, got 0.0$"):
        soft_dtw_loss(x, x, gamma=0.0)
    with pytest.raises(ConfigError, match=r"^gamma must be a finite number > 0, got -1$"):
        soft_dtw(np.zeros(3), np.zeros(3), gamma=-1)
    with pytest.raises(ShapeError, match=r"^y must contain only finite values"):
        soft_dtw(np.zeros(3), np.array([np.nan]))
