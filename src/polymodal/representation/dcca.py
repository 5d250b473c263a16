"""Deep CCA and the deep canonically correlated autoencoder (DCCAE).

``DCCANetwork`` / ``DCCAENetwork`` are the torch modules (``dict[str, Tensor]``
in, reusable in composed models); ``DCCA`` / ``DCCAE`` are scikit-learn
estimators on a sequence of views ``[X1, X2]`` that train a network through
:func:`polymodal.training.estimator_loop.train_network` and fit the final
linear CCA.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.representation.cca import CCA, canonical_score
from polymodal.representation.dcca_loss import cca_loss
from polymodal.representation.mcca import check_views
from polymodal.training.estimator_loop import seed_from, seeded, train_network

__all__ = ["DCCA", "DCCAE", "DCCANetwork", "DCCAENetwork"]


class DCCANetwork(nn.Module):
    """Deep CCA: two encoders trained so their outputs are maximally correlated.

    Andrew, Arora, Bilmes & Livescu, "Deep canonical correlation analysis",
    ICML 2013: :math:`\\max_{f_1, f_2} \\operatorname{corr}(f_1(X_1), f_2(X_2))`
    (:func:`~polymodal.representation.dcca_loss.cca_correlation`, the sum of the
    top ``n_components`` canonical correlations of a batch, regularised by
    ``reg``). ``forward`` takes ``{modality: (batch, p_m)}`` and returns the
    encoder outputs; ``loss`` is the negative correlation.

    The estimator :class:`DCCA` trains this network and, as in the paper,
    fits a final linear :class:`CCA` on its outputs.

    Parameters
    ----------
    encoders : mapping of exactly two modality names to modules (batch, p) -> (batch, o)
    n_components : int or None — correlations summed in the loss and kept by the
        final linear CCA (None: all ``min(o1, o2)``)
    reg : float — ridge added to the batch covariances

    Examples
    --------
    >>> enc = {"a": nn.Linear(4, 2), "b": nn.Linear(3, 2)}
    >>> model = DCCANetwork(enc, n_components=2)
    >>> batch = {"a": torch.randn(16, 4), "b": torch.randn(16, 3)}
    >>> model.loss(batch).shape
    torch.Size([])
    """

    def __init__(self, encoders: Mapping[str, nn.Module], n_components: int | None = None,
                 reg: float = 1e-3):
        super().__init__()
        if len(encoders) != 2:
            raise ModalityError(
                f"{type(self).__name__} needs exactly 2 modalities; got {list(encoders)}"
            )
        self.encoders = nn.ModuleDict(dict(encoders))
        self.modalities = list(encoders)
        self.n_components = n_components
        self.reg = reg

    def _inputs(self, batch: Mapping[str, Tensor]) -> list[Tensor]:
        missing = [m for m in self.modalities if m not in batch]
        if missing:
            raise ModalityError(
                f"batch is missing modality {missing[0]!r}; expected {self.modalities}, "
                f"got {list(batch)}"
            )
        return [batch[m] for m in self.modalities]

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {m: self.encoders[m](x) for m, x in zip(self.modalities, self._inputs(batch))}

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Negative canonical correlation of the batch's encoder outputs."""
        h = self(batch)
        return cca_loss(h[self.modalities[0]], h[self.modalities[1]], self.n_components,
                        self.reg)


class DCCAENetwork(DCCANetwork):
    """Deep canonically correlated autoencoder (Wang, Arora, Livescu & Bilmes,
    "On deep multi-view representation learning", ICML 2015):

    .. math::

        \\min\\; -\\operatorname{corr}(f_1(X_1), f_2(X_2))
        + \\lambda \\sum_{j=1,2} \\tfrac{1}{n}\\lVert X_j - g_j(f_j(X_j)) \\rVert^2,

    with decoders ``g_j``; ``lam`` (``lambda``) trades reconstruction against
    correlation (``lam=0`` is DCCA). The estimator is :class:`DCCAE`.

    Examples
    --------
    >>> enc = {"a": nn.Linear(4, 2), "b": nn.Linear(3, 2)}
    >>> dec = {"a": nn.Linear(2, 4), "b": nn.Linear(2, 3)}
    >>> model = DCCAENetwork(enc, dec, lam=0.1)
    >>> model.loss({"a": torch.randn(8, 4), "b": torch.randn(8, 3)}).item() < 10
    True
    """

    def __init__(self, encoders: Mapping[str, nn.Module], decoders: Mapping[str, nn.Module],
                 lam: float = 1e-2, n_components: int | None = None, reg: float = 1e-3):
        super().__init__(encoders, n_components, reg)
        if set(decoders) != set(encoders):
            raise ModalityError(
                f"decoders must have the encoders' modalities {sorted(encoders)}; "
                f"got {sorted(decoders)}"
            )
        if lam < 0:
            raise ConfigError(f"lam must be >= 0; got {lam!r}")
        self.decoders = nn.ModuleDict(dict(decoders))
        self.lam = lam

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        xs = self._inputs(batch)
        h = [self.encoders[m](x) for m, x in zip(self.modalities, xs)]
        corr = cca_loss(h[0], h[1], self.n_components, self.reg)
        recon = sum(
            ((self.decoders[m](hi) - x) ** 2).sum(dim=1).mean()
            for m, hi, x in zip(self.modalities, h, xs)
        )
        return corr + self.lam * recon



def _mlp(sizes: Sequence[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


_NAMES = ("view0", "view1")


class DCCA(TransformerMixin, BaseEstimator):
    """Deep CCA as a scikit-learn estimator on two views ``[X1, X2]``.

    Andrew, Arora, Bilmes & Livescu, "Deep canonical correlation analysis",
    ICML 2013: :math:`\\max_{f_1, f_2} \\operatorname{corr}(f_1(X_1), f_2(X_2))`
    (:class:`DCCANetwork`, trained by Adam on minibatches through
    :func:`~polymodal.training.estimator_loop.train_network`); then, as in the
    paper, a linear :class:`CCA` is fitted on the encoder outputs of the whole
    training set and :meth:`transform` returns its canonical projections.

    Parameters
    ----------
    n_components : int — correlations in the loss, encoder output size (when
        ``encoders`` is None) and components of the final CCA
    hidden_sizes : tuple of int — hidden layers (tanh) of the default MLP encoders
    encoders : None or sequence of two modules (n, p_i) -> (n, o) — custom
        encoders (deep-copied at fit); ``n_components <= o``
    reg : float — ridge added to the batch covariances and the final CCA
    max_epochs, lr, batch_size, weight_decay : training (``batch_size=None``: full batch)
    random_state : None, int or RandomState — network initialisation and shuffling
    device : "cpu", "cuda", "auto", ...
    verbose : bool — tqdm progress bar on stderr (when it is a TTY)
    validation_fraction : None or float — hold out this fraction of rows and
        stop early when its loss stops improving (``n_iter_no_change`` epochs)

    Attributes
    ----------
    network_ : DCCANetwork — the trained network (on CPU after fit)
    linear_cca_ : CCA — the final linear CCA on the network outputs
    loss_curve_ : list of float — mean training loss per epoch
    n_epochs_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(64, 1))
    >>> X1, X2 = z + 0.1 * rng.normal(size=(64, 3)), z ** 3 + 0.1 * rng.normal(size=(64, 2))
    >>> model = DCCA(n_components=1, hidden_sizes=(8,), max_epochs=20, random_state=0)
    >>> model.fit([X1, X2]).transform([X1, X2])[0].shape
    (64, 1)
    """

    _multiview: ClassVar[bool] = True  # fit([X1, X2]); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"n_components": 1, "hidden_sizes": (4,), "max_epochs": 2,
                                    "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, n_components: int = 2, hidden_sizes: tuple[int, ...] = (64,), encoders=None,
                 reg: float = 1e-3, max_epochs: int = 50, lr: float = 1e-3,
                 batch_size: int | None = 256, weight_decay: float = 0.0, random_state=None,
                 device: str = "cpu", verbose: bool = False,
                 validation_fraction: float | None = None, n_iter_no_change: int = 5):
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.encoders = encoders
        self.reg = reg
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    # ------------------------------------------------------------------ helpers
    def _views(self, X) -> list[np.ndarray]:
        if isinstance(X, Mapping):  # the old {modality: array} form
            X = list(X.values())
        views = check_views(X, type(self).__name__)
        if len(views) != 2:
            raise ModalityError(f"{type(self).__name__} needs exactly 2 views; got {len(views)}")
        return views

    def _encoders(self, dims: list[int]) -> list[nn.Module]:
        if self.encoders is not None:
            if len(self.encoders) != 2:
                raise ModalityError(f"encoders must be 2 modules, one per view; got {len(self.encoders)}")
            return [copy.deepcopy(e) for e in self.encoders]
        return [_mlp([p, *self.hidden_sizes, self.n_components]) for p in dims]

    def _network(self, dims: list[int]) -> DCCANetwork:
        return DCCANetwork(dict(zip(_NAMES, self._encoders(dims))), self.n_components, self.reg)

    # ------------------------------------------------------------------ estimator API
    def fit(self, X, y=None) -> "DCCA":
        """Train the network on the views ``X = [X1 (n, p1), X2 (n, p2)]``, then
        fit the final linear CCA on its outputs."""
        views = self._views(X)
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ConfigError(f"n_components must be an int >= 1; got {self.n_components!r}")
        if views[0].shape[0] < 2:
            raise ShapeError(f"{type(self).__name__} needs at least 2 samples; got n_samples = {views[0].shape[0]}")
        seed = seed_from(self.random_state)
        with seeded(seed):
            net = self._network([v.shape[1] for v in views])
        data = [torch.tensor(v, dtype=torch.float32) for v in views]  # a copy: views may be read-only
        fit = train_network(
            net, lambda m, b: m.loss(dict(zip(_NAMES, b))), data, max_epochs=self.max_epochs,
            lr=self.lr, batch_size=self.batch_size, weight_decay=self.weight_decay,
            random_state=seed, device=self.device, verbose=self.verbose,
            validation_fraction=self.validation_fraction, n_iter_no_change=self.n_iter_no_change,
            min_batch=2, desc=type(self).__name__)
        self.network_ = net.cpu()
        self.loss_curve_, self.n_epochs_ = fit.train_loss, fit.n_epochs
        h = self._features(views)
        self.linear_cca_ = CCA(n_components=self.n_components, reg=self.reg).fit(h[0], h[1])
        return self

    @torch.no_grad()
    def _features(self, views: list[np.ndarray]) -> list[np.ndarray]:
        # a float64 copy of the network: in float32 a row's output depends on the batch it is in (BLAS
        # blocking changes the last bits), which the final CCA's whitening amplifies to ~1e-6
        net = copy.deepcopy(self.network_).double().eval()
        return [net.encoders[m](torch.tensor(v, dtype=torch.float64)).numpy() for m, v in zip(_NAMES, views)]

    def features(self, X) -> list[np.ndarray]:
        """Network outputs (float64) of each view, before the final linear CCA."""
        check_is_fitted(self, "network_")
        return self._features(self._views(X))

    def transform(self, X) -> list[np.ndarray]:
        """Final canonical projections ``[Z1, Z2]``, each (n, n_components)."""
        check_is_fitted(self, "linear_cca_")
        h = self._features(self._views(X))
        return list(self.linear_cca_.transform(h[0], h[1]))

    def fit_transform(self, X, y=None) -> list[np.ndarray]:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def score(self, X, y=None) -> float:
        """Sum of the canonical correlations of ``transform(X)`` (e.g. held out)."""
        return canonical_score(self.transform(X))


class DCCAE(DCCA):
    """DCCAE (Wang, Arora, Livescu & Bilmes, ICML 2015) as a scikit-learn estimator:
    :class:`DCCA` whose network (:class:`DCCAENetwork`) also reconstructs each
    view from its code, weighted by ``lam``. ``decoders``: None (MLPs mirroring
    the encoders) or two modules (n, o) -> (n, p_i). Other parameters as :class:`DCCA`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X1, X2 = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    >>> DCCAE(n_components=1, hidden_sizes=(4,), lam=0.1, max_epochs=2).fit([X1, X2]).n_epochs_
    2
    """

    def __init__(self, n_components: int = 2, hidden_sizes: tuple[int, ...] = (64,), encoders=None,
                 decoders=None, lam: float = 1e-2, reg: float = 1e-3, max_epochs: int = 50,
                 lr: float = 1e-3, batch_size: int | None = 256, weight_decay: float = 0.0,
                 random_state=None, device: str = "cpu", verbose: bool = False,
                 validation_fraction: float | None = None, n_iter_no_change: int = 5):
        super().__init__(n_components=n_components, hidden_sizes=hidden_sizes, encoders=encoders,
                         reg=reg, max_epochs=max_epochs, lr=lr, batch_size=batch_size,
                         weight_decay=weight_decay, random_state=random_state, device=device,
                         verbose=verbose, validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change)
        self.decoders = decoders
        self.lam = lam

    def _network(self, dims: list[int]) -> DCCAENetwork:
        enc = self._encoders(dims)
        if self.decoders is not None:
            if len(self.decoders) != 2:
                raise ModalityError(f"decoders must be 2 modules, one per view; got {len(self.decoders)}")
            dec = [copy.deepcopy(d) for d in self.decoders]
        else:
            dec = [_mlp([self.n_components, *self.hidden_sizes[::-1], p]) for p in dims]
        return DCCAENetwork(dict(zip(_NAMES, enc)), dict(zip(_NAMES, dec)), self.lam,
                            self.n_components, self.reg)
