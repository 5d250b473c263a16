import os
import warnings

import pytest

os.environ.setdefault("PYTHONHASHSEED", "0")
# Split indices the engine caches on disk (polymodal.data.split_cache) go to a folder of this
# test session, not the user's ~/.cache/polymodal.
if "POLYMODAL_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["POLYMODAL_CACHE"] = tempfile.mkdtemp(prefix="polymodal-test-cache-")
    atexit.register(shutil.rmtree, os.environ["POLYMODAL_CACHE"], ignore_errors=True)
warnings.filterwarnings("ignore", module="lightning")

# The suite runs as 2 xdist workers on 2 cores: one intra-op thread per worker.
# (Two threads per worker oversubscribe the cores; small torch ops then wait
# on thread synchronisation - up to 100x slower on a loaded machine.)
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _quiet_lightning():
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    yield
