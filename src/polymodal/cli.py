"""``polymodal`` command line.

One table, :data:`COMMANDS`, names every command and the module that owns it;
each command module exposes ``add_parser(subparsers)`` and ``run(args)``. Only
the chosen command's module is imported (``polymodal --help`` loads none).
Errors in the user's input (a :class:`~polymodal.errors.PolymodalError`, an
unreadable file, a full disk) are printed as one line ``error: ...`` with exit
status 2 by the one handler, :func:`polymodal._cli.user_errors`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from polymodal._cli import HelpFormatter, user_errors

__all__ = ["COMMANDS", "build_parser", "main"]

# name -> (module with add_parser(subparsers) and run(args), one-line help for `polymodal --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("polymodal.commands.demo", "all fusion methods on the bundled mfeat dataset, 5 seeds, with a report"),
    "train": ("polymodal.commands.train", "train the experiment a YAML config describes"),
    "evaluate": ("polymodal.commands.evaluate", "evaluate a checkpoint on its run's test split"),
    "export": ("polymodal.commands.export", "export a checkpoint to ONNX, TorchScript or a torch.export program"),
    "extract": ("polymodal.commands.extract",
                "run a config's frozen encoders once over its dataset and cache the features"),
    "datasets": ("polymodal.commands.datasets", "list the datasets (or `datasets build NAME` to build one)"),
    "score-captions": ("polymodal.commands.score_captions",
                       "BLEU-1..4 / ROUGE-L / CIDEr-D / METEOR of captions (COCO conventions)"),
    "align": ("polymodal.alignment.cli", "align two (or more) sequences: DTW, CTW, GCTW, with a plot"),
    "captioning-report": ("polymodal.benchmarks.captioning",
                          "train and score captioners on Tux Paint stamps, with a report"),
    "vqa-shapes": ("polymodal.translation.vqa_report",
                   "the VQA baseline on generated shape scenes, accuracy per question type"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``polymodal`` parser: every command listed; only ``command``'s module
    is imported to add its full parser (the others are one-line entries)."""
    from polymodal import __version__

    parser = argparse.ArgumentParser(prog="polymodal", description="Multimodal machine learning toolkit.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"polymodal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help) in COMMANDS.items():
        if name == command:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``polymodal ARGV``; return the exit status. Every command's bad input
    (PolymodalError, unreadable/missing/non-UTF-8/too deep files, a full or
    read-only disk) ends in one line ``error: ...`` on stderr and status 2
    (the one handler, :func:`polymodal._cli.user_errors`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from polymodal._logging import setup_cli_logging
    from polymodal.training.provenance import set_command

    setup_cli_logging(verbose="--verbose" in argv)
    set_command(["polymodal", *argv])  # what command.txt records in a run folder
    try:
        return _dispatch(argv)
    finally:
        set_command(None)


@user_errors
def _dispatch(argv: list[str]) -> int:
    if argv[:2] == ["datasets", "build"]:
        from polymodal.commands.datasets import build

        return build(argv[2:])
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    take_extra = getattr(module, "take_extra", None)  # train: overrides after a flag
    if extra and not (take_extra is not None and take_extra(args, extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if take_extra is not None and not extra:
        take_extra(args, [])
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
