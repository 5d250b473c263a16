"""polymodal.translation: decoding (greedy, beam search), encoder-decoder and attention captioning,
seq2seq with attention, example-based (retrieval) translation and a VQA baseline."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "CONSENSUS_METRICS": ".retrieval",
    "CaptionOutput": ".captioning",
    "RetrievalCaptioner": ".retrieval",
    "CaptionRetrievalResult": ".retrieval",
    "consensus_scores": ".retrieval",
    "DecodeResult": ".decoding",
    "GridImageEncoder": ".captioning",
    "Hypothesis": ".decoding",
    "Seq2SeqAttention": ".seq2seq",
    "ShowAndTell": ".captioning",
    "ShowAttendTell": ".captioning",
    "StepwiseDecoder": ".attention",
    "beam_search": ".decoding",
    "fit_generator": ".training",
    "recompute_batchnorm": ".training",
    "greedy_decode": ".decoding",
    "map_state": ".decoding",
    "token_loss": ".attention",
    "FUSIONS": ".vqa",
    "VQABaseline": ".vqa",
    "VQAScores": ".vqa",
    "vqa_accuracy": ".vqa",
    "vqa_tensors": ".vqa",
    "VQAReport": ".vqa_report",
    "vqa_report": ".vqa_report",
    "vqa_report_cli": ".vqa_report",
})

__all__ = [
    "CONSENSUS_METRICS", "CaptionOutput", "RetrievalCaptioner", "CaptionRetrievalResult", "consensus_scores",
    "DecodeResult", "GridImageEncoder", "Hypothesis", "Seq2SeqAttention",
    "ShowAndTell", "ShowAttendTell", "StepwiseDecoder", "beam_search", "fit_generator",
    "recompute_batchnorm", "greedy_decode", "map_state", "token_loss", "FUSIONS", "VQABaseline", "VQAScores",
    "vqa_accuracy", "vqa_tensors", "VQAReport", "vqa_report", "vqa_report_cli",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.translation.retrieval import (
        CONSENSUS_METRICS, RetrievalCaptioner, CaptionRetrievalResult, consensus_scores,
    )
    from polymodal.translation.captioning import CaptionOutput, GridImageEncoder, ShowAndTell, ShowAttendTell
    from polymodal.translation.decoding import DecodeResult, Hypothesis, beam_search, greedy_decode, map_state
    from polymodal.translation.training import (
        fit_generator, recompute_batchnorm,
    )
    from polymodal.translation.seq2seq import Seq2SeqAttention
    from polymodal.translation.attention import StepwiseDecoder, token_loss
    from polymodal.translation.vqa import FUSIONS, VQABaseline, VQAScores, vqa_accuracy, vqa_tensors
    from polymodal.translation.vqa_report import VQAReport, vqa_report, vqa_report_cli
