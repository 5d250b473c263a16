"""Restricted Boltzmann machines: Bernoulli-Bernoulli and Gaussian-Bernoulli,
trained with contrastive divergence (CD-k) or persistent CD, with exact
partition functions for small models.

``BernoulliRBMNetwork`` / ``GaussianBernoulliRBMNetwork`` are the torch
modules (the layers of :class:`~polymodal.representation.rbm_dbn.MultimodalDBN`
and the DBM); ``BernoulliRBM`` / ``GaussianBernoulliRBM`` are the
scikit-learn estimators that train one through the shared loop
(:func:`polymodal.training.estimator_loop.train_network`, a custom CD step)."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from polymodal.core.contract import checked_data
from polymodal.errors import ConfigError, ShapeError
from polymodal.training.estimator_loop import seed_from, train_network

__all__ = ["BernoulliRBM", "BernoulliRBMNetwork", "GaussianBernoulliRBM", "GaussianBernoulliRBMNetwork",
           "all_binary_states"]

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


class _RBMNetwork(nn.Module):
    """Shared parameters, Gibbs sampling and the CD/PCD update."""

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

    def hidden_features(self, X) -> np.ndarray:
        """Hidden probabilities ``(n, n_hidden)`` of the rows of ``X`` (numpy)."""
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
    def contrastive_divergence(self, X, max_epochs: int = 10, lr: float = 0.05, k: int = 1,
                               persistent: bool = False, batch_size: int = 32, weight_decay: float = 0.0,
                               momentum: float = 0.0, seed: int = 0, verbose: bool = False) -> "_RBMNetwork":
        """Train in place with contrastive divergence (Hinton, Neural Computation 2002) or, with
        ``persistent``, persistent CD (Tieleman, ICML 2008):

        .. math:: \\Delta W = \\epsilon\\big(\\langle v\\, p(h|v)^\\top \\rangle_{data}
                  - \\langle v\\, p(h|v)^\\top \\rangle_{k}\\big), \\ \\Delta b = \\epsilon(\\langle v \\rangle_{data} - \\langle v \\rangle_k),
                  \\ \\Delta c = \\epsilon(\\langle p(h|v) \\rangle_{data} - \\langle p(h|v) \\rangle_k)

        where :math:`\\langle\\cdot\\rangle_k` is over samples after ``k``
        Gibbs steps started at the batch (CD-k) or at persistent chains (PCD,
        one chain per batch row, kept across updates). Sets ``chains_`` (PCD).
        Epochs and minibatches come from the shared estimator loop (a CD step
        instead of loss + backward; shuffling and Gibbs draw from one generator
        seeded with ``seed``).
        """
        if k < 1 or max_epochs < 0 or lr <= 0:
            raise ConfigError(f"need k >= 1, max_epochs >= 0 and lr > 0, got k={k}, max_epochs={max_epochs}, lr={lr}")
        x = self._as_tensor(X)
        g = torch.Generator().manual_seed(seed)
        vel = [torch.zeros_like(p) for p in (self.W, self.b, self.c)]
        if persistent and getattr(self, "chains_", None) is None:
            self.chains_ = x[torch.randint(len(x), (min(batch_size, len(x)),), generator=g).to(x.device)].clone()

        def cd_step(batch: list[torch.Tensor]) -> float:
            v0 = batch[0]
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
            return float("nan") if v0.is_meta else float(((v0 - self.visible_mean(ph0)) ** 2).mean())

        if max_epochs:
            fit = train_network(self, None, [x], max_epochs=max_epochs, batch_size=batch_size,
                                device=self.W.device, step=cd_step, generator=g, verbose=verbose,
                                desc=type(self).__name__)
            self.loss_curve_ = fit.train_loss  # reconstruction error of the mean visible, per epoch
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


class BernoulliRBMNetwork(_RBMNetwork):
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

    >>> rbm = BernoulliRBMNetwork(4, 3)
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


class GaussianBernoulliRBMNetwork(_RBMNetwork):
    """Real-valued visible units with unit variance, binary hidden units
    (Hinton & Salakhutdinov, Science 2006; for standardised data):

    .. math:: E(v, h) = \\tfrac12 \\|v - b\\|^2 - c^\\top h - v^\\top W h, \\qquad
              F(v) = \\tfrac12 \\|v - b\\|^2 - \\sum_j \\operatorname{softplus}(c_j + v^\\top W_{:j})

    :math:`p(v | h) = N(b + W h, I)`, and integrating :math:`v` out gives the
    exact :math:`\\log Z = \\log \\sum_h \\exp(c^\\top h + b^\\top W h + \\tfrac12 \\|W h\\|^2) + \\tfrac d2 \\log 2\\pi`.

    >>> rbm = GaussianBernoulliRBMNetwork(2, 3)
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


class _RBMEstimator(TransformerMixin, BaseEstimator):
    """scikit-learn face of an RBM network: hyperparameters here, CD in ``fit``."""

    _network_class: ClassVar[type[_RBMNetwork]]
    _test_params: ClassVar[dict] = {"n_components": 3, "max_epochs": 2, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, n_components: int = 16, max_epochs: int = 10, lr: float = 0.05, k: int = 1,
                 persistent: bool = False, batch_size: int = 32, weight_decay: float = 0.0,
                 momentum: float = 0.0, init_std: float = 0.01, warm_start: bool = False,
                 random_state=None, device: str = "cpu", verbose: bool = False):
        self.n_components = n_components
        self.max_epochs = max_epochs
        self.lr = lr
        self.k = k
        self.persistent = persistent
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.init_std = init_std
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y=None):
        """Initialise the network (``random_state``; kept with ``warm_start``) and train it
        with CD-k / PCD for ``max_epochs`` epochs on ``X`` (n, n_features)."""
        from polymodal.training.estimator_loop import resolve_device

        warm = self.warm_start and hasattr(self, "network_")
        X = checked_data(self, X, dtype=np.float64, reset=not warm)
        seed = seed_from(self.random_state)
        if not warm:
            self.network_ = self._network_class(X.shape[1], self.n_components, init_std=self.init_std, seed=seed)
        self.network_.to(resolve_device(self.device))
        self.network_.contrastive_divergence(
            X, max_epochs=self.max_epochs, lr=self.lr, k=self.k, persistent=self.persistent,
            batch_size=self.batch_size, weight_decay=self.weight_decay, momentum=self.momentum, seed=seed,
            verbose=self.verbose)
        self.components_ = self.network_.W.detach().T.cpu().double().numpy()  # (n_components, n_features)
        return self

    def transform(self, X) -> np.ndarray:
        """Hidden probabilities :math:`p(h = 1 | v)`, (n, n_components)."""
        check_is_fitted(self, "network_")
        X = checked_data(self, X, dtype=np.float64, reset=False)
        return self.network_.hidden_features(X).astype(np.float64)

    def exact_log_likelihood(self, X) -> float:
        """Mean exact :math:`\\log p(v)` of the rows of ``X`` (small models: enumerates states)."""
        check_is_fitted(self, "network_")
        return self.network_.exact_log_likelihood(checked_data(self, X, dtype=np.float64, reset=False))


class BernoulliRBM(_RBMEstimator):
    """Bernoulli-Bernoulli RBM (:class:`BernoulliRBMNetwork`) as a scikit-learn
    transformer, trained by CD-k or PCD (``persistent``); ``transform`` gives the
    hidden probabilities. Parameters follow the CD update
    (:meth:`_RBMNetwork.contrastive_divergence`); ``random_state`` (an int is the
    torch seed itself) seeds the initial weights, shuffling and Gibbs sampling;
    ``warm_start`` continues training the fitted network.

    Examples
    --------
    >>> X = (np.random.default_rng(0).random((40, 6)) < 0.5).astype(float)
    >>> BernoulliRBM(n_components=3, max_epochs=2, random_state=0).fit_transform(X).shape
    (40, 3)
    """

    _network_class = BernoulliRBMNetwork


class GaussianBernoulliRBM(_RBMEstimator):
    """Gaussian-Bernoulli RBM (:class:`GaussianBernoulliRBMNetwork`, unit-variance
    visibles: standardise ``X``) as a scikit-learn transformer; parameters as
    :class:`BernoulliRBM`.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> GaussianBernoulliRBM(n_components=2, max_epochs=2, random_state=0).fit(X).transform(X).shape
    (40, 2)
    """

    _network_class = GaussianBernoulliRBMNetwork
