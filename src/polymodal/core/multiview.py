"""The multi-view convention and the column-block adapter.

polymodal's classical multi-view estimators take a *sequence of views*
``[X1, X2, ...]`` (each ``(n_samples, p_i)``, same rows); two-view CCA also
keeps scikit-learn's ``fit(X, Y)``. scikit-learn's tools (``Pipeline``,
``cross_val_score``, ``GridSearchCV``) index one 2-D ``X`` by rows, so they
would treat a list of views as a list of samples. :class:`ColumnBlocks` bridges
the two: it takes one 2-D ``X`` whose column ranges are the views, splits it,
and hands the views to the wrapped estimator.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from polymodal.core.contract import checked_data
from polymodal.core.errors import ConfigError, ShapeError

__all__ = ["ColumnBlocks", "is_view_sequence", "split_columns"]


def is_view_sequence(X: object) -> bool:
    """True when ``X`` is a list/tuple of 2-D arrays (the multi-view input form).

    A 2-D array, or a list of samples (rows), is not a view sequence.
    """
    if isinstance(X, np.ndarray) or not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    return all(getattr(v, "ndim", None) == 2 or _nested_2d(v) for v in X)


def _nested_2d(v: object) -> bool:
    if not isinstance(v, (list, tuple)) or not v or not isinstance(v[0], (list, tuple)):
        return False
    return True


def split_columns(X: np.ndarray, blocks: object) -> list[np.ndarray]:
    """Split the columns of ``X`` (n, d) into views.

    ``blocks`` is an int ``m`` (``m`` consecutive, near-equal blocks, as
    :func:`numpy.array_split`), a sequence of widths (``[76, 216]``: columns
    ``0:76`` and ``76:292``; they must sum to ``d``) or a sequence of
    ``(start, stop)`` column ranges (may skip or reuse columns).
    """
    if getattr(X, "ndim", None) != 2:
        raise ShapeError(f"X must be a 2-D array (n, d) whose column blocks are the views, got shape "
                         f"{getattr(X, 'shape', type(X).__name__)}")
    d = X.shape[1]
    if isinstance(blocks, numbers.Integral) and not isinstance(blocks, bool):
        if not 1 <= blocks <= d:
            raise ShapeError(
                f"X has {d} feature(s), but blocks={blocks} views need at least {blocks} columns"
            )
        return np.array_split(X, int(blocks), axis=1)
    if not isinstance(blocks, Sequence) or isinstance(blocks, str) or len(blocks) == 0:
        raise ConfigError(
            f"blocks must be an int, a sequence of widths or of (start, stop) pairs; got {blocks!r}"
        )
    if all(isinstance(b, numbers.Integral) and not isinstance(b, bool) for b in blocks):
        widths = [int(b) for b in blocks]
        if min(widths) < 1 or sum(widths) != d:
            raise ShapeError(
                f"block widths {widths} must be positive and sum to the {d} columns of X; "
                f"they sum to {sum(widths)}"
            )
        offs = np.cumsum([0] + widths)
        return [X[:, a:b] for a, b in zip(offs[:-1], offs[1:])]
    views = []
    for b in blocks:
        if not (isinstance(b, Sequence) and len(b) == 2):
            raise ConfigError(f"each block must be a (start, stop) pair; got {b!r}")
        a, e = int(b[0]), int(b[1])
        if not 0 <= a < e <= d:
            raise ShapeError(f"block ({a}, {e}) is not a non-empty column range of X with {d} columns")
        views.append(X[:, a:e])
    return views


def _inner_has(name: str):
    def check(self):
        return hasattr(self.estimator, name)

    return check


class ColumnBlocks(MetaEstimatorMixin, BaseEstimator):
    """Run a multi-view estimator on one 2-D ``X`` whose column blocks are the views.

    ``ColumnBlocks(MCCA(), blocks=[76, 216])`` fits ``MCCA`` on
    ``[X[:, :76], X[:, 76:292]]``; it is a scikit-learn estimator, so it runs in
    ``Pipeline``, ``cross_val_score`` and ``GridSearchCV`` (tune the wrapped
    estimator with ``estimator__reg``). ``transform`` returns the views'
    components side by side, ``hstack(estimator.transform(views))``;
    ``score``, ``predict``, ``predict_proba`` and ``decision_function`` are the
    wrapped estimator's on the views (present when it has them); for the CCA
    family ``score`` is the sum of held-out canonical correlations. ``X`` may
    hold NaN only when the wrapped estimator's tags allow it
    (``input_tags.allow_nan``: :class:`~polymodal.colearning.BridgeCorrNet` and
    :class:`~polymodal.colearning.PivotBridge`, whose absent view is a whole NaN
    row of its block); that estimator then checks where they are.

    Parameters
    ----------
    estimator : estimator taking a sequence of views (cloned on ``fit``)
    blocks : int, sequence of int, or sequence of (start, stop), default 2
        The views: ``m`` near-equal consecutive blocks, their widths (summing to
        ``X.shape[1]``), or explicit column ranges (see :func:`split_columns`).

    Attributes
    ----------
    estimator_ : the fitted clone of ``estimator``
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from polymodal.representation import MCCA
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(120, 1))
    >>> X = np.hstack([z + 0.1 * rng.normal(size=(120, 3)) for _ in range(3)])
    >>> model = ColumnBlocks(MCCA(n_components=1), blocks=[3, 3, 3])
    >>> model.fit(X).transform(X).shape
    (120, 3)
    >>> bool(cross_val_score(model, X, cv=3).min() > 0.9)
    True
    """

    def __init__(self, estimator, blocks=2):
        self.estimator = estimator
        self.blocks = blocks

    def _views(self, X, reset: bool) -> list[np.ndarray]:
        # NaN only where the wrapped estimator takes it (a bridge's absent view: a whole NaN row of
        # its block, checked by that estimator); refused here otherwise. inf is always refused.
        finite = "allow-nan" if get_tags(self.estimator).input_tags.allow_nan else True
        X = checked_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=finite)
        return split_columns(X, self.blocks)

    def fit(self, X, y=None, **fit_params) -> "ColumnBlocks":
        """Split ``X`` (n, d) into views and fit a clone of ``estimator`` on them."""
        views = self._views(X, reset=True)
        self.estimator_ = clone(self.estimator)
        if y is None:
            self.estimator_.fit(views, **fit_params)
        else:
            self.estimator_.fit(views, y, **fit_params)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def _fitted_views(self, X) -> list[np.ndarray]:
        check_is_fitted(self, "estimator_")
        return self._views(X, reset=False)

    @available_if(_inner_has("transform"))
    def transform(self, X) -> np.ndarray:
        """The wrapped estimator's per-view outputs side by side, (n, sum of widths)."""
        views = self._fitted_views(X)
        out = self.estimator_.transform(views)
        if isinstance(out, (list, tuple)):
            return np.hstack([np.asarray(o).reshape(len(o), -1) for o in out])
        return np.asarray(out)

    @available_if(_inner_has("transform"))
    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """``fit(X, y).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    @available_if(_inner_has("predict"))
    def predict(self, X):
        """``estimator_.predict(views)``."""
        views = self._fitted_views(X)
        return self.estimator_.predict(views)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """``estimator_.predict_proba(views)``."""
        views = self._fitted_views(X)
        return self.estimator_.predict_proba(views)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X):
        """``estimator_.decision_function(views)``."""
        views = self._fitted_views(X)
        return self.estimator_.decision_function(views)

    @available_if(_inner_has("score"))
    def score(self, X, y=None) -> float:
        """``estimator_.score(views, y)`` (sum of held-out canonical correlations for CCA)."""
        views = self._fitted_views(X)
        return self.estimator_.score(views) if y is None else self.estimator_.score(views, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.target_tags = inner.target_tags
        tags.transformer_tags = inner.transformer_tags
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.non_deterministic = inner.non_deterministic
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags
