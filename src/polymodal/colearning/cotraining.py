"""Co-training (Blum & Mitchell, COLT 1998) for two or more views."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.naive_bayes import GaussianNB

from polymodal.core.contract import checked_array
from polymodal.core.fitted import check_fitted
from polymodal.core.targets import class_labels
from polymodal.errors import ConfigError, ShapeError

UNLABELLED = -1


class CoTraining(ClassifierMixin, BaseEstimator):
    """Co-training with any scikit-learn classifiers, one per view.

    Blum & Mitchell, "Combining labeled and unlabeled data with co-training",
    COLT 1998. Each round, every view's classifier (trained on the current
    labelled set ``L``) labels, in a random pool ``U'`` of ``pool_size``
    unlabelled samples, its ``per_class`` most confident samples for every
    class (probability >= ``threshold``); they join ``L`` with those pseudo
    labels and ``U'`` is refilled from ``U``. With ``agreement=True`` a
    sample is pseudo-labelled only when every view's classifier predicts that
    same class (the views vet each other's confident mistakes; cf. the
    agreement-based co-training of Collins & Singer, EMNLP 1999, and
    tri-training's majority vote, Zhou & Li, TKDE 2005). On mfeat fou + kar
    with logistic regression this turns co-training from a loss into a gain
    over the supervised product rule (1 % labels: 0.737 -> 0.854 against
    0.716; 5 %: 0.805 -> 0.914 against 0.879; 10 %: 0.834 -> 0.925 against
    0.905; ``U'`` of 500; 5 seeds, ``benchmarks/bench_colearning.py``),
    because the weak view's confident errors (pseudo-label accuracy 0.81) no
    longer reach the strong view (0.99 with agreement). With many views
    unanimity is strict and can starve some classes of pseudo-labels (all six
    mfeat views, naive Bayes, 1 % labels: 0.476 against 0.682 supervised and
    0.880 without agreement). Prediction multiplies the views'
    class posteriors (B&M's combination):

    .. math:: \\hat y = \\arg\\max_c \\sum_v \\log p_v(c \\mid x^v)

    Parameters
    ----------
    estimators : classifier or list of classifiers (one per view; a single one is cloned per view);
        each needs ``predict_proba``; None: ``GaussianNB()`` per view
    n_rounds : int, co-training rounds (B&M: 30)
    per_class : int, pseudo-labels per class, view and round
    pool_size : int, size of ``U'`` (B&M: 75)
    threshold : float, minimum confidence for a pseudo-label
    random_state : int
    agreement : bool, pseudo-label only samples on which all views predict the same class

    ``fit(X, y)``: ``X`` a sequence of views, (n, d_v) arrays; ``y`` (n,) with ``-1``
    for unlabelled rows (scikit-learn's semi-supervised convention). In
    ``Pipeline``/``GridSearchCV`` wrap it in :class:`polymodal.core.multiview.ColumnBlocks`.

    Attributes: ``estimators_`` (fitted, per view), ``classes_``,
    ``pseudo_labels_`` (n,) (-1 where a row was never pseudo-labelled),
    ``n_pseudo_`` per round.

    Examples
    --------
    >>> from sklearn.naive_bayes import GaussianNB
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> Xs = [rng.normal(size=(100, 2)) + 2 * y[:, None] for _ in range(2)]
    >>> y_semi = np.where(np.isin(np.arange(100), [0, 1, 50, 51]), y, -1)
    >>> CoTraining(GaussianNB(), n_rounds=5).fit(Xs, y_semi).score(Xs, y) > 0.9
    True
    """

    _multiview: ClassVar[bool] = True  # fit([X1, X2], y); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"n_rounds": 3}
    _expected_failed_checks: ClassVar[dict[str, str]] = {
        "check_classifiers_classes": "semi-supervised convention: y = -1 marks unlabelled rows, so -1 is not a class",
    }

    def __init__(self, estimators: Any = None, n_rounds: int = 30, per_class: int = 1, pool_size: int = 75,
                 threshold: float = 0.0, random_state: int | None = 0, agreement: bool = False) -> None:
        self.estimators = estimators
        self.agreement = agreement
        self.n_rounds = n_rounds
        self.per_class = per_class
        self.pool_size = pool_size
        self.threshold = threshold
        self.random_state = random_state

    def _views(self, Xs: Sequence[Any], n: int | None = None) -> list[np.ndarray]:
        if not isinstance(Xs, (list, tuple)) or len(Xs) < 2:
            raise ShapeError(f"Xs must be a list of >= 2 views (n, d_v), got {type(Xs).__name__} "
                             f"of length {len(Xs) if hasattr(Xs, '__len__') else '?'}")
        views = [checked_array(X, input_name=f"X[{i}]") for i, X in enumerate(Xs)]
        rows = {v.shape[0] for v in views}
        if len(rows) > 1 or (n is not None and rows != {n}):
            raise ShapeError(f"every view needs the same rows{'' if n is None else f' ({n})'}, "
                             f"got {[v.shape[0] for v in views]}")
        if hasattr(self, "n_features_") and [v.shape[1] for v in views] != self.n_features_:
            raise ShapeError(f"expected views with {self.n_features_} features, got {[v.shape[1] for v in views]}")
        return views

    def fit(self, X: Sequence[Any], y: Any = None) -> "CoTraining":
        """Co-train on the views ``X`` with labels ``y`` (``-1``: unlabelled)."""
        y = class_labels(y, "CoTraining")
        self.__dict__.pop("n_features_", None)
        views = self._views(X, y.shape[0])
        if y.shape[0] < 2:
            raise ShapeError(f"CoTraining needs n_samples >= 2; got n_samples = {y.shape[0]}")
        V = len(views)
        estimators = GaussianNB() if self.estimators is None else self.estimators
        base = estimators if isinstance(estimators, (list, tuple)) else [estimators] * V
        if len(base) != V:
            raise ConfigError(f"need one estimator per view ({V}), got {len(base)}")
        labelled = y != UNLABELLED
        self.classes_ = np.unique(y[labelled])
        if self.classes_.size < 2:
            raise ShapeError(f"need labelled samples of >= 2 classes, got classes {self.classes_.tolist()}")
        rng = np.random.default_rng(self.random_state)
        yl = y.copy()
        self.pseudo_labels_ = np.full(y.shape[0], UNLABELLED, dtype=y.dtype)
        unl = rng.permutation(np.flatnonzero(~labelled)).tolist()
        pool, unl = unl[: self.pool_size], unl[self.pool_size:]
        self.n_pseudo_: list[int] = []
        for _ in range(self.n_rounds):
            if not pool:
                break
            L = np.flatnonzero(yl != UNLABELLED)
            fitted = [clone(b).fit(X[L], yl[L]) for b, X in zip(base, views)]
            pool_arr = np.asarray(pool)
            chosen: dict[int, Any] = {}
            probas = [est.predict_proba(X[pool_arr]) for est, X in zip(fitted, views)]
            votes = [est.classes_[np.argmax(proba, 1)] for est, proba in zip(fitted, probas)]
            agree = np.all([v == votes[0] for v in votes], axis=0) if self.agreement else np.ones(len(pool), bool)
            for est, proba in zip(fitted, probas):
                cols = {c: k for k, c in enumerate(est.classes_)}
                for c in self.classes_:
                    if c not in cols:
                        continue
                    p = proba[:, cols[c]]
                    order = [i for i in np.argsort(-p, kind="stable") if p[i] >= self.threshold and agree[i]
                             and pool_arr[i] not in chosen and np.argmax(proba[i]) == cols[c]]
                    for i in order[: self.per_class]:
                        chosen[int(pool_arr[i])] = c
            for i, c in chosen.items():
                yl[i] = c
                self.pseudo_labels_[i] = c
            self.n_pseudo_.append(len(chosen))
            pool = [i for i in pool if i not in chosen]
            refill = self.pool_size - len(pool)
            pool, unl = pool + unl[:refill], unl[refill:]
        L = np.flatnonzero(yl != UNLABELLED)
        self.estimators_ = [clone(b).fit(X[L], yl[L]) for b, X in zip(base, views)]
        self.n_features_ = [v.shape[1] for v in views]
        return self

    def predict_log_proba(self, X: Sequence[Any]) -> np.ndarray:
        """Normalised ``sum_v log p_v(c | x^v)`` (n, n_classes)."""
        check_fitted(self, "estimators_", "fit(X, y)")
        views = self._views(X)
        s = np.zeros((views[0].shape[0], self.classes_.size))
        for est, X in zip(self.estimators_, views):
            p = np.full((X.shape[0], self.classes_.size), 1e-12)
            p[:, np.searchsorted(self.classes_, est.classes_)] += est.predict_proba(X)
            s += np.log(p)
        return s - np.logaddexp.reduce(s, axis=1, keepdims=True)

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_log_proba(X), axis=1)]
