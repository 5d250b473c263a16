"""Per-class generative sequence classifier (one HMM per class, Bayes rule)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from polymodal.core.contract import checked_data
from polymodal.core.fitted import check_fitted
from polymodal.core.targets import class_labels
from polymodal.errors import ShapeError
from polymodal.fusion.graphical._core import as_samples, is_table, sequence_expected_failures
from polymodal.fusion.graphical.hmm import MultiStreamHMM


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
    arrays or a dict), a 3-D array (n, T, d), a ``MultimodalDataset`` or a
    ``Batch`` of sequence modalities; ``y`` the labels (n,). A 2-D array
    (n, d) (scikit-learn's tabular input) is ``n`` one-frame sequences, for
    which each class model is a Gaussian mixture. ``estimator=None`` uses
    ``MultiStreamHMM(n_states=2)``.

    Examples
    --------
    >>> from polymodal.fusion.graphical import MultiStreamHMM
    >>> rng = np.random.default_rng(0)
    >>> X = [[rng.normal(loc=c, size=(12, 2))] for c in (0, 3) for _ in range(3)]
    >>> clf = HMMClassifier(MultiStreamHMM(2, n_iter=5)).fit(X, [0, 0, 0, 1, 1, 1])
    >>> clf.predict(X).tolist()
    [0, 0, 0, 1, 1, 1]
    """

    _test_params: ClassVar[dict] = {"estimator": MultiStreamHMM(n_states=2, n_iter=5)}  # fast checks

    def __init__(self, estimator: Any = None, use_prior: bool = True) -> None:
        self.estimator = estimator
        self.use_prior = use_prior

    def _samples(self, X: Any, reset: bool) -> Any:
        """Sequence input unchanged; a tabular 2-D array as one-frame sequences."""
        X = as_samples(X)
        if not is_table(X):
            return X
        X = checked_data(self, X, reset=reset, dtype=np.float64)
        if reset and X.shape[0] < 2:
            raise ShapeError(f"a tabular X needs n_samples >= 2 (one frame per sample); got n_samples = {X.shape[0]}")
        return X[:, None, :]

    def fit(self, X: Any, y: Any) -> "HMMClassifier":
        """One clone of ``estimator`` fitted per class on its samples."""
        estimator = MultiStreamHMM(n_states=2) if self.estimator is None else self.estimator
        X = self._samples(X, reset=True)
        y = class_labels(y, "HMMClassifier")
        if len(X) != len(y):
            raise ShapeError(f"X has {len(X)} samples but y has {len(y)} labels")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.class_log_prior_ = np.log(counts / counts.sum())
        self.models_ = [clone(estimator).fit([X[i] for i in np.flatnonzero(y == c)]) for c in self.classes_]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """scikit-learn's decision values: :meth:`predict_joint_log_proba` (n, n_classes),
        or for two classes the log posterior odds of ``classes_[1]`` (n,)."""
        s = self.predict_joint_log_proba(X)
        return s[:, 1] - s[:, 0] if s.shape[1] == 2 else s

    def predict_joint_log_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) log-likelihoods ``log p(x | c)`` (+ ``log p(c)`` with ``use_prior``)."""
        check_fitted(self, "models_", "fit(X, y)")
        X = self._samples(X, reset=False)
        ll = np.stack([m.score_samples(X) for m in self.models_], axis=1)
        return ll + self.class_log_prior_ if self.use_prior else ll

    def predict_proba(self, X: Any) -> np.ndarray:
        s = self.predict_joint_log_proba(X)
        return np.exp(s - logsumexp(s, axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        """The class of highest posterior, (n,)."""
        scores = self.predict_joint_log_proba(X)
        return self.classes_[np.argmax(scores, axis=1)]


class HMMLearnAdapter(BaseEstimator):
    """Wrap an ``hmmlearn`` model so it takes polymodal's list-of-samples
    input (streams concatenated frame-wise) in :class:`HMMClassifier`.

    >>> from hmmlearn.hmm import GaussianHMM
    >>> a = HMMLearnAdapter(GaussianHMM(2, n_iter=5, random_state=0))
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = sequence_expected_failures([
        "check_n_features_in_after_fitting",
        "check_complex_data",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_fit1d",
    ])

    def __init__(self, model: Any = None) -> None:
        self.model = model

    @staticmethod
    def _stack(X: Any) -> list[np.ndarray]:
        from polymodal.fusion.graphical._core import validate_samples

        return [np.concatenate(s, axis=1) for s in validate_samples(X)]

    def fit(self, X: Any, y: Any = None) -> "HMMLearnAdapter":
        """Fit the wrapped model on all frames (``y`` ignored); ``model=None`` is
        ``hmmlearn.hmm.GaussianHMM(n_components=2)``."""
        data = self._stack(X)
        model = self.model
        if model is None:
            from hmmlearn.hmm import GaussianHMM

            model = GaussianHMM(n_components=2)
        self.model_ = clone(model).fit(np.concatenate(data), [len(d) for d in data])
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """Per-sample log-likelihoods (n,)."""
        check_fitted(self, "model_", "fit(X)")
        return np.array([self.model_.score(d) for d in self._stack(X)])
