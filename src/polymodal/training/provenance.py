"""What produced a run: ``environment.json`` (versions, git commit, device)
and ``command.txt`` (the command line), written into every run folder."""

from __future__ import annotations

import json
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["environment_info", "git_state", "command_line", "set_command", "write_provenance"]

_PACKAGES = ("polymodal", "torch", "lightning", "numpy")
_COMMAND: list[str] | None = None  # set by the command line (its argv may not be sys.argv)


def set_command(argv: list[str] | None) -> None:
    """Record the command a run is started by (``polymodal.cli.main`` calls it);
    ``None``: use ``sys.argv``."""
    global _COMMAND
    _COMMAND = None if argv is None else [str(a) for a in argv]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_state(folder: str | Path = ".") -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git repository holding ``folder``
    (``dirty``: tracked files differ from the commit), or ``None`` outside one."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        root = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty, "root": root}


def command_line() -> str:
    """The command that started this process, shell-quoted (``polymodal train cfg.yaml ...``)."""
    if _COMMAND is not None:
        return shlex.join(_COMMAND)
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("polymodal", "__main__.py"):
        argv[0] = "polymodal"
    return shlex.join(argv)


def environment_info(device: str = "cpu") -> dict[str, Any]:
    """Python, package versions, platform, the git state of the working
    directory and ``device`` (e.g. ``cpu`` or ``cuda:0 (NVIDIA H200)``)."""
    return {
        "python": platform.python_version(),
        **{package: _version(package) for package in _PACKAGES},
        "platform": platform.platform(),
        "device": device,
        "git": git_state(),
        "command": command_line(),
    }


def write_provenance(run_dir: Path, device: str) -> None:
    """Write ``environment.json`` and ``command.txt`` into ``run_dir``."""
    from polymodal.training.checkpoint import atomic_write_text

    info = environment_info(device)
    atomic_write_text(json.dumps(info, indent=2) + "\n", run_dir / "environment.json", durable=False)
    atomic_write_text(info["command"] + "\n", run_dir / "command.txt", durable=False)
