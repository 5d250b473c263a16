"""Autoencoders: tied-weight, denoising and stacked (greedy layer-wise).

Unsupervised feature learners (tutorial: "Deep Multimodal autoencoders").
``TiedAutoencoderNetwork``, ``DenoisingAutoencoderNetwork`` and
``StackedAutoencoderNetwork`` are ``nn.Module`` s whose ``forward`` returns
the code, so one drops into a :class:`~polymodal.training.MultimodalModel` as
an encoder (registered as ``tied_autoencoder`` ...). ``TiedAutoencoder``,
``DenoisingAutoencoder`` and ``StackedAutoencoder`` are the scikit-learn
transformers that train them (Adam on minibatches of the reconstruction
error, through :func:`polymodal.training.estimator_loop.train_network`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from polymodal.core.contract import checked_data
from polymodal.core.activations import activation_function, check_activation
from polymodal.errors import ConfigError, ShapeError
from polymodal.core.registry import register
from polymodal.training.estimator_loop import resolve_device, seed_from, seeded, train_network

__all__ = ["TiedAutoencoder", "DenoisingAutoencoder", "StackedAutoencoder", "TiedAutoencoderNetwork",
           "DenoisingAutoencoderNetwork", "StackedAutoencoderNetwork", "corrupt", "NOISE_TYPES"]

NOISE_TYPES = ("gaussian", "masking", "salt_pepper")


def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt ``x`` (Vincent et al., "Extracting and composing robust features
    with denoising autoencoders", ICML 2008; JMLR 2010, Sec. 4.2):

    - ``gaussian``: :math:`\\tilde x = x + \\epsilon`, :math:`\\epsilon \\sim N(0, \\text{level}^2)`
    - ``masking``: each entry set to 0 with probability ``level``
    - ``salt_pepper``: each entry, with probability ``level``, set to the
      column minimum or maximum of the batch (coin flip)

    >>> corrupt(torch.ones(2, 3), "masking", 0.0)
    tensor([[1., 1., 1.],
            [1., 1., 1.]])
    """
    if noise not in NOISE_TYPES:
        raise ConfigError(f"noise: expected one of {NOISE_TYPES}, got {noise!r}")
    if level < 0 or (noise != "gaussian" and level > 1):
        raise ConfigError(f"noise level for {noise!r}: expected {'>= 0' if noise == 'gaussian' else 'in [0, 1]'}, got {level}")
    if level == 0:
        return x
    if noise == "gaussian":
        return x + level * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    hit = torch.rand(x.shape, generator=generator).to(x.device) < level
    if noise == "masking":
        return torch.where(hit, torch.zeros_like(x), x)
    high = torch.rand(x.shape, generator=generator).to(x.device) < 0.5
    lo, hi = x.min(0, keepdim=True).values.expand_as(x), x.max(0, keepdim=True).values.expand_as(x)
    return torch.where(hit, torch.where(high, hi, lo), x)


def _as_tensor(X, in_features: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ShapeError(f"X: expected shape (n, {in_features}), got {tuple(x.shape)}")
    return x


def _fit_loop(network: nn.Module, loss_fn, x: torch.Tensor, max_epochs: int, lr: float, batch_size: int,
              seed: int, verbose: bool = False) -> list[float]:
    """Minibatch Adam on ``loss_fn(batch, generator)`` through the shared estimator loop
    (one generator seeded with ``seed`` shuffles and corrupts); the mean loss per epoch."""
    g = torch.Generator().manual_seed(seed)
    fit = train_network(network, lambda net, b: loss_fn(b[0], g), [x], max_epochs=max_epochs, lr=lr,
                        batch_size=batch_size, device=x.device, generator=g, verbose=verbose,
                        desc=type(network).__name__)
    return fit.train_loss


@register("encoder", "tied_autoencoder")
class TiedAutoencoderNetwork(nn.Module):
    """An autoencoder whose decoder is the transposed encoder weight:

    .. math:: h = f(W x + b), \\qquad \\hat x = g(W^\\top h + c)

    (tied weights, e.g. Vincent et al., JMLR 2010). With linear ``f`` and
    ``g`` its optimum spans the top principal subspace (Baldi & Hornik,
    Neural Networks 1989). ``forward`` returns the code ``h``.

    Parameters
    ----------
    in_features : int
    hidden : int
        Code size (``out_features``).
    activation : {"sigmoid", "tanh", "relu", "linear"}
        :math:`f`.
    output : {"linear", "sigmoid"}
        :math:`g` (sigmoid for inputs in [0, 1]).

    >>> ae = TiedAutoencoderNetwork(5, 2)
    >>> ae(torch.zeros(3, 5)).shape, ae.reconstruct(torch.zeros(3, 5)).shape
    (torch.Size([3, 2]), torch.Size([3, 5]))
    """

    def __init__(self, in_features: int, hidden: int = 64, activation: str = "sigmoid", output: str = "linear") -> None:
        super().__init__()
        check_activation(activation)
        check_activation(output, allowed=("linear", "sigmoid"), where="output")
        if hidden < 1:
            raise ConfigError(f"hidden: expected a positive code size, got {hidden}")
        self.in_features, self.out_features = int(in_features), int(hidden)
        self.activation, self.output = activation, output
        bound = math.sqrt(6.0 / (in_features + hidden))
        self.weight = nn.Parameter(torch.empty(hidden, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.decoder_bias = nn.Parameter(torch.zeros(in_features))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return activation_function(self.activation)(x.flatten(1) @ self.weight.T + self.bias)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        out = h @ self.weight + self.decoder_bias
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def _loss(self, clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        out = self.decode(self.encode(noisy))
        if self.output == "sigmoid":
            return nn.functional.binary_cross_entropy(out, clean)
        return ((out - clean) ** 2).sum(1).mean()

    def fit_reconstruction(self, X, max_epochs: int = 50, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                           verbose: bool = False) -> "TiedAutoencoderNetwork":
        """Minimise the squared reconstruction error (cross-entropy with a
        sigmoid output) on ``X`` ``(n, in_features)``. Sets ``loss_history_``."""
        x = _as_tensor(X, self.in_features).to(self.weight.device)
        self.loss_history_ = _fit_loop(self, lambda xb, g: self._loss(xb, self._corrupt(xb, g)),
                                       x, max_epochs, lr, batch_size, seed, verbose)
        return self

    def _corrupt(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        return x

    def reconstruction_error(self, X) -> float:
        """Mean over samples of :math:`\\|x - \\hat x\\|^2`."""
        x = _as_tensor(X, self.in_features)
        with torch.no_grad():
            return float(((self.reconstruct(x) - x) ** 2).sum(1).mean())


@register("encoder", "denoising_autoencoder")
class DenoisingAutoencoderNetwork(TiedAutoencoderNetwork):
    """Denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol, ICML
    2008): reconstruct the clean :math:`x` from a corrupted :math:`\\tilde x`
    (:func:`corrupt`), :math:`\\min \\|x - g(W^\\top f(W \\tilde x + b) + c)\\|^2`;
    corruption only while fitting. Parameters as :class:`TiedAutoencoderNetwork`
    plus ``noise`` (one of ``NOISE_TYPES``) and ``noise_level``.

    >>> dae = DenoisingAutoencoderNetwork(5, 2, noise="masking", noise_level=0.3)
    >>> dae.fit_reconstruction(np.random.default_rng(0).normal(size=(20, 5)), max_epochs=1).loss_history_[0] > 0
    True
    """

    def __init__(self, in_features: int, hidden: int = 64, activation: str = "sigmoid", output: str = "linear",
                 noise: str = "masking", noise_level: float = 0.2) -> None:
        super().__init__(in_features, hidden, activation, output)
        corrupt(torch.zeros(1, 1), noise, noise_level)  # validates
        self.noise, self.noise_level = noise, float(noise_level)

    def _corrupt(self, x, generator=None):
        return corrupt(x, self.noise, self.noise_level, generator)


@register("encoder", "stacked_autoencoder")
class StackedAutoencoderNetwork(nn.Module):
    """Stacked (denoising) autoencoders (Bengio, Lamblin, Popovici & Larochelle,
    NeurIPS 2006; Vincent et al., JMLR 2010): layer :math:`k` is a
    :class:`DenoisingAutoencoderNetwork` trained greedily on the codes of layers
    :math:`1..k-1` (those frozen), with corruption ``noise_levels[k]``
    (increasing by layer by default); :meth:`fine_tune` then trains the whole
    encoder-decoder stack end to end on clean inputs,

    .. math:: \\min \\|x - g_1(\\dots g_L(f_L(\\dots f_1(x))))\\|^2,

    and a supervised fine-tuning follows by using the module as an encoder
    in a :class:`~polymodal.training.MultimodalModel` (``forward`` returns the
    top code).

    Parameters
    ----------
    in_features : int
    hidden : sequence of int
        Code size of each layer; the last is ``out_features``.
    activation : str
    noise : str
    noise_levels : sequence of float, optional
        One per layer; default ``0.1, 0.2, ...``.

    >>> sae = StackedAutoencoderNetwork(6, [4, 2])
    >>> [layer.noise_level for layer in sae.layers]
    [0.1, 0.2]
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (128, 32), activation: str = "sigmoid",
                 noise: str = "masking", noise_levels: Sequence[float] | None = None) -> None:
        super().__init__()
        if not hidden:
            raise ConfigError("hidden: a stacked autoencoder needs at least one layer")
        levels = list(noise_levels) if noise_levels is not None else [0.1 * (k + 1) for k in range(len(hidden))]
        if len(levels) != len(hidden):
            raise ConfigError(f"noise_levels: expected {len(hidden)} values (one per layer), got {len(levels)}")
        sizes = [int(in_features), *map(int, hidden)]
        self.layers = nn.ModuleList(
            DenoisingAutoencoderNetwork(sizes[k], sizes[k + 1], activation, "linear", noise, round(levels[k], 10))
            for k in range(len(hidden))
        )
        self.in_features, self.out_features = sizes[0], sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.layers:
            h = layer.encode(h)
        return h

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        h = self.forward(x)
        for layer in reversed(self.layers):
            h = layer.decode(h)
        return h

    def pretrain(self, X, max_epochs: int = 30, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                 verbose: bool = False) -> "StackedAutoencoderNetwork":
        """Greedy layer-wise pretraining; sets ``pretrain_history_`` (per layer)."""
        h = _as_tensor(X, self.in_features).to(self.layers[0].weight.device)
        self.pretrain_history_ = []
        for k, layer in enumerate(self.layers):
            layer.fit_reconstruction(h, max_epochs=max_epochs, lr=lr, batch_size=batch_size, seed=seed + k,
                                     verbose=verbose)
            self.pretrain_history_.append(layer.loss_history_)
            with torch.no_grad():
                h = layer.encode(h)
        return self

    def fine_tune(self, X, max_epochs: int = 30, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                  verbose: bool = False) -> "StackedAutoencoderNetwork":
        """End-to-end reconstruction training of the whole stack; sets ``fine_tune_history_``."""
        x = _as_tensor(X, self.in_features).to(self.layers[0].weight.device)
        self.fine_tune_history_ = _fit_loop(self, lambda xb, g: ((self.reconstruct(xb) - xb) ** 2).sum(1).mean(),
                                            x, max_epochs, lr, batch_size, seed, verbose)
        return self

    def reconstruction_error(self, X) -> float:
        x = _as_tensor(X, self.in_features)
        with torch.no_grad():
            return float(((self.reconstruct(x) - x) ** 2).sum(1).mean())


class _AutoencoderEstimator(TransformerMixin, BaseEstimator):
    """scikit-learn face of an autoencoder network: ``transform`` gives the code."""

    _test_params: ClassVar[dict] = {"hidden": 2, "max_epochs": 2, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def _train(self, net, X):  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, X, y=None):
        """Build the network (initialised from ``random_state``) and minimise the
        reconstruction error of ``X`` (n, n_features)."""
        X = checked_data(self, X, dtype=np.float32)
        seed = seed_from(self.random_state)
        with seeded(seed):
            net = self._network(X.shape[1])
        self.network_ = net.to(resolve_device(self.device))
        self._train(self.network_, X, seed)
        self.network_.eval()
        return self

    def _tensor(self, X) -> torch.Tensor:
        check_is_fitted(self, "network_")
        X = checked_data(self, X, dtype=np.float32, reset=False)
        return torch.as_tensor(X).to(next(self.network_.parameters()).device)

    @torch.no_grad()
    def transform(self, X) -> np.ndarray:
        """The code (n, code size)."""
        x = self._tensor(X)
        return self.network_(x).cpu().double().numpy()

    @torch.no_grad()
    def reconstruct(self, X) -> np.ndarray:
        """The reconstruction of ``X`` (n, n_features)."""
        x = self._tensor(X)
        return self.network_.reconstruct(x).cpu().double().numpy()

    @torch.no_grad()
    def reconstruction_error(self, X) -> float:
        """Mean over samples of :math:`\\|x - \\hat x\\|^2`."""
        x = self._tensor(X)
        return float(((self.network_.reconstruct(x) - x) ** 2).sum(1).mean())


class TiedAutoencoder(_AutoencoderEstimator):
    """Tied-weight autoencoder (:class:`TiedAutoencoderNetwork`) as a scikit-learn
    transformer: ``fit`` minimises the reconstruction error with Adam on
    minibatches, ``transform`` returns the code :math:`f(Wx + b)`.

    Parameters
    ----------
    hidden : int — code size
    activation, output : as :class:`TiedAutoencoderNetwork`
    max_epochs, lr, batch_size : training
    random_state : None or int — initial weights and shuffling (an int is the torch seed)
    device, verbose : as every deep estimator

    Attributes
    ----------
    network_ : TiedAutoencoderNetwork
    loss_curve_ : list of float — mean reconstruction loss per epoch

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 5))
    >>> TiedAutoencoder(hidden=2, max_epochs=3, random_state=0).fit_transform(X).shape
    (40, 2)
    """

    def __init__(self, hidden: int = 64, activation: str = "sigmoid", output: str = "linear", max_epochs: int = 50,
                 lr: float = 1e-3, batch_size: int = 64, random_state=None, device: str = "cpu",
                 verbose: bool = False):
        self.hidden = hidden
        self.activation = activation
        self.output = output
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _network(self, n_features: int) -> nn.Module:
        return TiedAutoencoderNetwork(n_features, self.hidden, self.activation, self.output)

    def _train(self, net, X, seed):
        net.fit_reconstruction(X, max_epochs=self.max_epochs, lr=self.lr, batch_size=self.batch_size, seed=seed,
                               verbose=self.verbose)
        self.loss_curve_ = net.loss_history_


class DenoisingAutoencoder(TiedAutoencoder):
    """Denoising autoencoder (:class:`DenoisingAutoencoderNetwork`; Vincent et al.,
    ICML 2008) as a scikit-learn transformer; parameters as :class:`TiedAutoencoder`
    plus ``noise`` (one of ``NOISE_TYPES``) and ``noise_level``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(20, 5))
    >>> DenoisingAutoencoder(hidden=2, noise="masking", noise_level=0.3, max_epochs=1).fit(X).loss_curve_[0] > 0
    True
    """

    def __init__(self, hidden: int = 64, activation: str = "sigmoid", output: str = "linear",
                 noise: str = "masking", noise_level: float = 0.2, max_epochs: int = 50, lr: float = 1e-3,
                 batch_size: int = 64, random_state=None, device: str = "cpu", verbose: bool = False):
        super().__init__(hidden=hidden, activation=activation, output=output, max_epochs=max_epochs, lr=lr,
                         batch_size=batch_size, random_state=random_state, device=device, verbose=verbose)
        self.noise = noise
        self.noise_level = noise_level

    def _network(self, n_features: int) -> nn.Module:
        return DenoisingAutoencoderNetwork(n_features, self.hidden, self.activation, self.output, self.noise,
                                           self.noise_level)


class StackedAutoencoder(_AutoencoderEstimator):
    """Stacked denoising autoencoders (:class:`StackedAutoencoderNetwork`; Bengio et al.,
    NeurIPS 2006; Vincent et al., JMLR 2010) as a scikit-learn transformer:
    greedy layer-wise pretraining (layer ``k`` seeded ``random_state + k``) for
    ``max_epochs``, then end-to-end fine-tuning for ``fine_tune_epochs`` (None:
    ``max_epochs``). Other parameters as :class:`StackedAutoencoderNetwork` and
    :class:`TiedAutoencoder`.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 6))
    >>> StackedAutoencoder(hidden=(4, 2), max_epochs=2, random_state=0).fit_transform(X).shape
    (30, 2)
    """

    _test_params: ClassVar[dict] = {"hidden": (3, 2), "max_epochs": 2, "random_state": 0}

    def __init__(self, hidden: Sequence[int] = (128, 32), activation: str = "sigmoid", noise: str = "masking",
                 noise_levels: Sequence[float] | None = None, max_epochs: int = 30,
                 fine_tune_epochs: int | None = None, lr: float = 1e-3, batch_size: int = 64, random_state=None,
                 device: str = "cpu", verbose: bool = False):
        self.hidden = hidden
        self.activation = activation
        self.noise = noise
        self.noise_levels = noise_levels
        self.max_epochs = max_epochs
        self.fine_tune_epochs = fine_tune_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _network(self, n_features: int) -> nn.Module:
        return StackedAutoencoderNetwork(n_features, self.hidden, self.activation, self.noise, self.noise_levels)

    def _train(self, net, X, seed):
        kw = dict(lr=self.lr, batch_size=self.batch_size, seed=seed, verbose=self.verbose)
        net.pretrain(X, max_epochs=self.max_epochs, **kw)
        ft = self.max_epochs if self.fine_tune_epochs is None else self.fine_tune_epochs
        if ft:
            net.fine_tune(X, max_epochs=ft, **kw)
        self.pretrain_curves_ = net.pretrain_history_
        self.loss_curve_ = getattr(net, "fine_tune_history_", [])
