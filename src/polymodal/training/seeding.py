"""Seeding a run's global random number generators, without importing Lightning."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from polymodal.errors import ConfigError

__all__ = ["seed_everything"]


def seed_everything(seed: int, workers: bool = True) -> int:
    """Seed Python's ``random``, numpy's global generator and torch (every device) with ``seed``
    and set ``PL_GLOBAL_SEED`` / ``PL_SEED_WORKERS`` in the environment: exactly what
    ``lightning.seed_everything(seed, workers, verbose=False)`` (Lightning 2.x) does, so a run
    draws the same numbers on either training loop, and a Lightning ``Trainer`` (DDP
    processes it starts, data-loader workers) sees the seed, without the cost of importing
    Lightning.

    Parameters
    ----------
    seed : int
        0 <= seed < 2**32 (numpy's range).
    workers : bool
        Recorded as ``PL_SEED_WORKERS`` (Lightning then seeds each loader worker).

    Examples
    --------
    >>> import random, torch
    >>> _ = seed_everything(3); a = (random.random(), torch.rand(1).item())
    >>> _ = seed_everything(3); a == (random.random(), torch.rand(1).item())
    True
    """
    seed = int(seed)
    if not 0 <= seed <= np.iinfo(np.uint32).max:
        raise ConfigError(f"config key 'seed': {seed} is out of range (0 <= seed < 2**32)")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PL_SEED_WORKERS"] = f"{int(workers)}"
    return seed
