"""Validation of the class labels a classifier's ``fit`` receives (one home for
what every polymodal classifier checks before it learns)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from polymodal.core.errors import ShapeError

__all__ = ["class_labels"]


def class_labels(y, who: str) -> np.ndarray:
    """``y`` as a 1-D array of class labels, or a clear error.

    ``None`` raises :class:`ShapeError` ("``who`` requires y to be passed",
    scikit-learn's wording); a column vector ``(n, 1)`` is flattened with
    scikit-learn's ``DataConversionWarning``; any other 2-D ``y`` or
    continuous (regression) targets are refused; NaN/inf labels too. Every refusal is a
    :class:`ShapeError` (a ``ValueError``) whose message keeps scikit-learn's words.
    """
    if y is None:
        raise ShapeError(f"{who} requires y to be passed, but the target y is None")
    try:
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    except ValueError as error:  # NaN / inf / empty / >2-D labels: scikit-learn's message, polymodal's type
        raise ShapeError(f"{who}: {error}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ShapeError(f"y must be 1-D (one label per sample), got shape {y.shape}")
    try:
        check_classification_targets(y)
    except ValueError as error:  # continuous labels: "Unknown label type: continuous" (scikit-learn's words)
        raise ShapeError(f"{error} ({who} got y = {y[:5].tolist()}...; labels must be classes, "
                         "e.g. integers or strings)") from None
    return y
