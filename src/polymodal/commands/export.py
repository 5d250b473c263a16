"""``polymodal export CHECKPOINT``: a checkpoint to ONNX, TorchScript or a torch.export program."""

from __future__ import annotations

import argparse
from pathlib import Path

from polymodal._cli import HelpFormatter, check_output_file, positive_int
from polymodal.errors import CheckpointError

HELP = "export a checkpoint to ONNX, TorchScript or a torch.export program"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help=HELP, formatter_class=HelpFormatter,
                              description="Rebuild the model of a `polymodal train` checkpoint and export it, traced "
                              "on its test split; inputs: one tensor per modality then one (N,) bool present mask per "
                              "modality; the batch size stays dynamic. Writes FILE and FILE.json (names, shapes).")
    p.add_argument("checkpoint", type=Path, help="a .ckpt file written by `polymodal train`")
    p.add_argument("--format", choices=["onnx", "torchscript", "exported-program"], default="onnx",
                   help="what to write")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="output file (default: the checkpoint's path with .onnx, .pt or .pt2)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="example batch for tracing")
    return p


def run(args: argparse.Namespace) -> int:
    from polymodal.export import SUFFIXES, export_checkpoint

    out = args.out if args.out is not None else args.checkpoint.with_suffix(SUFFIXES[args.format])
    check_output_file(out, "--out")
    if not args.checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {args.checkpoint}")
    path = export_checkpoint(args.checkpoint, out, format=args.format, batch_size=args.batch_size)
    print(f"exported {args.format}: {path} (inputs and outputs: {path}.json)")
    return 0
