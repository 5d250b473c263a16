"""Zero-shot classification through a coordinated space (DeViSE-style)."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from polymodal.core.contract import checked_data
from polymodal.errors import ConfigError, ShapeError


def hinge_rank_loss(scores: torch.Tensor, y: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """DeViSE's hinge rank loss, mean over samples:
    ``sum_{j != y} max(0, margin - s_y + s_j)`` for scores (n, C), labels (n,)."""
    sy = scores.gather(1, y.view(-1, 1))
    viol = torch.clamp(margin - sy + scores, min=0.0)
    viol = viol.masked_fill(torch.nn.functional.one_hot(y, scores.shape[1]).bool(), 0.0)
    return viol.sum(1).mean()


def _unit(E: np.ndarray) -> np.ndarray:
    return E / np.maximum(np.linalg.norm(E, axis=-1, keepdims=True), 1e-12)


class _LinearMap(torch.nn.Module):
    """The DeViSE map ``M`` (with a bias row) as a module for the shared training loop."""

    def __init__(self, W: torch.Tensor) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(W)


class DeViSE(TransformerMixin, BaseEstimator):
    """Zero-shot classifier: a linear map of a modality into word-vector space,
    classes recognised by the nearest (cosine) class-name vector, so classes
    never seen in training are predicted from their names alone.

    Frome, Corrado, Shlens, Bengio, Dean, Ranzato & Mikolov, "DeViSE: a deep
    visual-semantic embedding model", NeurIPS 2013:

    .. math:: \\min_M \\sum_i \\sum_{j \\ne y_i} \\max(0,\\, m - t_{y_i}^\\top M x_i + t_j^\\top M x_i)
              + \\tfrac{\\alpha}{2} \\|M\\|_F^2,\\quad \\hat y = \\arg\\max_{c \\in \\mathcal{C}} \\cos(M x, t_c)

    with unit class vectors ``t_c``; as in the paper the negatives ``j`` are
    the training labels. ``loss="ridge"`` instead regresses onto the class
    vectors in closed form (``M = T_y^T X (X^T X + alpha I)^{-1}``, the linear
    mapping of Socher et al. 2013 / Palatucci et al. 2009).

    The class-vector table is a hyperparameter: it holds every label the
    model may ever name, seen in training or not. ``fit(X, y)`` learns ``M``
    from the training labels' vectors; ``predict(X)`` ranks every label of
    the table, and ``predict(X, candidates=unseen)`` restricts the ranking to
    the given labels: the zero-shot path (classes absent from ``y``).

    Parameters
    ----------
    class_embeddings : mapping, array or None
        The class vectors: a mapping label -> (k,) vector, or an (n_classes, k)
        array whose rows are the vectors of ``classes``. None: one-hot vectors
        of the training labels (no zero-shot; a linear ranking classifier).
    classes : sequence or None
        Labels of the rows of an array ``class_embeddings`` (None: 0..n_classes-1).
    loss : str
        "hinge" (DeViSE) or "ridge".
    margin : float
        The hinge margin ``m``.
    alpha : float
        L2 weight.
    max_epochs : int
        Full-batch Adam steps of the hinge loss (the shared estimator loop).
    lr : float
        Adam learning rate of the hinge loss.
    random_state : int, RandomState or None
        Seed of the initial map.
    device : str
        Where the hinge-loss map trains (default the CPU).
    verbose : bool
        tqdm progress bar on stderr (when it is a TTY).

    Attributes
    ----------
    classes_ : (C,) array
        Every label of the class table (what ``predict`` may return).
    embeddings_ : (C, k) array
        The unit class vectors, one row per ``classes_``.
    seen_classes_ : array
        The training labels.
    coef_ : (d + 1, k) array
        The map ``M`` (last row: bias) on the z-scored features.
    mean_, scale_ : (d,) arrays
        The z-scoring of X.
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> E = {c: rng.normal(size=4) for c in range(8)}
    >>> A = rng.normal(size=(4, 6))
    >>> y = np.repeat(np.arange(6), 10)
    >>> X = np.stack([E[c] for c in y]) @ A
    >>> m = DeViSE(class_embeddings=E, loss="ridge").fit(X, y)  # classes 6 and 7 unseen
    >>> m.predict(np.stack([E[6], E[7]]) @ A, candidates=[6, 7]).tolist()
    [6, 7]
    """

    _test_params: ClassVar[dict] = {"max_epochs": 5}
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __init__(self, class_embeddings=None, classes=None, loss: str = "hinge", margin: float = 0.1,
                 alpha: float = 1e-3, max_epochs: int = 300, lr: float = 1e-2, random_state=0,
                 device: str | torch.device = "cpu", verbose: bool = False) -> None:
        self.class_embeddings = class_embeddings
        self.classes = classes
        self.loss = loss
        self.margin = margin
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.lr = lr
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    def _table(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels (C,), unit vectors (C, k)) of ``class_embeddings``."""
        table = self.class_embeddings
        if table is None:
            labels = np.unique(y)
            return labels, np.eye(len(labels))
        if isinstance(table, Mapping):
            if self.classes is not None:
                raise ConfigError("classes names the rows of an array class_embeddings; "
                                  "a mapping class_embeddings already names its labels")
            labels = np.array(list(table))
            vectors = list(table.values())
        else:
            vectors = table
            labels = np.arange(len(table)) if self.classes is None else np.asarray(self.classes)
        if len(labels) == 0:
            raise ShapeError("class_embeddings must hold at least one class vector, got none")
        try:
            E = np.stack([np.asarray(v, dtype=float) for v in vectors])
        except ValueError as err:
            raise ShapeError(f"class_embeddings must hold finite vectors of one size ({err})") from None
        if E.ndim != 2 or not np.all(np.isfinite(E)) or len(E) != len(labels):
            raise ShapeError(f"class_embeddings must hold one finite vector per label ({len(labels)} labels), "
                             f"got an array of shape {E.shape}")
        if len(np.unique(labels)) != len(labels):
            raise ShapeError("the labels of class_embeddings (classes) must be distinct")
        zero = np.flatnonzero(np.linalg.norm(E, axis=1) == 0)
        if len(zero):  # no direction: cosine 0 to every image, a class that is never predicted
            raise ShapeError(f"class_embeddings: the vector of label {labels.tolist()[zero[0]]!r} is all zeros; "
                             "each class needs a non-zero vector (a direction to compare by cosine)")
        return labels, _unit(E)

    def fit(self, X: Any, y: Any) -> "DeViSE":
        """Learn the map from X (n, d) to the vectors of the labels y (n,)."""
        X, y = checked_data(self, X, y, dtype=np.float64, y_numeric=False)
        labels, E = self._table(y)
        pos = {lab: i for i, lab in enumerate(labels.tolist())}
        missing = sorted({lab for lab in y.tolist() if lab not in pos}, key=str)
        if missing:
            raise ShapeError(f"class_embeddings lacks vectors for training label(s) {missing[:5]}")
        self.classes_, self.embeddings_ = labels, E
        seen = np.unique(y)
        self.seen_classes_ = seen
        idx = np.array([pos[lab] for lab in y.tolist()], dtype=np.int64)
        self.mean_, self.scale_ = X.mean(0), X.std(0) + 1e-8
        Z = (X - self.mean_) / self.scale_
        Zb = np.c_[Z, np.ones(len(Z))]
        if self.loss == "ridge":
            reg = self.alpha * np.eye(Zb.shape[1])
            reg[-1, -1] = 0.0
            self.coef_ = np.linalg.solve(Zb.T @ Zb + reg, Zb.T @ E[idx])  # (d + 1, k)
        elif self.loss == "hinge":
            from polymodal.training.estimator_loop import resolve_device, seed_from, seeded, train_network

            # the ranking runs over the training labels only (the paper's negatives)
            train_rows = [pos[lab] for lab in seen.tolist()]
            local = np.searchsorted(seen, y)  # index of each label among the sorted training labels
            seed = seed_from(self.random_state)
            dev = resolve_device(self.device)
            with seeded(seed):
                net = _LinearMap(0.01 * torch.randn(Zb.shape[1], E.shape[1], dtype=torch.float64))
            Et = torch.as_tensor(E[train_rows], device=dev)
            train_network(  # full batch, rows in order: Adam on the DeViSE objective
                net, lambda m, b: hinge_rank_loss(b[0] @ m.W @ Et.T, b[1], self.margin)
                + 0.5 * self.alpha * (m.W[:-1] ** 2).sum(),
                [torch.as_tensor(Zb), torch.as_tensor(local)], max_epochs=self.max_epochs, lr=self.lr,
                batch_size=None, shuffle=False, random_state=seed, device=dev, verbose=self.verbose,
                desc=type(self).__name__)
            self.coef_ = net.W.detach().cpu().numpy()
        else:
            raise ConfigError(f"loss must be 'hinge' or 'ridge', got {self.loss!r}")
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Unit-normalised image of X in the word-vector space, (n, k)."""
        check_is_fitted(self, "coef_")
        X = checked_data(self, X, dtype=np.float64, reset=False)
        Z = (X - self.mean_) / self.scale_
        return _unit(np.c_[Z, np.ones(len(Z))] @ self.coef_)

    def _candidates(self, candidates) -> tuple[np.ndarray, np.ndarray]:
        if candidates is None:
            return self.classes_, self.embeddings_
        cand = np.asarray(list(candidates))
        pos = {lab: i for i, lab in enumerate(self.classes_.tolist())}
        unknown = [c for c in cand.tolist() if c not in pos]
        if unknown or len(cand) == 0:
            raise ShapeError(f"candidates must be labels of class_embeddings; unknown: {unknown[:5]}"
                             if unknown else "candidates must name at least one label")
        return cand, self.embeddings_[[pos[c] for c in cand.tolist()]]

    def decision_function(self, X: Any, candidates=None) -> np.ndarray:
        """Cosine similarity to every candidate class vector, (n, n_candidates);
        ``candidates``: labels of the table (None: all of ``classes_``)."""
        check_is_fitted(self, "coef_")
        _, E = self._candidates(candidates)
        return self.transform(X) @ E.T

    def predict(self, X: Any, candidates=None) -> np.ndarray:
        """The candidate label with the most similar class vector (None: all of
        ``classes_``; pass the unseen labels for zero-shot recognition)."""
        check_is_fitted(self, "coef_")
        labels, E = self._candidates(candidates)
        return labels[np.argmax(self.transform(X) @ E.T, 1)]
