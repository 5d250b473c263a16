"""What a resume or an overwrite checks before it touches anything.

- :func:`config_changes` / :func:`check_resume_config`: a resumed run must use
  the config it was started with (``config.yaml`` / the checkpoint's copy);
  only keys that cannot change the data or the optimisation trajectory up to
  the resume point may differ, and only when asked (``resume_with_changes``).
- :func:`check_state_fits`: a checkpoint's weights must fit the model the
  config builds (names the parameter and both shapes).
- :func:`replace_run`: swap a freshly built run folder in for an old one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from polymodal.errors import CheckpointError, ConfigError

__all__ = ["SAFE_RESUME_CHANGES", "config_changes", "check_resume_config", "check_state_fits", "replace_run",
           "is_ddp_worker"]

# keys a resume may change with resume_with_changes=True: they decide how long
# training goes on, how it is shown or how fast data is read, never which data
# or which updates the epochs before the resume point saw
SAFE_RESUME_CHANGES = frozenset({
    "trainer.max_epochs",
    "trainer.patience",
    "trainer.progress",
    "trainer.checkpoint_every_n_epochs",
    "trainer.checkpoint_min_interval_s",
    "trainer.async_checkpoint",
    "trainer.logger",  # where metrics are also sent (and its sub-keys): never what is trained
    "data.num_workers",
})


def _safe(key: str) -> bool:
    return key in SAFE_RESUME_CHANGES or key.startswith("trainer.logger.")
# where the run lives, not what it computes
_IGNORED = frozenset({"name", "output_dir"})


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old, new)}`` for every leaf that differs (missing = ``<absent>``)."""
    a, b = _flatten(old), _flatten(new)
    absent = "<absent>"
    return {
        key: (a.get(key, absent), b.get(key, absent))
        for key in sorted(set(a) | set(b))
        if key not in _IGNORED and a.get(key, absent) != b.get(key, absent)
    }


def check_resume_config(stored: dict[str, Any], config: dict[str, Any], where: str, allow_changes: bool) -> list[str]:
    """Refuse a resume whose ``config`` differs from the ``stored`` one.

    Returns the changed keys that were allowed. Raises :class:`ConfigError`
    listing every differing key, ``old -> new``."""
    changes = config_changes(stored, config)
    if not changes:
        return []
    listing = "; ".join(f"{k}: {o!r} -> {n!r}" for k, (o, n) in changes.items())
    unsafe = [k for k in changes if not _safe(k)]
    if unsafe:
        hint = (f" (only {sorted(SAFE_RESUME_CHANGES)} may change, with --resume-with-changes)")
        raise ConfigError(f"cannot resume {where} with a different config: {listing}{hint}; "
                          "start a new run (another name, or --overwrite) to change these")
    if not allow_changes:
        raise ConfigError(f"cannot resume {where} with a different config: {listing}; "
                          "pass --resume-with-changes (resume_with_changes=True) to continue with these changes")
    return list(changes)


def check_state_fits(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str, prefix: str = "model.") -> None:
    """Raise :class:`CheckpointError` unless ``state`` (keys ``prefix`` +
    parameter name) has exactly ``model``'s parameters and buffers and shapes."""
    own = {f"{prefix}{k}": v for k, v in model.state_dict().items()}
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {missing[0]!r})")
        if extra:
            parts.append(f"{len(extra)} not in the model (e.g. {extra[0]!r})")
        raise CheckpointError(f"checkpoint {where} does not fit the model the config builds: "
                              f"parameters {', '.join(parts)}")
    for key, value in own.items():
        got = state[key]
        if tuple(got.shape) != tuple(value.shape):
            raise CheckpointError(
                f"checkpoint {where} does not fit the model the config builds: parameter {key!r} has shape "
                f"{tuple(got.shape)} in the checkpoint, {tuple(value.shape)} in the model"
            )


def is_ddp_worker() -> bool:
    """Whether this process is a non-zero rank started by Lightning's DDP
    launcher (it re-runs the script, so it must not touch the run folder)."""
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


def replace_run(new: Path, run_dir: Path) -> None:
    """Put the finished run folder ``new`` in place of ``run_dir``.

    Two renames (old aside, new in), then the old folder is deleted; a crash
    between them leaves both folders intact beside each other
    (``.<name>.old`` and ``.<name>.new``), never a half-deleted run."""
    old = run_dir.parent / f".{run_dir.name}.old"
    if old.exists():
        shutil.rmtree(old)
    os.replace(run_dir, old)
    os.replace(new, run_dir)
    shutil.rmtree(old, ignore_errors=True)
