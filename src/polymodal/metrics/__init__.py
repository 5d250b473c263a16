"""Metrics: classification/regression, retrieval, captioning."""

from polymodal.metrics.classification import (
    accuracy,
    confusion_matrix,
    f1_macro,
    mean_absolute_error,
    multilabel_f1,
    pearson_r,
    r2_score,
    root_mean_squared_error,
    subset_accuracy,
)

__all__ = [
    "accuracy",
    "confusion_matrix",
    "f1_macro",
    "mean_absolute_error",
    "multilabel_f1",
    "pearson_r",
    "r2_score",
    "root_mean_squared_error",
    "subset_accuracy",
]
