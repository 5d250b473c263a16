import os
import warnings

import pytest

os.environ.setdefault("PYTHONHASHSEED", "0")
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


@pytest.fixture
def assert_refused():
    """The fault tables' rule (tests/test_fuzz_api*.py): ``fn()`` must raise ``expected``, a
    :class:`~polymodal.errors.PolymodalError`, whose message names ``word`` - never a silent
    result, never an unrelated exception."""
    from polymodal.errors import PolymodalError

    def check(name, fn, expected, word):
        try:
            value = fn()
        except expected as error:
            assert isinstance(error, PolymodalError), f"{name}: {type(error).__name__} is not a PolymodalError"
            assert word.lower() in str(error).lower(), f"{name}: message does not name {word!r}: {error}"
            return
        except Exception as error:  # noqa: BLE001 - an unrelated exception is a traceback for the user
            pytest.fail(f"{name}: raised {type(error).__name__} instead of {expected.__name__}: {error}")
        pytest.fail(f"{name}: bad input was accepted silently, returned {value!r:.200}")

    return check
