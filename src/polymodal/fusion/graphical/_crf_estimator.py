"""What the CRF estimators (HCRF, multi-view HCRF, LDCRF) share: their
training through the shared estimator loop (L-BFGS one iteration per epoch, or
a first-order optimiser on minibatches) and the reading of sequence input."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import Tensor, nn

from polymodal.core.targets import class_labels
from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical._core import as_samples, validate_samples
from polymodal.training.estimator_loop import train_network

OPTIMIZERS = ("lbfgs", "adam", "adamw", "sgd")


class LBFGSStep:
    """One L-BFGS iteration (strong-Wolfe line search) per call: the ``step`` of
    :func:`~polymodal.training.estimator_loop.train_network` on the full batch.

    The iterates are those of one ``torch.optim.LBFGS(max_iter=max_epochs,
    max_eval=max_fun).step`` call: the optimiser's state (history, step) carries
    over between calls, each line search gets the evaluations left of
    ``max_fun``, and the run stops (later calls do nothing) at torch's own tests:
    gradient below ``tolerance_grad``, no descent direction, step or loss change
    below ``tolerance_change``, or ``max_fun`` evaluations. The objective at the
    point a line search accepted is reused, not recomputed (a cache keyed by the
    exact parameter values), so every evaluation counts once, as in that call.
    """

    def __init__(self, network: nn.Module, objective: Callable[[nn.Module, list[Tensor]], Tensor], lr: float,
                 max_fun: int) -> None:
        self.network, self.objective, self.lr, self.max_fun = network, objective, float(lr), int(max_fun)
        self.opt: torch.optim.LBFGS | None = None
        self.n_iter, self.n_fun, self.done = 0, 0, False
        self._cache: list[tuple[Tensor, Tensor, list[Tensor]]] = []
        self._last = float("nan")

    def _flat(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def _evaluate(self, batch: list[Tensor]) -> Tensor:
        flat = self._flat()
        for key, loss, grads in self._cache:
            if torch.equal(key, flat):
                for p, g in zip(self.params, grads):
                    p.grad = g.clone()
                return loss
        self.opt.zero_grad()
        loss = self.objective(self.network, batch)
        loss.backward()
        self.n_fun += 1
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in self.params]
        self._cache.append((flat, loss.detach(), grads))
        return loss.detach()

    def __call__(self, batch: list[Tensor]) -> float:
        if self.done:
            return self._last
        if self.opt is None:  # built here: the loop has moved the network to its device
            self.params = list(self.network.parameters())
            self.opt = torch.optim.LBFGS(self.params, lr=self.lr, max_iter=1, line_search_fn="strong_wolfe")
        group = self.opt.param_groups[0]
        loss = self._evaluate(batch)
        self._last = float(loss)
        state = self.opt.state[self.params[0]]
        if self.n_iter and ((state["d"] * state["t"]).abs().max() <= group["tolerance_change"]
                            or abs(self._last - state["prev_loss"]) < group["tolerance_change"]):
            self.done = True  # lack of progress in the last iteration
            return self._last
        self._cache = self._cache[-1:]  # the current point
        group["max_eval"] = self.max_fun - self.n_fun + 1  # its line search gets what is left
        before = self._flat()
        self.opt.step(lambda: self._evaluate(batch))
        if torch.equal(before, self._flat()):
            self.done = True  # gradient below tolerance or no descent direction
        else:
            self.n_iter += 1
        self.done = self.done or self.n_fun >= self.max_fun
        return self._last


class _CRFEstimatorBase(BaseEstimator):
    """Training and input reading shared by the CRF estimators (not public)."""

    def _same_width_sequences(self, X: Any, reset: bool) -> list[np.ndarray]:
        """The sequences of ``X``, all with the same number of features (recorded as
        ``n_features_in_`` when ``reset``, else checked against it)."""
        seqs = sequences(X)
        d = {s.shape[1] for s in seqs}
        if len(d) > 1:
            raise ShapeError(f"X: sequences must have the same number of features, got {sorted(d)}")
        (d,) = d
        if reset:
            self.n_features_in_ = d
        elif d != self.n_features_in_:
            raise ShapeError(f"X has {d} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return seqs

    def _check_training(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if not isinstance(self.max_epochs, numbers.Integral) or self.max_epochs < 1:
            raise ConfigError(f"max_epochs must be an int >= 1; got {self.max_epochs!r}")
        if not (isinstance(self.l2, numbers.Real) and self.l2 >= 0):
            raise ConfigError(f"l2 must be a number >= 0; got {self.l2!r}")
        if self.max_fun is not None and (not isinstance(self.max_fun, numbers.Integral) or self.max_fun < 1):
            raise ConfigError(f"max_fun must be None or an int >= 1; got {self.max_fun!r}")
        if self.optimizer == "lbfgs" and self.batch_size is not None:
            raise ConfigError(f"optimizer='lbfgs' is full-batch: batch_size must be None, got {self.batch_size!r}")

    def _train(self, net: nn.Module, nll: Callable[[nn.Module, list[Tensor]], Tensor], data: list[Tensor],
               seed: int) -> None:
        """Minimise ``sum_i nll_i + l2/2 ||theta||^2`` (L-BFGS) or its per-sample
        mean ``mean_batch nll_i + l2/(2n) ||theta||^2`` (first-order, minibatches)."""
        n = int(data[0].shape[0])

        def penalty(m: nn.Module) -> Tensor:
            return 0.5 * self.l2 * sum((p**2).sum() for p in m.parameters())

        common = dict(max_epochs=int(self.max_epochs), random_state=seed, device=self.device,
                      verbose=self.verbose, desc=type(self).__name__)
        if self.optimizer == "lbfgs":
            max_fun = self.max_epochs * 5 // 4 if self.max_fun is None else self.max_fun
            step = LBFGSStep(net, lambda m, b: nll(m, b).sum() + penalty(m), self.lr, max_fun)
            fit = train_network(net, None, data, step=step, batch_size=None, shuffle=False, **common)
            self.n_iter_ = step.n_iter
            self.loss_curve_ = [v / n for v in fit.train_loss[: max(step.n_iter, 1)]]
        else:
            fit = train_network(net, lambda m, b: nll(m, b).mean() + penalty(m) / n, data, lr=self.lr,
                                optimizer=self.optimizer, batch_size=self.batch_size, **common)
            self.n_iter_ = fit.n_epochs
            self.loss_curve_ = fit.train_loss
        self.network_ = net.cpu().eval()


def check_real(X: Any, what: str) -> None:
    """Refuse complex values (a cast to float would drop the imaginary part)."""
    items = X if isinstance(X, (list, tuple)) else [X]
    for s in items:
        for v in (s.values() if isinstance(s, Mapping) else [s]):
            if np.iscomplexobj(v):
                raise ShapeError(f"{what}: complex data is not supported, got complex values")


def sequences(X: Any, names: list[str] | None = None) -> list[np.ndarray]:
    """Sequence input as a list of (T_i, d) float64 arrays: a list of (T_i, d)
    arrays, a 3-D array (n, T, d), a list of dicts stream -> (T_i, d_s) (streams
    concatenated frame-wise), a ``MultimodalDataset`` or a ``Batch``."""
    X = as_samples(X, names)
    check_real(X, "X")
    if getattr(X, "ndim", 3) != 3:
        raise ShapeError(f"X: expected a list of (T, d) sequences or a 3-D array (n, T, d), got shape {X.shape}")
    return [np.concatenate(s, axis=1) for s in validate_samples(X, names=names)]


def pad(seqs: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """(n, T_max, d) float64 zero-padded tensor and the lengths (n,)."""
    x = torch.nn.utils.rnn.pad_sequence([torch.tensor(np.ascontiguousarray(s), dtype=torch.float64) for s in seqs], batch_first=True)
    return x, torch.tensor([len(s) for s in seqs])


def class_targets(y: Any, n: int, who: str) -> np.ndarray:
    """One class label per sample, (n,), checked as scikit-learn classifiers do."""
    y = class_labels(y, who)
    if len(y) != n:
        raise ShapeError(f"X has {n} samples but y has {len(y)} labels")
    return y
