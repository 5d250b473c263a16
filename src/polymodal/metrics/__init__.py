"""Metrics: classification/regression, retrieval, captioning."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BidirectionalRetrievalResult": ".retrieval",
    "RetrievalResult": ".retrieval",
    "evaluate_retrieval": ".retrieval",
    "ground_truth_ranks": ".retrieval",
    "mean_average_precision": ".retrieval",
    "plot_recall_curve": ".retrieval",
    "recall_curve": ".retrieval",
    "relevance_matrix": ".retrieval",
    "retrieval_recall_at_k": ".retrieval",
    "SentimentScores": ".sentiment",
    "acc5": ".sentiment",
    "acc7": ".sentiment",
    "binary_accuracy": ".sentiment",
    "binary_f1": ".sentiment",
    "sentiment_mae": ".sentiment",
    "sentiment_pearson": ".sentiment",
    "sentiment_scores": ".sentiment",
    "CaptionScores": ".captioning",
    "ptb_tokenize": ".captioning",
    "score_captions": ".captioning",
    "accuracy": ".classification",
    "confusion_matrix": ".classification",
    "f1_macro": ".classification",
    "mean_absolute_error": ".classification",
    "multilabel_f1": ".classification",
    "pearson_r": ".classification",
    "r2_score": ".classification",
    "root_mean_squared_error": ".classification",
    "subset_accuracy": ".classification",
})

__all__ = [
    "BidirectionalRetrievalResult", "RetrievalResult", "evaluate_retrieval", "ground_truth_ranks",
    "mean_average_precision", "plot_recall_curve", "recall_curve", "relevance_matrix", "retrieval_recall_at_k",
    "SentimentScores", "acc5", "acc7", "binary_accuracy", "binary_f1", "sentiment_mae", "sentiment_pearson",
    "sentiment_scores", "CaptionScores", "ptb_tokenize", "score_captions", "accuracy", "confusion_matrix",
    "f1_macro", "mean_absolute_error", "multilabel_f1", "pearson_r", "r2_score", "root_mean_squared_error",
    "subset_accuracy",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.metrics.retrieval import (
        BidirectionalRetrievalResult, RetrievalResult, evaluate_retrieval, ground_truth_ranks, mean_average_precision,
        plot_recall_curve, recall_curve, relevance_matrix, retrieval_recall_at_k,
    )
    from polymodal.metrics.sentiment import (
        SentimentScores, acc5, acc7, binary_accuracy, binary_f1, sentiment_mae, sentiment_pearson,
        sentiment_scores,
    )
    from polymodal.metrics.captioning import CaptionScores, ptb_tokenize, score_captions
    from polymodal.metrics.classification import (
        accuracy, confusion_matrix, f1_macro, mean_absolute_error, multilabel_f1, pearson_r, r2_score,
        root_mean_squared_error, subset_accuracy,
    )
