"""One CLI shape: every command module has add_parser(subparsers) and run(args),
is listed in polymodal.cli.COMMANDS, and every option has help text."""

import argparse
import importlib

import pytest

from polymodal.cli import COMMANDS, build_parser


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_module_shape_and_help(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(module.add_parser) and callable(module.run)
    parser = _subparser(name)
    missing = [a.dest for a in parser._actions if not a.help]
    assert not missing, f"`polymodal {name}` options without help: {missing}"
    listed = build_parser()._subparsers._group_actions[0]._choices_actions
    assert next(a.help for a in listed if a.dest == name) == COMMANDS[name][1]


def test_defaults_are_shown_in_help():
    text = _subparser("demo").format_help()
    assert "(default: 5)" in text and "(default: 40)" in text
    text = _subparser("export").format_help()
    assert "(default: onnx)" in text


def test_dataset_builder_options_have_help():
    from polymodal.data import av_digits_build

    parser = argparse.ArgumentParser()
    p = av_digits_build.add_parser(parser.add_subparsers())
    assert not [a.dest for a in p._actions if not a.help]
