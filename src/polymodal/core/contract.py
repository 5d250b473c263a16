"""The scikit-learn checks that feed ``X`` as a 2-D numeric table.

An estimator whose samples are not rows of a table (a batch of images, a list
of variable-length sequences, pairs of streams) cannot pass these checks: they
build ``X`` as an ``(n_samples, n_features)`` array, then slice, sparsify,
complexify or empty it. Each such estimator declares them as expected failures
with its own one-line reason (``_expected_failed_checks``), drawn from this one
list so the set is stated once.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TABLE_INPUT_CHECKS", "expected_failures"]

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
