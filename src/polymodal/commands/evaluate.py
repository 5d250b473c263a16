"""``polymodal evaluate CHECKPOINT``: score a checkpoint on its run's test (or val) split."""

from __future__ import annotations

import argparse
from pathlib import Path

from polymodal._cli import HelpFormatter

HELP = "evaluate a checkpoint on its run's test split"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help=HELP, formatter_class=HelpFormatter,
                              description="Rebuild the model from a checkpoint written by `polymodal train` and score it.")
    p.add_argument("checkpoint", type=Path, help="a .ckpt file written by `polymodal train`")
    p.add_argument("--split", choices=["val", "test"], default="test", help="the split of the run's data to score")
    p.add_argument("--drop", nargs="+", metavar="MODALITY", help="modalities missing at test time (default: none)")
    return p


def run(args: argparse.Namespace) -> int:
    from polymodal.training.engine import evaluate, load_trained

    model, task, config, datamodule = load_trained(args.checkpoint)
    if args.drop:
        datamodule.dataset.check_modalities(args.drop)
    loader = datamodule.val_dataloader() if args.split == "val" else datamodule.test_dataloader()
    values = evaluate(model, task, loader, drop=tuple(args.drop or ()))
    dropped = f" without {', '.join(args.drop)}" if args.drop else ""
    print(f"{config.name} on the {args.split} split{dropped}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()))
    return 0
