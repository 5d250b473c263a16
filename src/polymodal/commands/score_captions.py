"""``polymodal score-captions CANDIDATES.json REFERENCES.json``: the caption-metrics command."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from polymodal._cli import HelpFormatter, run_command
from polymodal.metrics.captioning.meteor import JavaNotFoundError, SpiceUnavailableError
from polymodal.metrics.captioning.score import METRICS

__all__ = ["add_parser", "run", "score_captions_cli"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``polymodal score-captions``'s arguments."""
    parser = subparsers.add_parser(
        "score-captions", help="BLEU-1..4 / ROUGE-L / CIDEr-D / METEOR of captions (COCO conventions)",
        formatter_class=HelpFormatter,
        description="COCO caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D, METEOR) of generated captions.",
    )
    parser.add_argument("candidates", help='JSON {id: caption} or [{"image_id", "caption"}]')
    parser.add_argument("references", help='JSON {id: [captions]} or [{"image_id", "caption"}] (COCO)')
    parser.add_argument("--metrics", nargs="+", default=None, choices=list(METRICS) + ["spice"],
                        help="metrics to compute (default: all; METEOR only when Java is installed)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    return parser


def score_captions_cli(argv: list[str]) -> int:
    """``polymodal score-captions ARGV`` from Python; returns the exit status."""
    return run_command(add_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    """Run ``polymodal score-captions``; print a table of corpus scores; return the exit code."""
    from polymodal.data.captions import load_captions_json
    from polymodal.metrics.captioning.score import score_captions

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
