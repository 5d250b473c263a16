"""polymodal.translation: decoding (greedy, beam search), encoder-decoder and attention captioning,
seq2seq with attention, example-based (retrieval) translation and a VQA baseline."""

from polymodal.translation.attention import StepwiseDecoder, token_loss
from polymodal.translation.captioning import CaptionOutput, GridImageEncoder, ShowAndTell, ShowAttendTell
from polymodal.translation.decoding import DecodeResult, Hypothesis, beam_search, greedy_decode, map_state
from polymodal.translation.retrieval import (CONSENSUS_METRICS, CaptionRetrievalResult, RetrievalCaptioner,
                                             consensus_scores)
from polymodal.translation.seq2seq import Seq2SeqAttention
from polymodal.translation.training import GeneratorFit, SequenceGenerationModule, fit_generator, recompute_batchnorm
from polymodal.translation.vqa import FUSIONS, VQABaseline, VQAScores, vqa_accuracy, vqa_tensors
from polymodal.translation.vqa_report import VQAReport, vqa_report, vqa_report_cli

__all__ = [
    "CONSENSUS_METRICS", "CaptionOutput", "RetrievalCaptioner", "CaptionRetrievalResult",
    "consensus_scores", "DecodeResult", "GeneratorFit", "GridImageEncoder", "Hypothesis",
    "Seq2SeqAttention", "SequenceGenerationModule", "ShowAndTell", "ShowAttendTell", "StepwiseDecoder",
    "beam_search", "fit_generator", "recompute_batchnorm", "greedy_decode", "map_state", "token_loss",
    "FUSIONS", "VQABaseline", "VQAScores", "vqa_accuracy", "vqa_tensors",
    "VQAReport", "vqa_report", "vqa_report_cli",
]
