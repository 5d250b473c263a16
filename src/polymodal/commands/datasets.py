"""``polymodal datasets`` (list every dataset) and ``polymodal datasets build NAME`` (build one)."""

from __future__ import annotations

import argparse
import importlib
import sys

from polymodal._cli import HelpFormatter
from polymodal.errors import ConfigError

HELP = "list the datasets (or `datasets build NAME` to build one)"

# dataset builders: name -> module exposing add_parser(subparsers) and run(args)
DATASET_BUILDERS = {"av-digits": "polymodal.data.av_digits_build"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    # `datasets build NAME [options]` is routed by polymodal.cli to build() before parsing
    p = subparsers.add_parser("datasets", help=HELP, formatter_class=HelpFormatter,
                              description="List every dataset, its source, licence and whether it loads here. "
                              f"`polymodal datasets build NAME` builds one of {sorted(DATASET_BUILDERS)}.")
    return p


def build(argv: list[str]) -> int:
    """``polymodal datasets build NAME [options]``: parse with the builder's own
    ``add_parser`` (only that builder's module is imported) and run it."""
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
        raise ConfigError(f"no builder for dataset {name!r}; buildable: {sorted(DATASET_BUILDERS)}")
    module = importlib.import_module(DATASET_BUILDERS[name])
    parser = argparse.ArgumentParser(prog="polymodal datasets build")
    module.add_parser(parser.add_subparsers(dest="dataset", required=True))
    return module.run(parser.parse_args([name, *rest]))


def run(args: argparse.Namespace) -> int:
    from polymodal.data import list_datasets

    lines = []  # all collected first: nothing is printed unless every entry could be checked
    for info in list_datasets():
        ok, how = info.availability()
        lines += [f"{info.name}: {info.description}", f"    source:  {info.source}",
                  f"    licence: {info.licence}", f"    here:    {'available' if ok else 'NOT available: ' + how}"]
    print("\n".join(lines))
    return 0
