"""The not-fitted error: scikit-learn's ``NotFittedError`` and a polymodal error."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from polymodal.core.errors import ConfigError

__all__ = ["NotFittedError", "check_fitted"]


class NotFittedError(ConfigError, _SklearnNotFittedError):
    """An estimator used before ``fit``: ``except sklearn.exceptions.NotFittedError``
    and ``except polymodal.errors.ConfigError`` both catch it."""


def check_fitted(estimator, attributes, hint: str = "fit") -> None:
    """Raise :class:`NotFittedError` naming the class unless ``attributes`` are set.

    ``hint`` names the call that fits it (e.g. ``"fit(X, y)"``).
    """
    try:
        check_is_fitted(estimator, attributes)
    except _SklearnNotFittedError:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: call {hint} first"
        ) from None
