"""Restricted Boltzmann machines: Bernoulli-Bernoulli and Gaussian-Bernoulli,
trained with contrastive divergence (CD-k) or persistent CD, with exact
partition functions for small models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from polymodal.errors import ConfigError, ShapeError

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM", "all_binary_states"]

_MAX_ENUM = 22


def _uniform(shape, generator, like: torch.Tensor) -> torch.Tensor:
    """U(0, 1) draws from ``generator`` (on its device; the same stream on any device) moved to ``like``'s."""
    dev = like.device if generator is None else generator.device
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


def _normal(shape, generator, like: torch.Tensor) -> torch.Tensor:
    dev = like.device if generator is None else generator.device
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


def all_binary_states(n: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Every vector of ``{0, 1}^n`` as rows, ``(2**n, n)``.

    >>> all_binary_states(2)
    tensor([[0., 0.],
            [0., 1.],
            [1., 0.],
            [1., 1.]], dtype=torch.float64)
    """
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=dtype, device=device).reshape(-1, n)


class _RBM(nn.Module):
    """Shared parameters, Gibbs sampling and the CD/PCD fitting loop."""

    def __init__(self, n_visible: int, n_hidden: int, init_std: float = 0.01, seed: int = 0) -> None:
        super().__init__()
        if n_visible < 1 or n_hidden < 1:
            raise ConfigError(f"n_visible and n_hidden must be positive, got {n_visible} and {n_hidden}")
        g = torch.Generator().manual_seed(seed)
        self.n_visible, self.n_hidden = int(n_visible), int(n_hidden)
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden, generator=g) * init_std, requires_grad=False)
        self.b = nn.Parameter(torch.zeros(n_visible), requires_grad=False)  # visible bias
        self.c = nn.Parameter(torch.zeros(n_hidden), requires_grad=False)  # hidden bias
        self.out_features = self.n_hidden

    # -- conditionals ------------------------------------------------------
    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`p(h_j = 1 | v) = \\sigma(c_j + v^\\top W_{:j})` (``v`` already scaled for Gaussian units)."""
        return torch.sigmoid(v @ self.W + self.c)

    def sample_hidden(self, v: torch.Tensor, generator=None) -> torch.Tensor:
        p = self.hidden_probs(v)
        return (_uniform(p.shape, generator, p) < p).to(p.dtype)

    def gibbs(self, v: torch.Tensor, k: int = 1, generator=None) -> torch.Tensor:
        """``k`` alternating Gibbs steps ``v -> h -> v`` starting at ``v``."""
        for _ in range(k):
            v = self.sample_visible(self.sample_hidden(v, generator), generator)
        return v

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.hidden_probs(v)

    def transform(self, X) -> np.ndarray:
        """Hidden probabilities ``(n, n_hidden)``."""
        with torch.no_grad():
            return self.hidden_probs(self._as_tensor(X)).cpu().numpy()

    def _as_tensor(self, X) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=self.W.dtype,
                            device=self.W.device)
        if x.dim() != 2 or x.shape[1] != self.n_visible:
            raise ShapeError(f"X: expected shape (n, {self.n_visible}), got {tuple(x.shape)}")
        return x

    # -- training ----------------------------------------------------------
    @torch.no_grad()
    def fit(self, X, epochs: int = 10, lr: float = 0.05, k: int = 1, persistent: bool = False,
            batch_size: int = 32, weight_decay: float = 0.0, momentum: float = 0.0, seed: int = 0) -> "_RBM":
        """Contrastive divergence (Hinton, Neural Computation 2002) or, with
        ``persistent``, persistent CD (Tieleman, ICML 2008):

        .. math:: \\Delta W = \\epsilon\\big(\\langle v\\, p(h|v)^\\top \\rangle_{data}
                  - \\langle v\\, p(h|v)^\\top \\rangle_{k}\\big), \\ \\Delta b = \\epsilon(\\langle v \\rangle_{data} - \\langle v \\rangle_k),
                  \\ \\Delta c = \\epsilon(\\langle p(h|v) \\rangle_{data} - \\langle p(h|v) \\rangle_k)

        where :math:`\\langle\\cdot\\rangle_k` is over samples after ``k``
        Gibbs steps started at the batch (CD-k) or at persistent chains (PCD,
        one chain per batch row, kept across updates). Sets ``chains_`` (PCD).
        """
        if k < 1 or epochs < 0 or lr <= 0:
            raise ConfigError(f"need k >= 1, epochs >= 0 and lr > 0, got k={k}, epochs={epochs}, lr={lr}")
        x = self._as_tensor(X)
        g = torch.Generator().manual_seed(seed)
        vel = [torch.zeros_like(p) for p in (self.W, self.b, self.c)]
        if persistent and getattr(self, "chains_", None) is None:
            self.chains_ = x[torch.randint(len(x), (min(batch_size, len(x)),), generator=g).to(x.device)].clone()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=g).to(x.device)
            for start in range(0, len(x), batch_size):
                v0 = x[order[start:start + batch_size]]
                ph0 = self.hidden_probs(v0)
                if persistent:
                    vk = self.gibbs(self.chains_, k, g)
                    self.chains_ = vk
                else:
                    vk = self.gibbs(v0, k, g)
                phk = self.hidden_probs(vk)
                grads = (
                    v0.T @ ph0 / len(v0) - vk.T @ phk / len(vk) - weight_decay * self.W,
                    v0.mean(0) - vk.mean(0),
                    ph0.mean(0) - phk.mean(0),
                )
                for p, gr, vv in zip((self.W, self.b, self.c), grads, vel):
                    vv.mul_(momentum).add_(lr * gr)
                    p.add_(vv)
        return self

    # -- exact likelihood (small models) -------------------------------------
    def log_partition(self) -> float:
        raise NotImplementedError

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def exact_log_likelihood(self, X) -> float:
        """Mean exact :math:`\\log p(v) = -F(v) - \\log Z` over the rows of ``X``
        (enumerates up to 2^22 states; for small RBMs and tests)."""
        x = self._as_tensor(X).double()
        return float((-self.double_free_energy(x) - self.log_partition()).mean())

    def double_free_energy(self, v: torch.Tensor) -> torch.Tensor:
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        return self._free_energy(v.double(), W, b, c)


class BernoulliRBM(_RBM):
    """Binary visible and hidden units (Smolensky 1986; Hinton, Neural
    Computation 2002):

    .. math:: E(v, h) = -b^\\top v - c^\\top h - v^\\top W h, \\qquad
              F(v) = -b^\\top v - \\sum_j \\operatorname{softplus}(c_j + v^\\top W_{:j})

    with :math:`p(v) = e^{-F(v)} / Z`.

    Parameters
    ----------
    n_visible, n_hidden : int
    init_std : float
        Standard deviation of the initial weights.
    seed : int

    >>> rbm = BernoulliRBM(4, 3)
    >>> _ = rbm.W.data.zero_()
    >>> math.isclose(rbm.log_partition(), 7 * math.log(2))  # no interactions: Z = 2^(4+3)
    True
    """

    @staticmethod
    def _free_energy(v, W, b, c):
        return -(v @ b) - nn.functional.softplus(v @ W + c).sum(1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return self._free_energy(v, self.W, self.b, self.c)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(1)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.W.T + self.b)

    def sample_visible(self, h: torch.Tensor, generator=None) -> torch.Tensor:
        p = self.visible_mean(h)
        return (_uniform(p.shape, generator, p) < p).to(p.dtype)

    @torch.no_grad()
    def log_partition(self) -> float:
        """:math:`\\log Z`, enumerating the smaller of the two layers."""
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        if min(self.n_visible, self.n_hidden) > _MAX_ENUM:
            raise ConfigError(f"exact log Z enumerates 2^{min(self.n_visible, self.n_hidden)} states; at most 2^{_MAX_ENUM}")
        if self.n_visible <= self.n_hidden:
            return float(torch.logsumexp(-self._free_energy(all_binary_states(self.n_visible, device=W.device), W, b, c), 0))
        h = all_binary_states(self.n_hidden, device=W.device)
        return float(torch.logsumexp(h @ c + nn.functional.softplus(h @ W.T + b).sum(1), 0))


class GaussianBernoulliRBM(_RBM):
    """Real-valued visible units with unit variance, binary hidden units
    (Hinton & Salakhutdinov, Science 2006; for standardised data):

    .. math:: E(v, h) = \\tfrac12 \\|v - b\\|^2 - c^\\top h - v^\\top W h, \\qquad
              F(v) = \\tfrac12 \\|v - b\\|^2 - \\sum_j \\operatorname{softplus}(c_j + v^\\top W_{:j})

    :math:`p(v | h) = N(b + W h, I)`, and integrating :math:`v` out gives the
    exact :math:`\\log Z = \\log \\sum_h \\exp(c^\\top h + b^\\top W h + \\tfrac12 \\|W h\\|^2) + \\tfrac d2 \\log 2\\pi`.

    >>> rbm = GaussianBernoulliRBM(2, 3)
    >>> rbm.sample_visible(torch.zeros(1, 3)).shape
    torch.Size([1, 2])
    """

    @staticmethod
    def _free_energy(v, W, b, c):
        return 0.5 * ((v - b) ** 2).sum(1) - nn.functional.softplus(v @ W + c).sum(1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return self._free_energy(v, self.W, self.b, self.c)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.W.T + self.b

    def sample_visible(self, h: torch.Tensor, generator=None) -> torch.Tensor:
        m = self.visible_mean(h)
        return m + _normal(m.shape, generator, m)

    @torch.no_grad()
    def log_partition(self) -> float:
        if self.n_hidden > _MAX_ENUM:
            raise ConfigError(f"exact log Z enumerates 2^{self.n_hidden} hidden states; at most 2^{_MAX_ENUM}")
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        h = all_binary_states(self.n_hidden, device=W.device)
        wh = h @ W.T
        return float(torch.logsumexp(h @ c + wh @ b + 0.5 * (wh ** 2).sum(1), 0)) + 0.5 * self.n_visible * math.log(2 * math.pi)
