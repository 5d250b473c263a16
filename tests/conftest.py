import os
import warnings

import pytest

os.environ.setdefault("PYTHONHASHSEED", "0")
warnings.filterwarnings("ignore", module="lightning")


@pytest.fixture(autouse=True)
def _quiet_lightning():
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    yield
