"""The shared deep-estimator loop: least squares reaches the closed form,
seeding is reproducible, early stopping restores the best weights, a custom
step replaces loss + backward, bad settings raise ConfigError."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError
from polymodal.training.estimator_loop import make_optimizer, resolve_device, train_network


def _data(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 3, generator=g)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return X, y


def _mse(net, b):
    return ((net(b[0]) - b[1]) ** 2).mean()


def test_minibatch_adam_reaches_least_squares():
    X, y = _data()
    net = torch.nn.Linear(3, 1)
    fit = train_network(net, _mse, [X, y], max_epochs=300, lr=0.05, batch_size=16, random_state=0)
    Xa = np.hstack([X.numpy(), np.ones((64, 1))])
    coef = np.linalg.lstsq(Xa, y.numpy(), rcond=None)[0].ravel()
    np.testing.assert_allclose(net.weight.detach().numpy().ravel(), coef[:3], atol=2e-2)
    assert fit.n_epochs == 300 and fit.train_loss[-1] < fit.train_loss[0]


def test_same_random_state_same_weights():
    X, y = _data()
    ws = []
    for _ in range(2):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        train_network(net, _mse, [X, y], max_epochs=3, lr=0.1, batch_size=8, random_state=7)
        ws.append(net.weight.detach().clone())
    torch.testing.assert_close(ws[0], ws[1], rtol=0, atol=0)


def test_early_stopping_restores_best_validation_weights():
    X, y = _data(n=80)
    y[:] = torch.randn(80, 1, generator=torch.Generator().manual_seed(3))  # pure noise: overfits
    net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    fit = train_network(net, _mse, [X, y], max_epochs=500, lr=0.05, batch_size=None, random_state=0,
                        validation_fraction=0.25, n_iter_no_change=5)
    assert fit.stopped_early and fit.n_epochs < 500
    best = int(np.argmin(fit.val_loss))
    assert fit.n_epochs == best + 1 + 5  # stopped 5 epochs after the best
    # the restored weights give the best validation loss, recomputed on the same split
    perm = torch.randperm(80, generator=torch.Generator().manual_seed(0))  # random_state=0 seeds with 0
    val = perm[:20]
    with torch.no_grad():
        assert float(_mse(net, [X[val], y[val]])) == pytest.approx(fit.val_loss[best], rel=1e-6)


def test_custom_step_replaces_backward():
    seen = []
    X = torch.arange(10.0)[:, None]
    fit = train_network(torch.nn.Linear(1, 1), None, [X], max_epochs=2, batch_size=4, random_state=0,
                        step=lambda b: seen.append(b[0].shape[0]) or 0.0)
    assert sorted(seen) == [2, 2, 4, 4, 4, 4] and fit.n_epochs == 2


def test_errors():
    X, y = _data()
    with pytest.raises(ConfigError, match="max_epochs must be an int >= 1; got 0"):
        train_network(torch.nn.Linear(3, 1), _mse, [X, y], max_epochs=0)
    with pytest.raises(ConfigError, match="validation_fraction must be in"):
        train_network(torch.nn.Linear(3, 1), _mse, [X, y], max_epochs=1, validation_fraction=1.5)
    with pytest.raises(ConfigError, match="exactly one of loss_fn"):
        train_network(torch.nn.Linear(3, 1), None, [X, y], max_epochs=1)
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        make_optimizer(torch.nn.Linear(1, 1).parameters(), "lbfgs")
    with pytest.raises(ConfigError, match="device must be"):
        resolve_device("nonsense")
    assert resolve_device("auto").type in {"cpu", "cuda"}


def test_explicit_validation_data_keeps_best_epoch_weights():
    """validation_data: the restored weights score min(val_loss) on that set, best_epoch points at it,
    and the training rows are not split (every row is trained on)."""
    X, y = _data(n=80)
    y[:] = torch.randn(80, 1, generator=torch.Generator().manual_seed(3))  # pure noise: overfits
    Xv, yv = _data(seed=5, n=30)
    net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    seen = []
    fit = train_network(net, lambda n, b: seen.append(len(b[0])) or _mse(n, b), [X, y], max_epochs=500, lr=0.05,
                        random_state=0, validation_data=[Xv, yv], n_iter_no_change=5)
    assert fit.stopped_early and fit.best_epoch == int(np.argmin(fit.val_loss)) == fit.n_epochs - 1 - 5
    assert fit.best_val_loss == min(fit.val_loss)
    assert set(seen) == {80, 30}  # training on all 80 rows, validation on the 30 given
    with torch.no_grad():
        assert float(_mse(net, [Xv, yv])) == pytest.approx(fit.best_val_loss, rel=1e-6)
    assert train_network(torch.nn.Linear(3, 1), _mse, [X, y], max_epochs=2).best_epoch is None
    with pytest.raises(ConfigError, match="not both"):
        train_network(net, _mse, [X, y], max_epochs=1, validation_fraction=0.2, validation_data=[Xv, yv])
    with pytest.raises(ConfigError, match="validation_data must be 2 tensors"):
        train_network(net, _mse, [X, y], max_epochs=1, validation_data=[Xv])


def test_max_grad_norm_clips_the_step():
    """One SGD step with the gradient's norm clipped to c moves the parameters by exactly lr * c;
    without clipping by lr * |grad|."""
    X = torch.tensor([[100.0]])
    for clip, expected in ((0.5, 0.1 * 0.5), (None, None)):
        net = torch.nn.Linear(1, 1, bias=False)
        torch.nn.init.zeros_(net.weight)
        # d/dw (w x - 1)^2 at w = 0 is -2 x = -200 (norm 200)
        train_network(net, lambda n, b: ((n(b[0]) - 1) ** 2).sum(), [X], max_epochs=1, lr=0.1, optimizer="sgd",
                      random_state=0, max_grad_norm=clip)
        assert net.weight.item() == pytest.approx(expected if clip else 0.1 * 200.0, rel=1e-5)
    with pytest.raises(ConfigError, match="max_grad_norm"):
        train_network(net, _mse, [X, X], max_epochs=1, max_grad_norm=0.0)
