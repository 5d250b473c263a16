"""Latent-dynamic CRF (Morency, Quattoni & Darrell, CVPR 2007): per-frame
labels with label-specific hidden states in one linear chain. The torch module
(:class:`LatentDynamicCRFNetwork`) holds the math; the scikit-learn frame
labeller (:class:`LatentDynamicCRF`) trains it through the shared estimator loop."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import column_or_1d
from torch import nn

from polymodal.core.contract import checked_data
from polymodal.core.fitted import check_fitted
from polymodal.errors import ConfigError, ShapeError
from polymodal.core.targets import class_labels
from polymodal.fusion.graphical._core import is_table, sequence_expected_failures
from polymodal.fusion.graphical._crf import crf_log_partition
from polymodal.fusion.graphical._crf_estimator import _CRFEstimatorBase, pad
from polymodal.training.estimator_loop import seed_from


class LatentDynamicCRFNetwork(nn.Module):
    """Latent-dynamic CRF (torch module) for frame labelling of (multi-view) sequences.

    Morency, Quattoni & Darrell, "Latent-dynamic discriminative models for
    continuous gesture recognition", CVPR 2007. Each label ``y`` owns a
    disjoint set ``H_y`` of ``states_per_label`` hidden states;

    .. math:: p(y_{1:T} \\mid x) = \\sum_{h:\\, h_t \\in H_{y_t}} p(h \\mid x),\\quad
        p(h \\mid x) \\propto \\exp\\Big(\\sum_t \\theta_{h_t} \\cdot x_t + \\sum_{t>1} \\theta_{h_{t-1} h_t}\\Big)

    and a frame's label marginal is ``p(y_t = y | x) = sum_{h in H_y} p(h_t = h | x)``.
    Several views are concatenated frame-wise (early fusion in the chain).

    Parameters
    ----------
    in_features : int or dict view -> d_v
    n_labels : int
    states_per_label : int
    random_state : int, seed of the initial parameters (N(0, 0.1^2); biases 0)

    Examples
    --------
    >>> m = LatentDynamicCRFNetwork(3, n_labels=2, states_per_label=2)
    >>> bool(torch.allclose(m.frame_log_marginals(torch.zeros(1, 5, 3)).exp().sum(-1), torch.ones(1, 5)))
    True
    """

    def __init__(self, in_features: int | dict[str, int], n_labels: int, states_per_label: int = 2,
                 random_state: int = 0) -> None:
        super().__init__()
        self.views = list(in_features) if isinstance(in_features, dict) else None
        d = sum(in_features.values()) if isinstance(in_features, dict) else int(in_features)
        if n_labels < 1 or states_per_label < 1:
            raise ConfigError(f"n_labels and states_per_label must be >= 1, got {n_labels} and {states_per_label}")
        self.n_labels, self.states_per_label = n_labels, states_per_label
        H = n_labels * states_per_label
        g = torch.Generator().manual_seed(random_state)
        self.obs = nn.Parameter(0.1 * torch.randn(H, d, generator=g))
        self.bias = nn.Parameter(torch.zeros(H))
        self.trans = nn.Parameter(0.1 * torch.randn(H, H, generator=g))
        self.register_buffer("owner", torch.arange(H) // states_per_label, False)  # label of each hidden state
        self.out_features = n_labels

    def _x(self, x: Any) -> torch.Tensor:
        if isinstance(x, dict):
            x = torch.cat([x[v] for v in self.views], -1)
        if x.dim() != 3 or x.shape[-1] != self.obs.shape[1]:
            raise ShapeError(f"x: expected (B, T, {self.obs.shape[1]}), got {tuple(x.shape)}")
        return x

    def _node(self, x: Any) -> torch.Tensor:
        return self._x(x) @ self.obs.T + self.bias

    def log_likelihood(self, x: Any, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(y_{1:T} | x)`` per sample (B,); ``y`` (B, T) labels (padding ignored)."""
        node = self._node(x)
        if y.shape != node.shape[:2]:
            raise ShapeError(f"y: expected labels of shape {tuple(node.shape[:2])}, got {tuple(y.shape)}")
        allowed = self.owner[None, None, :] == y[..., None]
        clamped = node.masked_fill(~allowed, float("-inf"))
        return crf_log_partition(clamped, self.trans, lengths) - crf_log_partition(node, self.trans, lengths)

    def frame_log_marginals(self, x: Any, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(y_t = y | x)``, (B, T, n_labels), from the hidden-state
        marginals (the gradient of log Z with respect to the node potentials)."""
        with torch.enable_grad():
            node = self._node(x).detach().requires_grad_(True)
            logz = crf_log_partition(node, self.trans.detach(), lengths)
            (marg,) = torch.autograd.grad(logz.sum(), node)
        lab = torch.zeros(marg.shape[:-1] + (self.n_labels,), dtype=marg.dtype, device=marg.device)
        lab = lab.index_add_(-1, self.owner, marg)
        return lab.clamp_min(1e-300).log()


class LatentDynamicCRF(ClassifierMixin, _CRFEstimatorBase):
    """Latent-dynamic CRF frame labeller (scikit-learn estimator).

    Morency, Quattoni & Darrell, "Latent-dynamic discriminative models for
    continuous gesture recognition", CVPR 2007: the model of
    :class:`LatentDynamicCRFNetwork` (each label owns ``states_per_label``
    hidden states of one chain), trained on
    ``sum_i log p(y_{i,1:T} | x_i) - l2/2 ||theta||^2`` through
    :func:`~polymodal.training.estimator_loop.train_network` (L-BFGS, one
    iteration per epoch, by default); a frame's label is the argmax of its
    marginal ``p(y_t = y | x) = sum_{h in H_y} p(h_t = h | x)``.

    Every frame has a label. ``X`` is a list of n (T_i, d) arrays with ``y`` a
    list of n (T_i,) label arrays; a 3-D array (n, T, d) with ``y`` (n, T); or
    one sequence as a 2-D array (T, d) with ``y`` (T,) (the HMMs' convention: a
    2-D X is one sequence). Per-sample dicts stream -> (T_i, d_s), a
    ``MultimodalDataset`` or a ``Batch`` are concatenated frame-wise (early
    fusion in the chain). :meth:`predict` and :meth:`predict_proba` answer in
    the same form as ``X``: (T,) / (n, T) arrays or a list of (T_i,) arrays.

    Parameters
    ----------
    states_per_label : int, default 2 — hidden states of each label
    l2, max_epochs, optimizer, lr, max_fun, batch_size, random_state, device, verbose :
        training, as :class:`~polymodal.fusion.graphical.MultiViewHCRF`

    Attributes
    ----------
    classes_ : (n_labels,) frame labels seen in fit
    n_features_in_ : int — d
    network_ : LatentDynamicCRFNetwork (float64, CPU)
    n_iter_, loss_curve_ : as :class:`~polymodal.fusion.graphical.MultiViewHCRF`

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = [np.repeat(rng.integers(0, 2, 4), 5) for _ in range(6)]
    >>> X = [rng.normal(scale=0.5, size=(20, 1)) + 2 * lab[:, None] - 1 for lab in y]
    >>> ld = LatentDynamicCRF(max_epochs=30, random_state=0).fit(X, y)
    >>> ld.predict(X[:1])[0].shape, ld.score(X, y) > 0.9
    ((20,), True)
    """

    _test_params: ClassVar[dict] = {"states_per_label": 1, "max_epochs": 3, "random_state": 0}
    _expected_failed_checks: ClassVar[dict[str, str]] = sequence_expected_failures([
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
    ])

    def __init__(self, states_per_label: int = 2, l2: float = 1e-2, max_epochs: int = 100, optimizer: str = "lbfgs",
                 lr: float = 1.0, max_fun: int | None = None, batch_size: int | None = None, random_state=None,
                 device: str = "cpu", verbose: bool = False) -> None:
        self.states_per_label = states_per_label
        self.l2 = l2
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.max_fun = max_fun
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _sequences(self, X: Any, reset: bool) -> tuple[list[np.ndarray], str]:
        """The sequences and the form of ``X``: "one" (a 2-D X), "array" (3-D) or "list"."""
        if is_table(X):
            return [checked_data(self, X, reset=reset, dtype=np.float64)], "one"
        seqs = self._same_width_sequences(X, reset)
        return seqs, "array" if isinstance(X, np.ndarray) else "list"

    def _labels(self, y: Any, seqs: list[np.ndarray], form: str) -> list[np.ndarray]:
        if y is None:
            raise ShapeError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if form == "one":
            y = np.asarray(y)
            ys = [column_or_1d(y, warn=True) if y.ndim == 2 and y.shape[1] == 1 else y]
        else:
            ys = [np.asarray(v) for v in y]
        if len(ys) != len(seqs):
            raise ShapeError(f"X has {len(seqs)} sequences but y has {len(ys)} label sequences")
        for i, (v, s) in enumerate(zip(ys, seqs)):
            if v.shape != (len(s),):
                raise ShapeError(f"y[{i}]: expected one label per frame, shape ({len(s)},), got {v.shape}")
        class_labels(np.concatenate(ys), type(self).__name__)  # the frame labels are classes (not NaN, not continuous)
        return ys

    def fit(self, X: Any, y: Any = None) -> "LatentDynamicCRF":
        """Train on the sequences ``X`` and their frame labels ``y`` (see the class docstring)."""
        self._check_training()
        if not isinstance(self.states_per_label, numbers.Integral) or self.states_per_label < 1:
            raise ConfigError(f"states_per_label must be an int >= 1; got {self.states_per_label!r}")
        seqs, form = self._sequences(X, reset=True)
        ys = self._labels(y, seqs, form)
        self.classes_, codes = np.unique(np.concatenate(ys), return_inverse=True)
        cuts = np.cumsum([len(v) for v in ys])[:-1]
        x, lens = pad(seqs)
        yt = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(c, dtype=torch.long) for c in np.split(codes, cuts)],
                                             batch_first=True)
        seed = seed_from(self.random_state)
        net = LatentDynamicCRFNetwork(x.shape[-1], len(self.classes_), int(self.states_per_label), seed).double()
        self._train(net, lambda m, b: -m.log_likelihood(b[0], b[2], b[1]), [x, lens, yt], seed)
        return self

    @torch.no_grad()
    def _frame_log_proba(self, X: Any) -> tuple[list[np.ndarray], str]:
        check_fitted(self, "network_", "fit(X, y)")
        seqs, form = self._sequences(X, reset=False)
        x, lens = pad(seqs)
        lp = self.network_.frame_log_marginals(x, lens).numpy()
        return [lp[i, :n] for i, n in enumerate(lens.tolist())], form

    @staticmethod
    def _as_form(per_seq: list[np.ndarray], form: str) -> Any:
        return per_seq[0] if form == "one" else np.stack(per_seq) if form == "array" else per_seq

    def predict_log_proba(self, X: Any) -> Any:
        """``log p(y_t = c | x)`` per frame and class: (T, n_classes), (n, T, n_classes) or a list."""
        return self._as_form(*self._frame_log_proba(X))

    def predict_proba(self, X: Any) -> Any:
        """``p(y_t = c | x)`` per frame and class: (T, n_classes), (n, T, n_classes) or a list."""
        lp, form = self._frame_log_proba(X)
        return self._as_form([np.exp(v) for v in lp], form)

    def predict(self, X: Any) -> Any:
        """The most probable label of each frame: (T,), (n, T) or a list of (T_i,) arrays."""
        lp, form = self._frame_log_proba(X)
        return self._as_form([self.classes_[np.argmax(v, axis=1)] for v in lp], form)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Frame accuracy over all frames of all sequences."""
        if sample_weight is not None:
            raise ConfigError("sample_weight is not supported: frame accuracy weights every frame equally")
        pred, truth = self.predict(X), y
        if isinstance(pred, list):
            pred, truth = np.concatenate(pred), np.concatenate([np.asarray(v) for v in y])
        return float(np.mean(np.asarray(pred).ravel() == np.asarray(truth).ravel()))
