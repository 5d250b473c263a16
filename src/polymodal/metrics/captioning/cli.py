"""``polymodal score-captions CANDIDATES.json REFERENCES.json``: the caption-metrics command."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from ..._cli import user_errors
from .meteor import JavaNotFoundError, SpiceUnavailableError
from .score import METRICS, score_captions

__all__ = ["score_captions_cli"]


@user_errors
def score_captions_cli(argv: list[str]) -> int:
    """Run ``polymodal score-captions``; print a table of corpus scores; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="polymodal score-captions",
        description="COCO caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D, METEOR) of generated captions.",
    )
    parser.add_argument("candidates", help='JSON {id: caption} or [{"image_id", "caption"}]')
    parser.add_argument("references", help='JSON {id: [captions]} or [{"image_id", "caption"}] (COCO)')
    parser.add_argument("--metrics", nargs="+", default=None, choices=list(METRICS) + ["spice"],
                        help="metrics to compute (default: all; METEOR only when Java is installed)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    args = parser.parse_args(argv)
    from ...data.captions import load_captions_json  # the CLI sits above data; metrics itself does not import it

    metrics = args.metrics
    if metrics is None:
        metrics = list(METRICS)
        if shutil.which("java") is None:
            metrics.remove("meteor")
            print("note: Java not found, METEOR skipped", file=sys.stderr)
    try:
        cands = load_captions_json(args.candidates, many=False)
        refs = load_captions_json(args.references, many=True)
        scores = score_captions(cands, refs, metrics=metrics)
    except (JavaNotFoundError, SpiceUnavailableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    values = scores.as_dict()
    if args.json:
        print(json.dumps(values, indent=2))
        return 0
    names = {"bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4",
             "rouge_l": "ROUGE-L", "cider_d": "CIDEr-D", "meteor": "METEOR"}
    print(f"{'metric':<8}  {'score':>8}")
    for k, v in values.items():
        print(f"{names[k]:<8}  {v:>8.4f}")
    print(f"({len(scores.ids)} images)")
    return 0
