"""Deep canonical time warping: neural projections trained with the deep-CCA
objective on the aligned pairs, alternated with DTW."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from polymodal.alignment._validation import as_sequence
from polymodal.alignment.ctw import CTW, _project, alignment_error
from polymodal.alignment.dtw import dtw
from polymodal.errors import ConfigError
from polymodal.representation import CCA
from polymodal.representation.dcca_loss import cca_loss

__all__ = ["DeepCTW"]


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, d_out))


class DeepCTW:
    """Deep Canonical Time Warping (Trigeorgis, Nicolaou, Zafeiriou & Schuller,
    "Deep Canonical Time Warping", CVPR 2016).

    Alternates (1) training one network per sequence, :math:`f_x, f_y`, to
    maximise the total canonical correlation of the currently aligned pairs
    (the deep-CCA objective of Andrew et al., ICML 2013,
    :func:`polymodal.representation.dcca_loss.cca_loss`),

    .. math:: \\max_{f_x, f_y} \\operatorname{corr}(f_x(X) \\Delta_x, f_y(Y) \\Delta_y),

    and (2) DTW between the linear-CCA projections of the network outputs,
    which gives the next alignment :math:`\\Delta_x, \\Delta_y`.  Starts from
    :class:`CTW`'s alignment (``init="ctw"``) or the uniform one; keeps the
    iterate with the lowest DTW objective per aligned pair.

    Parameters
    ----------
    n_components : output size of both networks (default 2)
    hidden : hidden width of the default one-hidden-layer tanh networks
    encoders : optional pair ``(f_x, f_y)`` of modules (then ``hidden`` is unused)
    max_iter : alternations;  epochs : full-batch Adam steps per alternation
    lr, reg : learning rate and the covariance ridge of the deep-CCA loss
    seed : torch seed for the default networks
    device : where the networks train; default the given encoders' device (else the CPU)

    Attributes
    ----------
    path_, objective_history_, encoders_ (f_x, f_y), cca_ (linear CCA on the outputs)

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 6, 40))[:, None] * [1.0, 2.0]
    >>> m = DeepCTW(max_iter=2, epochs=5).fit(x, x)
    >>> m.path_.shape[1]
    2
    """

    def __init__(self, n_components: int = 2, hidden: int = 32, encoders=None, max_iter: int = 5,
                 epochs: int = 100, lr: float = 1e-2, reg: float = 1e-3, init: str = "ctw",
                 seed: int = 0, device=None):
        self.n_components = n_components
        self.hidden = hidden
        self.encoders = encoders
        self.max_iter = max_iter
        self.epochs = epochs
        self.lr = lr
        self.reg = reg
        self.init = init
        self.seed = seed
        self.device = device

    def _device(self) -> torch.device:
        """``device``, else the given encoders' parameters' device, else the CPU."""
        if self.device is not None:
            return torch.device(self.device)
        params = [p for f in (self.encoders or ()) for p in f.parameters()]
        return params[0].device if params else torch.device("cpu")

    def _features(self, x: torch.Tensor, y: torch.Tensor):
        fx, fy = self.encoders_
        dev = next(p for f in self.encoders_ for p in f.parameters()).device
        with torch.no_grad():
            return fx(x.to(dev)).cpu().numpy(), fy(y.to(dev)).cpu().numpy()

    def fit(self, x, y) -> "DeepCTW":
        """Align ``x`` (n, dx) and ``y`` (m, dy)."""
        if self.init not in ("ctw", "uniform"):
            raise ConfigError(f"init must be 'ctw' or 'uniform', got {self.init!r}")
        if self.max_iter < 1 or self.epochs < 0:
            raise ConfigError(f"max_iter must be >= 1 and epochs >= 0, got {self.max_iter}, {self.epochs}")
        xs, ys = as_sequence(x, "x"), as_sequence(y, "y")
        k = self.n_components
        if self.encoders is None:
            torch.manual_seed(self.seed)
            self.encoders_ = (_mlp(xs.shape[1], self.hidden, k).double(),
                              _mlp(ys.shape[1], self.hidden, k).double())
        else:
            self.encoders_ = tuple(self.encoders)
        dev = self._device()
        self.encoders_ = tuple(f.to(dev) for f in self.encoders_)
        xt, yt = torch.as_tensor(xs, device=dev), torch.as_tensor(ys, device=dev)
        if self.init == "ctw":
            path = CTW().fit(xs, ys).path_
        else:
            path = CTW(init="uniform", max_iter=1).fit(xs, ys).path_
        params = [p for f in self.encoders_ for p in f.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)
        history: list[float] = []
        best = None
        for _ in range(self.max_iter):
            ix, iy = torch.as_tensor(path[:, 0], device=dev), torch.as_tensor(path[:, 1], device=dev)
            for _ in range(self.epochs):
                opt.zero_grad()
                loss = cca_loss(self.encoders_[0](xt[ix]), self.encoders_[1](yt[iy]), reg=self.reg)
                loss.backward()
                opt.step()
            hx, hy = self._features(xt, yt)
            cca = CCA(n_components=k, reg=self.reg, scale=True).fit(hx[path[:, 0]], hy[path[:, 1]])
            px, py = _project(cca, hx, hy)
            r = dtw(px, py, return_path=True)
            history.append(float(r.cost))
            score = r.cost / len(r.path)
            if best is None or score < best[0]:
                best = (score, r.path, cca, [p.detach().clone() for p in params])
            if np.array_equal(r.path, path):
                break
            path = r.path
        _, self.path_, self.cca_, state = best
        with torch.no_grad():
            for p, s in zip(params, state):
                p.copy_(s)
        self.objective_history_ = history
        return self

    def transform(self, x, y):
        """Shared-space projections ``(n, k)``, ``(m, k)`` of the two sequences."""
        hx, hy = self._features(torch.as_tensor(as_sequence(x, "x")), torch.as_tensor(as_sequence(y, "y")))
        return _project(self.cca_, hx, hy)

    def alignment_error(self, true_path) -> float:
        """:func:`alignment_error` of ``path_`` against ``true_path``."""
        return alignment_error(self.path_, true_path)
