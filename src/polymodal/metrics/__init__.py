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
from polymodal.metrics.sentiment import (
    SentimentScores,
    acc5,
    acc7,
    binary_accuracy,
    binary_f1,
    sentiment_mae,
    sentiment_pearson,
    sentiment_scores,
)
from polymodal.metrics.captioning import CaptionScores, ptb_tokenize, score_captions

__all__ = [
    "SentimentScores",
    "acc5",
    "acc7",
    "binary_accuracy",
    "binary_f1",
    "sentiment_mae",
    "sentiment_pearson",
    "sentiment_scores",
    "CaptionScores",
    "ptb_tokenize",
    "score_captions",
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
