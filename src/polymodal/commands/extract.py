"""``polymodal extract CONFIG.yaml``: cache the features of a config's frozen encoders."""

from __future__ import annotations

import argparse
from pathlib import Path

from polymodal._cli import HelpFormatter, check_output_dir, positive_int

HELP = "run a config's frozen encoders once over its dataset and cache the features"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("extract", help=HELP, formatter_class=HelpFormatter,
                              description="Store each modality's encoder features (memory-mapped .npy with the "
                              "encoder's name, revision, weights and preprocessing hash); skipped when nothing "
                              "changed. Train on the cache with data.name=feature_cache data.options.path=FOLDER.")
    p.add_argument("config", type=Path, help="YAML experiment file (data and model.encoder/encoders are used)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.options.path=other.npz")
    p.add_argument("--out", type=Path, default=None, metavar="FOLDER",
                   help="cache folder (default: <output_dir>/<name>-features)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="samples per encoder call")
    p.add_argument("--force", action="store_true", help="extract again even if the cache is up to date")
    return p


def run(args: argparse.Namespace) -> int:
    from polymodal.training.config import load_config

    config = load_config(args.config, args.overrides)
    out = args.out if args.out is not None else Path(config.output_dir) / f"{config.name}-features"
    check_output_dir(out, "--out")
    from polymodal.training.feature_cache import extract_features

    result = extract_features(config, out, batch_size=args.batch_size, force=args.force)
    if result.extracted:
        print(f"extracted {', '.join(result.extracted)} in {result.seconds:.2f} s")
    if result.skipped:
        print(f"up to date (same encoder, preprocessing and data): {', '.join(result.skipped)}")
    print(f"feature cache: {result.path} (train on it with data.name=feature_cache data.options.path={result.path})")
    return 0
