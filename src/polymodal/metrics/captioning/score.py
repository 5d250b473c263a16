"""``score_captions``: COCO caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D, METEOR) in one call."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError, DatasetError
from .bleu import corpus_bleu
from .cider import cider_d
from .meteor import Meteor, shared_meteor, spice_score
from .ngrams import encode_corpus, ngram_counts
from .rouge import rouge_l
from .tokenizer import PTB_PUNCTUATION, ptb_tokenize_raw

__all__ = ["CaptionScores", "METRICS", "score_captions"]

#: Metric names :func:`score_captions` accepts ("spice" raises, it cannot run offline).
METRICS = ("bleu", "rouge_l", "cider_d", "meteor")


@dataclass
class CaptionScores:
    """Corpus caption scores; a metric not computed is ``None``.

    ``per_image`` maps a metric name (``bleu_1`` ... ``cider_d``, ``meteor``) to an
    array (C,) aligned with ``ids``.
    """

    bleu_1: float | None = None
    bleu_2: float | None = None
    bleu_3: float | None = None
    bleu_4: float | None = None
    rouge_l: float | None = None
    cider_d: float | None = None
    meteor: float | None = None
    ids: list[Hashable] = field(default_factory=list)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """The computed corpus scores, by metric name."""
        names = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d", "meteor")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def _check_inputs(candidates: object, references: object) -> list[Hashable]:
    if not isinstance(candidates, Mapping):
        raise DatasetError(f"candidates must be a dict {{id: caption}}, got {type(candidates).__name__}")
    if not isinstance(references, Mapping):
        raise DatasetError(f"references must be a dict {{id: [captions]}}, got {type(references).__name__}")
    if not candidates:
        raise DatasetError("candidates is empty: expected at least one {id: caption}")
    missing = [k for k in candidates if k not in references]
    if missing:
        raise DatasetError(
            f"{len(missing)} candidate id(s) have no references, e.g. {missing[:3]!r}: every id in "
            "candidates must be in references"
        )
    extra = [k for k in references if k not in candidates]
    if extra:
        raise DatasetError(
            f"{len(extra)} reference id(s) have no candidate, e.g. {extra[:3]!r}: every id in "
            "references must be in candidates (score a subset by passing only its references)"
        )
    ids = list(candidates)
    for k in ids:
        c = candidates[k]
        if not isinstance(c, str):
            raise DatasetError(f"candidates[{k!r}] must be a str, got {type(c).__name__}: {c!r}")
        refs = references[k]
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise DatasetError(f"references[{k!r}] must be a list of str, got {type(refs).__name__}")
        if len(refs) == 0:
            raise DatasetError(f"references[{k!r}] is empty: expected at least one reference caption")
        for j, r in enumerate(refs):
            if not isinstance(r, str):
                raise DatasetError(f"references[{k!r}][{j}] must be a str, got {type(r).__name__}: {r!r}")
    return ids


def _resplit(tokens: list[str]) -> list[str]:
    """``" ".join(tokens).split()``: tokens that hold other whitespace (U+00A0) become several."""
    return tokens if all(len(t.split()) == 1 for t in tokens) else " ".join(tokens).split()


def score_captions(
    candidates: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    metrics: Sequence[str] = METRICS,
    tokenize: bool = True,
    meteor: Meteor | None = None,
) -> CaptionScores:
    r"""Score generated captions against reference captions, exactly as the COCO caption evaluation.

    Computes corpus BLEU-1..4 (Papineni et al., ACL 2002), ROUGE-L (Lin, 2004;
    beta = 1.2), CIDEr-D (Vedantam, Zitnick & Parikh, CVPR 2015) and METEOR 1.5
    (Denkowski & Lavie, WMT 2014) with the conventions of pycocoevalcap 1.2
    (Chen et al., "Microsoft COCO Captions", arXiv 2015): PTB tokenisation with
    punctuation removal (:func:`ptb_tokenize`), corpus BLEU with clipping and the
    closest reference length (ties to the shorter), ROUGE-L from the best
    precision and the best recall, CIDEr-D with IDF from these references. BLEU,
    ROUGE-L and CIDEr-D are vectorised numpy; METEOR runs the official jar in one
    persistent Java process. SPICE is not offered: it downloads Stanford CoreNLP
    at first use and cannot run offline (asking for ``"spice"`` raises).

    An empty candidate (or one that is only punctuation) is scored as an empty
    caption, as pycocoevalcap scores it: 0 ROUGE-L and CIDEr-D, no n-grams but
    its closest reference length still counts in BLEU's brevity penalty.

    Parameters
    ----------
    candidates : dict id -> str
        One generated caption per image.
    references : dict id -> list of str
        The reference captions of each image; same ids as ``candidates``.
    metrics : sequence of str
        Any of ``"bleu"``, ``"rouge_l"``, ``"cider_d"``, ``"meteor"``.
    tokenize : bool
        PTB-tokenise first (default); ``False`` when captions are already tokenised
        (then split on whitespace).
    meteor : Meteor, optional
        A METEOR scorer to use; default a process-wide persistent one.

    Returns
    -------
    CaptionScores

    Raises
    ------
    DatasetError
        Ids that differ between candidates and references, a caption that is not a
        str, an empty reference list.

    Examples
    --------
    >>> s = score_captions({1: "a dog runs on the grass"},
    ...                    {1: ["a dog runs on the grass", "a brown dog running"]},
    ...                    metrics=("bleu", "rouge_l"))
    >>> round(s.bleu_1, 6), round(s.rouge_l, 6)
    (1.0, 1.0)
    """
    wanted = [m.lower() for m in ([metrics] if isinstance(metrics, str) else metrics)]
    if "spice" in wanted:
        spice_score()
    unknown = [m for m in wanted if m not in METRICS]
    if unknown or not wanted:
        raise ConfigError(f"metrics: unknown metric(s) {unknown!r}; expected some of {METRICS!r}")
    ids = _check_inputs(candidates, references)
    cand_text = [candidates[k] for k in ids]
    ref_text = [list(references[k]) for k in ids]
    if tokenize:
        # tokenised like pycocoevalcap: references as one text, candidates as another
        flat = ptb_tokenize_raw([r for refs in ref_text for r in refs])
        it = iter([[t for t in toks if t not in PTB_PUNCTUATION] for toks in flat])
        ref_tok = [[next(it) for _ in refs] for refs in ref_text]
        cand_tok = [[t for t in toks if t not in PTB_PUNCTUATION] for toks in ptb_tokenize_raw(cand_text)]
    else:
        cand_tok = [c.split() for c in cand_text]
        ref_tok = [[r.split() for r in refs] for refs in ref_text]
    # pycocoevalcap joins the jar's tokens with spaces; its BLEU and CIDEr then split that string with
    # str.split() (so "1\u00a01/2" counts as two words there) and its ROUGE-L with split(" ") (one word)
    cand_ws = [_resplit(t) for t in cand_tok]
    ref_ws = [[_resplit(t) for t in refs] for refs in ref_tok]
    out = CaptionScores(ids=ids)
    if any(m in wanted for m in ("bleu", "rouge_l", "cider_d")):
        corpus = encode_corpus(cand_ws, ref_ws)
        if "rouge_l" in wanted and (cand_ws != cand_tok or ref_ws != ref_tok):
            rouge_corpus = encode_corpus(cand_tok, ref_tok)
        else:
            rouge_corpus = corpus
        counts = ngram_counts(corpus, 4) if ("bleu" in wanted or "cider_d" in wanted) else None
        if "bleu" in wanted:
            b = corpus_bleu(corpus, counts)
            for k in range(4):
                setattr(out, f"bleu_{k + 1}", float(b.scores[k]))
                out.per_image[f"bleu_{k + 1}"] = b.per_image[k]
        if "rouge_l" in wanted:
            r = rouge_l(rouge_corpus)
            out.rouge_l, out.per_image["rouge_l"] = r.score, r.per_image
        if "cider_d" in wanted:
            c = cider_d(corpus, counts)
            out.cider_d, out.per_image["cider_d"] = c.score, c.per_image
    if "meteor" in wanted:
        scorer = meteor if meteor is not None else shared_meteor()
        total, per = scorer.score([" ".join(t) for t in cand_tok], [[" ".join(t) for t in refs] for refs in ref_tok])
        out.meteor, out.per_image["meteor"] = total, per
    return out
