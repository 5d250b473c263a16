"""Where polymodal's log records go on the command line (stderr, plain lines).

The package logs through ``logging.getLogger("polymodal")`` and never prints,
except the CLI's own results (stdout). Lightning's banners are handled by
:func:`polymodal.training.console.quiet_lightning`.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["setup_cli_logging"]


def setup_cli_logging(verbose: bool = False) -> None:
    """Send polymodal's log records to stderr as plain lines (``INFO`` and up,
    ``DEBUG`` too with ``verbose``); called once by the command line."""
    log = logging.getLogger("polymodal")
    if not any(getattr(h, "_polymodal_cli", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._polymodal_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
