"""``polymodal`` command line: demo, train, evaluate, export, extract, datasets, score-captions.

Errors in the user's input (a :class:`~polymodal.errors.PolymodalError`) are
printed as one line ``error: ...`` with exit status 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polymodal._cli import check_output_dir, positive_int, user_errors
from polymodal.errors import CheckpointError

__all__ = ["main"]


def _register_parts() -> None:
    from polymodal.core.registry import load_builtin_parts

    load_builtin_parts()


def cmd_demo(args: argparse.Namespace) -> int:
    from polymodal.benchmarks.demo import run_demo
    from polymodal.benchmarks.report import format_leaderboard, leaderboard

    check_output_dir(args.out, "--out")
    runs, report = run_demo(seeds=args.seeds, out_dir=args.out, workers=args.workers, max_epochs=args.max_epochs)
    print()
    print(format_leaderboard(leaderboard(runs)))
    print(f"\nreport: {report.resolve()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from polymodal.training.config import check_trainer_here, load_config

    config = load_config(args.config, args.overrides)  # before the heavy imports: a bad file fails fast
    _register_parts()
    from polymodal.training.engine import fit

    check_trainer_here(config.trainer)
    check_output_dir(Path(config.output_dir) / config.name, "config key 'output_dir'")
    result = fit(config, resume=args.resume or False, overwrite=args.overwrite,
                 resume_with_changes=args.resume_with_changes, verbose=args.verbose)
    if result is None:  # a non-zero DDP rank
        return 0
    if result.already_finished:
        print(f"run {result.run_dir} had already finished ({result.epochs} epochs); nothing was retrained "
              "(to train longer: --resume --resume-with-changes trainer.max_epochs=N)", file=sys.stderr)
    print(f"best checkpoint: {result.best_checkpoint}")
    for split, values in (("val", result.val_metrics), ("test", result.test_metrics)):
        print(f"{split}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()))
    print(f"epochs: {result.epochs}, parameters: {result.n_parameters:,}, train seconds: {result.train_seconds:.2f}")
    return 0


class _ResumeAction(argparse.Action):
    """``--resume [CHECKPOINT]``: a ``key=value`` after it is an override, not a
    checkpoint path (``--resume trainer.max_epochs=20``), unless that file exists
    or ends in ``.ckpt`` (Lightning names checkpoints ``epoch=3-step=40.ckpt``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(values, str) and "=" in values and not values.endswith(".ckpt") and not Path(values).exists():
            namespace.resume_overrides = [*getattr(namespace, "resume_overrides", []), values]
            values = True
        setattr(namespace, self.dest, values)


def _train_overrides(args: argparse.Namespace, extra: list[str], parser: argparse.ArgumentParser) -> None:
    """Overrides given after a flag (``--resume --resume-with-changes trainer.max_epochs=20``)
    join the others; anything else unrecognised is argparse's usual error."""
    if extra and not (args.command == "train" and all("=" in e and not e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "train":
        args.overrides = [*args.overrides, *getattr(args, "resume_overrides", []), *extra]


def cmd_evaluate(args: argparse.Namespace) -> int:
    _register_parts()
    from polymodal.training.engine import evaluate, load_trained

    model, task, config, datamodule = load_trained(args.checkpoint)
    if args.drop:
        datamodule.dataset.check_modalities(args.drop)
    loader = datamodule.val_dataloader() if args.split == "val" else datamodule.test_dataloader()
    values = evaluate(model, task, loader, drop=tuple(args.drop or ()))
    dropped = f" without {', '.join(args.drop)}" if args.drop else ""
    print(f"{config.name} on the {args.split} split{dropped}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from polymodal._cli import check_output_file
    from polymodal.export import SUFFIXES, export_checkpoint

    out = args.out if args.out is not None else args.checkpoint.with_suffix(SUFFIXES[args.format])
    check_output_file(out, "--out")
    if not args.checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {args.checkpoint}")
    _register_parts()
    path = export_checkpoint(args.checkpoint, out, format=args.format, batch_size=args.batch_size)
    print(f"exported {args.format}: {path} (inputs and outputs: {path}.json)")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from polymodal.training.config import load_config

    config = load_config(args.config, args.overrides)
    out = args.out if args.out is not None else Path(config.output_dir) / f"{config.name}-features"
    check_output_dir(out, "--out")
    _register_parts()
    from polymodal.training.feature_cache import extract_features

    result = extract_features(config, out, batch_size=args.batch_size, force=args.force)
    if result.extracted:
        print(f"extracted {', '.join(result.extracted)} in {result.seconds:.2f} s")
    if result.skipped:
        print(f"up to date (same encoder, preprocessing and data): {', '.join(result.skipped)}")
    print(f"feature cache: {result.path} (train on it with data.name=feature_cache data.options.path={result.path})")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from polymodal.data import list_datasets

    lines = []  # all collected first: nothing is printed unless every entry could be checked
    for info in list_datasets():
        ok, how = info.availability()
        lines += [f"{info.name}: {info.description}", f"    source:  {info.source}",
                  f"    licence: {info.licence}", f"    here:    {'available' if ok else 'NOT available: ' + how}"]
    print("\n".join(lines))
    return 0


# commands that parse their own arguments: name -> "module:function(argv) -> exit status"
DELEGATED = {
    "score-captions": "polymodal.metrics.captioning.cli:score_captions_cli",
    "align": "polymodal.alignment.cli:align_cli",
    "captioning-report": "polymodal.benchmarks.captioning:captioning_report_cli",
    "vqa-shapes": "polymodal.translation.vqa_report:vqa_report_cli",
}

# dataset builders: name -> "module:function(argv) -> exit status"
DATASET_BUILDERS = {"av-digits": "polymodal.data.av_digits_build:build_av_digits_cli"}


def cmd_datasets_build(argv: list[str]) -> int:
    import importlib

    usage = f"usage: polymodal datasets build {{{','.join(DATASET_BUILDERS)}}} [options]"
    if not argv:
        print(f"{usage}\nerror: name the dataset to build, one of {sorted(DATASET_BUILDERS)}", file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(f"{usage}\n\nBuild a dataset from sources reachable offline; "
              "`polymodal datasets build NAME --help` for options.")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in DATASET_BUILDERS:
        print(f"error: no builder for dataset {name!r}; buildable: {sorted(DATASET_BUILDERS)}", file=sys.stderr)
        return 2
    module, function = DATASET_BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), function)(rest)


def build_parser() -> argparse.ArgumentParser:
    from polymodal import __version__

    parser = argparse.ArgumentParser(prog="polymodal", description="Multimodal machine learning toolkit.")
    parser.add_argument("--version", action="version", version=f"polymodal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="all fusion methods on the bundled mfeat dataset, 5 seeds, with a report",
                          description="Train each view alone and early/late/hybrid/intermediate fusion of all six "
                          "mfeat views on several seeds; print a leaderboard and write report.md + PNGs.")
    demo.add_argument("--seeds", type=positive_int, default=5, help="number of seeds (default 5)")
    demo.add_argument("--out", type=Path, default=Path("reports/demo"), help="report folder (default reports/demo)")
    demo.add_argument("--workers", type=positive_int, default=None, help="parallel training processes (default: 2 or #cores)")
    demo.add_argument("--max-epochs", type=positive_int, default=40, help="epoch limit per model (default 40)")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train the experiment a YAML config describes",
                           description="Train from a YAML experiment file; override keys with key.sub=value.")
    train.add_argument("config", type=Path, help="YAML experiment file")
    train.add_argument("overrides", nargs="*", help="dotted overrides, e.g. trainer.max_epochs=20 seed=3")
    train.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT", action=_ResumeAction,
                       help="continue the run from its latest completed epoch (last.ckpt), or from the "
                       "given checkpoint; the config must be the run's own (config.yaml)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing run (only once the new one has trained; the old one survives failures)")
    train.add_argument("--resume-with-changes", action="store_true",
                       help="with --resume: allow changes to trainer.max_epochs, trainer.patience, "
                       "trainer.progress, trainer.checkpoint_every_n_epochs, trainer.logger and data.num_workers "
                       "(any other change is refused)")
    train.add_argument("--verbose", action="store_true",
                       help="show Lightning's own messages (devices found, tips) and known-harmless warnings")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a checkpoint on its run's test split",
                        description="Rebuild the model from a checkpoint written by `polymodal train` and score it.")
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--split", choices=["val", "test"], default="test")
    ev.add_argument("--drop", nargs="+", metavar="MODALITY", help="modalities missing at test time")
    ev.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser("export", help="export a checkpoint to ONNX, TorchScript or a torch.export program",
                        description="Rebuild the model of a `polymodal train` checkpoint and export it, traced on "
                        "its test split; inputs: one tensor per modality then one (N,) bool present mask per "
                        "modality; the batch size stays dynamic. Writes FILE and FILE.json (names, shapes).")
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("--format", choices=["onnx", "torchscript", "exported-program"], default="onnx")
    ex.add_argument("--out", type=Path, default=None, metavar="FILE",
                    help="output file (default: the checkpoint's path with .onnx, .pt or .pt2)")
    ex.add_argument("--batch-size", type=positive_int, default=8, help="example batch for tracing (default 8)")
    ex.set_defaults(func=cmd_export)

    xf = sub.add_parser("extract", help="run a config's frozen encoders once over its dataset and cache the features",
                        description="Store each modality's encoder features (memory-mapped .npy with the encoder's "
                        "name, revision, weights and preprocessing hash); skipped when nothing changed. Train on "
                        "the cache with data.name=feature_cache data.options.path=FOLDER.")
    xf.add_argument("config", type=Path, help="YAML experiment file (data and model.encoder/encoders are used)")
    xf.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.options.path=other.npz")
    xf.add_argument("--out", type=Path, default=None, metavar="FOLDER",
                    help="cache folder (default: <output_dir>/<name>-features)")
    xf.add_argument("--batch-size", type=positive_int, default=64, help="samples per encoder call (default 64)")
    xf.add_argument("--force", action="store_true", help="extract again even if the cache is up to date")
    xf.set_defaults(func=cmd_extract)

    ds = sub.add_parser("datasets", help="list the datasets (or `datasets build NAME` to build one)",
                        description="List every dataset, its source, licence and whether it loads here. "
                        f"`polymodal datasets build NAME` builds one of {sorted(DATASET_BUILDERS)}.")
    ds.set_defaults(func=cmd_datasets)

    # listed for --help; main() hands their arguments to their own parsers
    sub.add_parser("score-captions", help="BLEU-1..4 / ROUGE-L / CIDEr-D / METEOR of captions (COCO conventions)")
    sub.add_parser("align", help="align two (or more) sequences: DTW, CTW, GCTW, with a plot")
    sub.add_parser("captioning-report", help="train and score captioners on Tux Paint stamps, with a report")
    sub.add_parser("vqa-shapes", help="the VQA baseline on generated shape scenes, accuracy per question type")
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
    if argv and argv[0] in DELEGATED:  # commands with their own parser, --help included
        module, function = DELEGATED[argv[0]].split(":")
        import importlib

        try:
            command = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as error:
            print(f"error: `polymodal {argv[0]}` is not available in this build ({error})", file=sys.stderr)
            return 2
        return command(argv[1:])
    if argv[:2] == ["datasets", "build"]:
        return cmd_datasets_build(argv[2:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    _train_overrides(args, extra, parser)
    return args.func(args)

if __name__ == "__main__":
    sys.exit(main())
