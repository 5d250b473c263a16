"""Zero-shot classification through a coordinated space (DeViSE-style)."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

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

    with unit class vectors ``t_c``. ``loss="ridge"`` instead regresses onto
    the class vectors in closed form (``M = T_y^T X (X^T X + alpha I)^{-1}``,
    the linear mapping of Socher et al. 2013 / Palatucci et al. 2009).

    Parameters
    ----------
    loss : "hinge" (DeViSE) or "ridge"
    margin : float
        The hinge margin ``m``.
    alpha : float
        L2 weight.
    max_epochs, lr : int, float
        Full-batch Adam settings of the hinge loss (the shared estimator loop).
    random_state : int
        Seed of the initial map.
    device : str
        Where the hinge-loss map trains (default the CPU).

    ``fit(X, y, class_embeddings)``: X (n, d), y (n,), class_embeddings a
    mapping label -> (k,) vector for every training label.
    ``predict(X, class_embeddings)``: labels among the candidates given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> E = {c: rng.normal(size=4) for c in range(8)}
    >>> A = rng.normal(size=(4, 6))
    >>> y = np.repeat(np.arange(6), 10)
    >>> X = np.stack([E[c] for c in y]) @ A
    >>> m = DeViSE(loss="ridge").fit(X, y, {c: E[c] for c in range(6)})
    >>> m.predict(np.stack([E[6], E[7]]) @ A, {6: E[6], 7: E[7]}).tolist()
    [6, 7]
    """

    _test_params: ClassVar[dict] = {"max_epochs": 5}
    # zero-shot: fit and predict take class_embeddings (label -> vector) besides X
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys((
        "check_complex_data", "check_dont_overwrite_parameters", "check_dtype_object",
        "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimator_sparse_tag",
        "check_estimators_dtypes", "check_estimators_empty_data_messages", "check_estimators_fit_returns_self",
        "check_estimators_nan_inf", "check_estimators_overwrite_params", "check_estimators_pickle",
        "check_estimators_unfitted", "check_f_contiguous_array_estimator", "check_fit_score_takes_y",
        "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input", "check_dict_unchanged", "check_fit1d", "check_fit2d_1feature",
        "check_fit2d_1sample", "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
        "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes",
    ), "zero-shot: fit and predict need class_embeddings (label -> vector) besides X")

    def __init__(self, loss: str = "hinge", margin: float = 0.1, alpha: float = 1e-3, max_epochs: int = 300,
                 lr: float = 1e-2, random_state: int | None = 0, device: str | torch.device = "cpu",
                 verbose: bool = False) -> None:
        self.loss = loss
        self.margin = margin
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.verbose = verbose
        self.lr = lr
        self.random_state = random_state
        self.device = device

    @staticmethod
    def _table(class_embeddings: Mapping[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
        if not class_embeddings:
            raise ShapeError("class_embeddings must map at least one label to a vector, got none")
        labels = np.array(list(class_embeddings))
        E = np.stack([np.asarray(v, dtype=float) for v in class_embeddings.values()])
        if E.ndim != 2 or not np.all(np.isfinite(E)):
            raise ShapeError(f"class_embeddings must hold finite vectors of one size, got array of shape {E.shape}")
        return labels, _unit(E)

    def fit(self, X: Any, y: Any, class_embeddings: Mapping[Any, Any]) -> "DeViSE":
        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ShapeError(f"X must be (n, d) with n = len(y) = {y.shape[0]}, got {X.shape}")
        labels, E = self._table(class_embeddings)
        missing = sorted(set(y.tolist()) - set(labels.tolist()))
        if missing:
            raise ShapeError(f"class_embeddings lacks vectors for training label(s) {missing[:5]}")
        self.mean_, self.scale_ = X.mean(0), X.std(0) + 1e-8
        Z = (X - self.mean_) / self.scale_
        Zb = np.c_[Z, np.ones(len(Z))]
        idx = np.searchsorted(labels, y, sorter=np.argsort(labels))
        idx = np.argsort(labels)[idx]
        if self.loss == "ridge":
            reg = self.alpha * np.eye(Zb.shape[1])
            reg[-1, -1] = 0.0
            self.coef_ = np.linalg.solve(Zb.T @ Zb + reg, Zb.T @ E[idx])  # (d + 1, k)
        elif self.loss == "hinge":
            from polymodal.training.estimator_loop import resolve_device, seed_from, seeded, train_network

            seed = seed_from(0 if self.random_state is None else self.random_state)
            dev = resolve_device(self.device)
            with seeded(seed):
                net = _LinearMap(0.01 * torch.randn(Zb.shape[1], E.shape[1], dtype=torch.float64))
            Et = torch.as_tensor(E, device=dev)
            train_network(  # full batch, rows in order: Adam on the DeViSE objective
                net, lambda m, b: hinge_rank_loss(b[0] @ m.W @ Et.T, b[1], self.margin)
                + 0.5 * self.alpha * (m.W[:-1] ** 2).sum(),
                [torch.as_tensor(Zb), torch.as_tensor(idx)], max_epochs=self.max_epochs, lr=self.lr,
                batch_size=None, shuffle=False, random_state=seed, device=dev, verbose=self.verbose,
                desc=type(self).__name__)
            self.coef_ = net.W.detach().cpu().numpy()
        else:
            raise ConfigError(f"loss must be 'hinge' or 'ridge', got {self.loss!r}")
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Unit-normalised image of X in the word-vector space, (n, k)."""
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ShapeError(f"X: expected (n, {self.n_features_in_}), got {X.shape}")
        Z = (X - self.mean_) / self.scale_
        return _unit(np.c_[Z, np.ones(len(Z))] @ self.coef_)

    def decision_function(self, X: Any, class_embeddings: Mapping[Any, Any]) -> np.ndarray:
        """Cosine similarity to every candidate class vector, (n, n_candidates)."""
        _, E = self._table(class_embeddings)
        return self.transform(X) @ E.T

    def predict(self, X: Any, class_embeddings: Mapping[Any, Any]) -> np.ndarray:
        labels, _ = self._table(class_embeddings)
        return labels[np.argmax(self.decision_function(X, class_embeddings), 1)]
