"""The one error path of every ``polymodal`` command, and argument types.

Every command (``polymodal.cli.main`` and the subcommand entry points it
delegates to) runs inside :func:`user_errors`: bad input — a
:class:`~polymodal.errors.PolymodalError`, an unreadable, missing, non-UTF-8
or too deeply nested file, a full or read-only disk — becomes one line
``error: ...`` on stderr naming the file, and exit status 2. Anything else
is an internal error and keeps its traceback.

This module sits at the bottom (it imports only :mod:`polymodal.errors`), so
the command modules of every layer can share it.
"""

from __future__ import annotations

import argparse
import errno
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from polymodal.errors import ConfigError, PolymodalError

__all__ = ["HelpFormatter", "run_command", "user_error_message", "user_errors", "positive_int", "nonnegative_int", "finite_float",
           "check_output_file", "check_output_dir", "write_output"]


def user_error_message(error: BaseException) -> str | None:
    """The one-line message for an error caused by the user's input, or
    ``None`` for an internal error (which keeps its traceback)."""
    if isinstance(error, PolymodalError):
        return str(error)
    if isinstance(error, UnicodeDecodeError):  # readers name the file; this is the fallback
        return f"a file is not valid UTF-8 text ({error.reason} at byte {error.start})"
    if isinstance(error, RecursionError):
        return "input nested too deeply to read (RecursionError)"
    if isinstance(error, MemoryError):
        return "not enough memory for the requested sizes (MemoryError); use smaller inputs or options"
    if isinstance(error, OSError) and (error.errno is not None or error.filename is not None):
        what = error.strerror or os.strerror(error.errno or 0) or type(error).__name__
        where = [repr(os.fspath(f)) for f in (error.filename, error.filename2) if f is not None]
        if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            what += " (the disk or quota is full)"
        return f"{what}: {' -> '.join(where)}" if where else what
    return None


def user_errors(command: Callable[..., int]) -> Callable[..., int]:
    """Decorator: run a command; bad input prints ``error: ...`` (one line) and returns 2."""

    @functools.wraps(command)
    def run(*args, **kwargs) -> int:
        try:
            return command(*args, **kwargs)
        except (PolymodalError, OSError, UnicodeDecodeError, RecursionError, MemoryError) as error:
            message = user_error_message(error)
            if message is None:
                raise
            print(f"error: {' '.join(message.split())}", file=sys.stderr)
            return 2

    return run


def _number(cast, text: str, test, need: str):
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {need}, got {text!r}") from None
    if not test(value):
        raise argparse.ArgumentTypeError(f"expected {need}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _number(int, text, lambda v: v >= 1, "an integer >= 1")


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(int, text, lambda v: v >= 0, "an integer >= 0")


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    return _number(float, text, math.isfinite, "a finite number")


def check_output_file(path: str | os.PathLike, option: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """Refuse an output file path that cannot be written, before any work is done:
    an existing folder, a parent that is not a folder or not writable, or a
    suffix outside ``suffixes``."""
    p = Path(path)
    if suffixes is not None and p.suffix.lower().lstrip(".") not in suffixes:
        raise ConfigError(f"{option} {os.fspath(path)!r}: unsupported file type {p.suffix or '(none)'!r}; "
                          f"use one of {', '.join('.' + s for s in suffixes)}")
    if p.is_dir():
        raise ConfigError(f"{option} {os.fspath(path)!r} is a folder; give a file name")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {os.fspath(path)!r}: output folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{option} {os.fspath(path)!r}: output folder {str(parent)!r} is not writable")
    return p


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Refuse an output folder that cannot be created or written (a file in the
    way, a read-only ancestor), before any work is done."""
    p = Path(path)
    probe = p.resolve()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{option} {os.fspath(path)!r}: {str(probe)!r} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {os.fspath(path)!r}: folder {str(probe)!r} is not writable")
    return p


def write_output(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path``; an OS error (a full disk raises at write or
    close, without a file name) is re-raised naming ``path``."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        if error.filename is None:
            raise OSError(error.errno, error.strerror or str(error), os.fspath(path)) from None
        raise


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every command's help formatter: an option's help ends with its default
    (``(default: 5)``) unless the help already names it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help = action.help or ""
        if "default" in help or action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
            return help
        return super()._get_help_string(action)


def run_command(add_parser: Callable[..., argparse.ArgumentParser], run: Callable[[argparse.Namespace], int],
                argv: list[str]) -> int:
    """Run one command module's ``add_parser``/``run`` pair on ``argv`` (its
    arguments, without the command name) as ``polymodal NAME ARGV`` would,
    for Python callers; ``--help`` and usage errors return 0 and 2."""
    parser = argparse.ArgumentParser(prog="polymodal")
    command = add_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args([command.prog.split()[-1], *argv])
    except SystemExit as exit_info:  # --help (0) or a usage error (2, message already printed)
        return int(exit_info.code or 0)
    return user_errors(run)(args)
