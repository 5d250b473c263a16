"""``polymodal train CONFIG.yaml [key.sub=value ...]``: train the experiment a YAML config describes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polymodal._cli import HelpFormatter, check_output_dir

HELP = "train the experiment a YAML config describes"


class _ResumeAction(argparse.Action):
    """``--resume [CHECKPOINT]``: a ``key=value`` after it is an override, not a
    checkpoint path (``--resume trainer.max_epochs=20``), unless that file exists
    or ends in ``.ckpt`` (Lightning names checkpoints ``epoch=3-step=40.ckpt``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(values, str) and "=" in values and not values.endswith(".ckpt") and not Path(values).exists():
            namespace.resume_overrides = [*getattr(namespace, "resume_overrides", []), values]
            values = True
        setattr(namespace, self.dest, values)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help=HELP, formatter_class=HelpFormatter,
                              description="Train from a YAML experiment file; override keys with key.sub=value.")
    p.add_argument("config", type=Path, help="YAML experiment file")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. trainer.max_epochs=20 seed=3")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT", action=_ResumeAction,
                   help="continue the run from its latest checkpointed epoch (last.ckpt, or best.ckpt when "
                   "newer), or from the given checkpoint; the config must be the run's own (config.yaml)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing run (only once the new one has trained; the old one survives failures)")
    p.add_argument("--resume-with-changes", action="store_true",
                   help="with --resume: allow changes to trainer.max_epochs, trainer.patience, "
                   "trainer.progress, trainer.checkpoint_every_n_epochs, trainer.checkpoint_min_interval_s, "
                   "trainer.async_checkpoint, trainer.logger and "
                   "data.num_workers "
                   "(any other change is refused)")
    p.add_argument("--verbose", action="store_true",
                   help="show Lightning's own messages (devices found, tips) and known-harmless warnings")
    return p


def take_extra(args: argparse.Namespace, extra: list[str]) -> bool:
    """Overrides given after a flag (``--resume --resume-with-changes trainer.max_epochs=20``)
    join the others; False if ``extra`` holds anything else (argparse's usual error)."""
    if extra and not all("=" in e and not e.startswith("-") for e in extra):
        return False
    args.overrides = [*args.overrides, *getattr(args, "resume_overrides", []), *extra]
    return True


def run(args: argparse.Namespace) -> int:
    from polymodal.training.config import check_trainer_here, load_config

    config = load_config(args.config, args.overrides)  # before the heavy imports: a bad file fails fast
    from polymodal.training.engine import fit
    from polymodal.training.fast_loop import device_of, lightning_needed

    if lightning_needed(config) is None:
        device_of(config)  # the fast loop's device is there (asking Lightning would import it: seconds)
    else:
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
