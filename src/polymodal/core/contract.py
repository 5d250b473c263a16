"""The scikit-learn checks that feed ``X`` as a 2-D numeric table, and the one
validator (:func:`checked_data`) of a 2-D ``X`` with polymodal's error type.

An estimator whose samples are not rows of a table (a batch of images, a list
of variable-length sequences, pairs of streams) cannot pass these checks: they
build ``X`` as an ``(n_samples, n_features)`` array, then slice, sparsify,
complexify or empty it. Each such estimator declares them as expected failures
with its own one-line reason (``_expected_failed_checks``), drawn from this one
list so the set is stated once.
"""

from __future__ import annotations

from collections.abc import Iterable

from sklearn.utils.validation import check_array, validate_data

from polymodal.core.errors import ShapeError

__all__ = ["TABLE_INPUT_CHECKS", "checked_array", "checked_data", "expected_failures"]


def checked_data(estimator, X, y="no_validation", **kwargs):
    """scikit-learn's ``validate_data(estimator, X, y, **kwargs)`` whose refusals
    (NaN/inf, empty, wrong ndim, strings, complex, feature count, inconsistent
    ``n_samples``) are :class:`~polymodal.errors.ShapeError` with scikit-learn's
    own message (a ``ValueError`` still, so scikit-learn's checks pass); a
    ``TypeError`` (sparse input) stays one. The one table validator of the
    polymodal estimators that take a 2-D ``X``."""
    try:
        return validate_data(estimator, X, y, **kwargs)
    except ValueError as error:
        if isinstance(error, ShapeError):
            raise
        raise ShapeError(str(error)) from None

def checked_array(X, **kwargs):
    """scikit-learn's ``check_array(X, **kwargs)`` with its refusals as :class:`ShapeError`
    (scikit-learn's message), as :func:`checked_data` for an estimator's extra arrays (the
    views of a multi-view estimator, ``input_name`` naming each)."""
    try:
        return check_array(X, **kwargs)
    except ValueError as error:
        if isinstance(error, ShapeError):
            raise
        raise ShapeError(str(error)) from None


TABLE_INPUT_CHECKS: tuple[str, ...] = (
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_estimators_dtypes",
    "check_complex_data",
    "check_dtype_object",
    "check_estimators_empty_data_messages",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
)


def expected_failures(reason: str, also: Iterable[str] = ()) -> dict[str, str]:
    """``{check: reason}`` for every table-input check plus ``also`` (more check names)."""
    return {c: reason for c in (*TABLE_INPUT_CHECKS, *also)}
