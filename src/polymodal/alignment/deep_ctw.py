"""Deep canonical time warping: neural projections trained with the deep-CCA
objective on the aligned pairs, alternated with DTW."""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from polymodal.alignment._validation import as_sequence
from polymodal.alignment.ctw import CTW, _project, alignment_error, two_views
from polymodal.alignment.dtw import dtw
from polymodal.errors import ConfigError, ModalityError
from polymodal.representation import CCA
from polymodal.representation.dcca import DCCANetwork, _mlp
from polymodal.training.estimator_loop import make_optimizer, seed_from, seeded, train_network

__all__ = ["DeepCTW"]

_NAMES = ("x", "y")


class DeepCTW(TransformerMixin, BaseEstimator):
    """Deep Canonical Time Warping (Trigeorgis, Nicolaou, Zafeiriou & Schuller,
    "Deep Canonical Time Warping", CVPR 2016; TPAMI 2018).

    Alternates (1) training one network per sequence, :math:`f_x, f_y`, to
    maximise the total canonical correlation of the currently aligned pairs
    (the deep-CCA objective of Andrew et al., ICML 2013, a
    :class:`~polymodal.representation.DCCANetwork` on the pairs),

    .. math:: \\max_{f_x, f_y} \\operatorname{corr}(f_x(X) \\Delta_x, f_y(Y) \\Delta_y),

    and (2) DTW between the linear-CCA projections of the network outputs,
    which gives the next alignment :math:`\\Delta_x, \\Delta_y`.  Starts from
    :class:`CTW`'s alignment (``init="ctw"``) or the uniform one; keeps the
    iterate with the lowest DTW objective per aligned pair.  Two sequences
    (the CVPR paper's setting).

    Step (1) trains through
    :func:`~polymodal.training.estimator_loop.train_network` (device, seeding,
    progress bar) with its ``step=`` hook: one Adam optimiser persists across
    the alternations (the aligned pairs change between them, the optimiser
    state does not), and each step is a full-batch update on the pairs.

    A scikit-learn estimator; the two sequences are two views, ``fit([x, y])``
    (or ``fit(x, y)``), and their lengths and dimensions may differ.

    Parameters
    ----------
    n_components : int
        Output size of both networks (default 2).
    hidden_sizes : tuple of int
        Hidden layers (tanh) of the default MLP networks.
    encoders : None or pair of modules
        Custom networks ``(f_x, f_y)``, (T, d) -> (T, n_components), deep-copied
        at fit (then ``hidden_sizes`` is unused).
    max_iter : int
        Alternations of network training and DTW.
    max_epochs : int
        Full-batch Adam steps per alternation (0: the untrained networks).
    lr, reg : float
        Learning rate; covariance ridge of the deep-CCA loss and the linear CCA.
    init : "ctw" or "uniform"
        The first alignment.
    random_state : None, int or RandomState
        Initialisation of the default networks (default 0).
    device : None or str
        Where the networks train; None: the given encoders' device, else the CPU.
    verbose : bool
        tqdm progress bar on stderr (when it is a TTY).

    Attributes
    ----------
    path_ : (L, 2) alignment
    objective_history_ : list of float — DTW cost after each alternation
    network_ : DCCANetwork — the two trained networks (modalities "x", "y")
    encoders_ : (f_x, f_y) — ``network_``'s networks
    cca_ : CCA — linear CCA on the network outputs of the aligned pairs
    n_iter_ : int — alternations run

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 6, 40))[:, None] * [1.0, 2.0]
    >>> m = DeepCTW(max_iter=2, max_epochs=5).fit([x, x])
    >>> m.path_.shape[1]
    2
    """

    _multiview: ClassVar[bool] = True  # scikit-learn's checks run it through ColumnBlocks (two views)
    _test_params: ClassVar[dict] = {"hidden_sizes": (4,), "max_iter": 1, "max_epochs": 2, "init": "uniform"}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, n_components: int = 2, hidden_sizes: tuple[int, ...] = (32,), encoders=None,
                 max_iter: int = 5, max_epochs: int = 100, lr: float = 1e-2, reg: float = 1e-3,
                 init: str = "ctw", random_state=0, device=None, verbose: bool = False):
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.encoders = encoders
        self.max_iter = max_iter
        self.max_epochs = max_epochs
        self.lr = lr
        self.reg = reg
        self.init = init
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _device(self, encoders) -> torch.device:
        """``device``, else the given encoders' parameters' device, else the CPU."""
        if self.device is not None:
            return torch.device(self.device)
        params = [p for f in encoders for p in f.parameters()]
        return params[0].device if params else torch.device("cpu")

    def _network(self, dx: int, dy: int, seed: int) -> DCCANetwork:
        if self.encoders is None:
            with seeded(seed):
                enc = [_mlp([d, *self.hidden_sizes, self.n_components]).double() for d in (dx, dy)]
        else:
            if len(self.encoders) != 2:
                raise ModalityError(f"encoders must be 2 modules, one per sequence; got {len(self.encoders)}")
            enc = [copy.deepcopy(f) for f in self.encoders]
        return DCCANetwork(dict(zip(_NAMES, enc)), n_components=None, reg=self.reg)

    def _features(self, x: torch.Tensor, y: torch.Tensor):
        net = self.network_
        dev = next(net.parameters()).device
        with torch.no_grad():
            h = net({"x": x.to(dev), "y": y.to(dev)})
        return h["x"].cpu().numpy(), h["y"].cpu().numpy()

    def fit(self, X, y=None) -> "DeepCTW":
        """Align the views ``X = [x, y]`` (or ``fit(x, y)``): ``x`` (n, dx), ``y`` (m, dy)."""
        if self.init not in ("ctw", "uniform"):
            raise ConfigError(f"init must be 'ctw' or 'uniform', got {self.init!r}")
        if self.max_iter < 1 or self.max_epochs < 0:
            raise ConfigError(f"max_iter must be >= 1 and max_epochs >= 0, got {self.max_iter}, {self.max_epochs}")
        x, y = two_views(X, y, "DeepCTW")
        xs, ys = as_sequence(x, "x"), as_sequence(y, "y")
        k, seed = self.n_components, seed_from(self.random_state)
        self.network_ = net = self._network(xs.shape[1], ys.shape[1], seed)
        self.encoders_ = (net.encoders["x"], net.encoders["y"])
        dev = self._device(self.encoders_)
        net.to(dev)
        xt, yt = torch.as_tensor(xs, device=dev), torch.as_tensor(ys, device=dev)
        if self.init == "ctw":
            path = CTW().fit([xs, ys]).path_
        else:
            path = CTW(init="uniform", max_iter=1).fit([xs, ys]).path_
        params = list(net.parameters())
        opt = make_optimizer(params, "adam", self.lr)  # one Adam state across the alternations

        def step(batch):
            opt.zero_grad(set_to_none=True)
            loss = net.loss(dict(zip(_NAMES, batch)))
            loss.backward()
            opt.step()
            return float(loss.detach())

        history: list[float] = []
        best = None
        for _ in range(self.max_iter):
            if self.max_epochs > 0:
                pairs = [xt[torch.as_tensor(path[:, 0], device=dev)], yt[torch.as_tensor(path[:, 1], device=dev)]]
                train_network(net, None, pairs, step=step, max_epochs=self.max_epochs, batch_size=None,
                              shuffle=False, random_state=seed, device=dev, verbose=self.verbose,
                              desc=type(self).__name__)
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
        self.n_iter_ = len(history)
        return self

    def transform(self, X, y=None):
        """Shared-space projections ``(n, k)``, ``(m, k)`` of the views ``X = [x, y]``
        (or ``transform(x, y)``)."""
        check_is_fitted(self, "cca_")
        x, y = two_views(X, y, "DeepCTW")
        hx, hy = self._features(torch.as_tensor(as_sequence(x, "x")), torch.as_tensor(as_sequence(y, "y")))
        return _project(self.cca_, hx, hy)

    def fit_transform(self, X, y=None):
        """``fit(X, y).transform(X, y)``."""
        return self.fit(X, y).transform(X, y)

    def alignment_error(self, true_path) -> float:
        """:func:`alignment_error` of ``path_`` against ``true_path``."""
        check_is_fitted(self, "path_")
        return alignment_error(self.path_, true_path)
