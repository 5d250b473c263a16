"""Caption metrics with the COCO caption-evaluation conventions (pycocoevalcap 1.2), fast and offline.

``score_captions`` gives BLEU-1..4, ROUGE-L, CIDEr-D (vectorised numpy) and METEOR
(official jar, one persistent Java process); ``ptb_tokenize`` is a pure-Python
equivalent of the Stanford PTB tokenizer step. SPICE cannot run offline.
"""

from .bleu import BleuResult, corpus_bleu
from .cider import CiderResult, cider_d
from .meteor import JavaNotFoundError, Meteor, SpiceUnavailableError, spice_score
from .ngrams import Corpus, encode_corpus, ngram_counts
from .rouge import RougeResult, rouge_l
from .score import METRICS, CaptionScores, score_captions
from .tokenizer import PTB_PUNCTUATION, ptb_tokenize

__all__ = [
    "BleuResult", "CaptionScores", "CiderResult", "Corpus", "JavaNotFoundError", "METRICS", "Meteor",
    "PTB_PUNCTUATION", "RougeResult", "SpiceUnavailableError", "cider_d", "corpus_bleu", "encode_corpus",
    "ngram_counts", "ptb_tokenize", "rouge_l", "score_captions",
    "spice_score",
]
