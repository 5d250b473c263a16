"""Per-class generative sequence classifier (one HMM per class, Bayes rule)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical._core import as_samples


class HMMClassifier(ClassifierMixin, BaseEstimator):
    """Maximum-a-posteriori classification with one generative sequence model
    per class (the standard HMM recogniser, Rabiner, Proc. IEEE 1989):

    .. math:: \\hat y = \\arg\\max_c \\; \\log p(x \\mid \\theta_c) + \\log p(c)

    Parameters
    ----------
    estimator : an unfitted model with ``fit(X)`` and ``score_samples(X)``
        (``MultiStreamHMM``, ``CoupledHMM``, ``FactorialHMM``, or an
        ``hmmlearn`` model wrapped by :class:`HMMLearnAdapter`); cloned per class.
    use_prior : bool, add ``log p(c)`` from the training class frequencies.

    ``X`` is a list of samples (each a (T, d) array, a list of per-stream
    arrays or a dict), a ``MultimodalDataset`` or a ``Batch`` of sequence
    modalities; ``y`` the labels (n,).

    Examples
    --------
    >>> from polymodal.fusion.graphical import MultiStreamHMM
    >>> rng = np.random.default_rng(0)
    >>> X = [[rng.normal(loc=c, size=(12, 2))] for c in (0, 3) for _ in range(3)]
    >>> clf = HMMClassifier(MultiStreamHMM(2, n_iter=5)).fit(X, [0, 0, 0, 1, 1, 1])
    >>> clf.predict(X).tolist()
    [0, 0, 0, 1, 1, 1]
    """

    def __init__(self, estimator: Any = None, use_prior: bool = True) -> None:
        self.estimator = estimator
        self.use_prior = use_prior

    def fit(self, X: Any, y: Any) -> "HMMClassifier":
        if self.estimator is None:
            raise ConfigError("estimator must be an unfitted sequence model, got None")
        X = as_samples(X)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ShapeError(f"y must be 1-D (one label per sample), got shape {y.shape}")
        if len(X) != len(y):
            raise ShapeError(f"X has {len(X)} samples but y has {len(y)} labels")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.class_log_prior_ = np.log(counts / counts.sum())
        self.models_ = [clone(self.estimator).fit([X[i] for i in np.flatnonzero(y == c)]) for c in self.classes_]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """(n, n_classes) log-likelihoods (+ log prior)."""
        if not hasattr(self, "models_"):
            raise ConfigError("HMMClassifier is not fitted: call fit(X, y) first")
        X = as_samples(X)
        ll = np.stack([m.score_samples(X) for m in self.models_], axis=1)
        return ll + self.class_log_prior_ if self.use_prior else ll

    def predict_proba(self, X: Any) -> np.ndarray:
        s = self.decision_function(X)
        return np.exp(s - logsumexp(s, axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


class HMMLearnAdapter(BaseEstimator):
    """Wrap an ``hmmlearn`` model so it takes polymodal's list-of-samples
    input (streams concatenated frame-wise) in :class:`HMMClassifier`.

    >>> from hmmlearn.hmm import GaussianHMM
    >>> a = HMMLearnAdapter(GaussianHMM(2, n_iter=5, random_state=0))
    """

    def __init__(self, model: Any = None) -> None:
        self.model = model

    @staticmethod
    def _stack(X: Any) -> list[np.ndarray]:
        from polymodal.fusion.graphical._core import validate_samples

        return [np.concatenate(s, axis=1) for s in validate_samples(X)]

    def fit(self, X: Any) -> "HMMLearnAdapter":
        data = self._stack(X)
        self.model_ = clone(self.model).fit(np.concatenate(data), [len(d) for d in data])
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        return np.array([self.model_.score(d) for d in self._stack(X)])
