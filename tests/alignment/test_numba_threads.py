"""The parallel DTW kernels run on numba's workqueue pool, so a second OpenMP
runtime (the system libgomp) never joins PyTorch's in the process; the user's
NUMBA_THREADING_LAYER still wins. Each case runs in a fresh interpreter because
numba fixes its threading layer at the first parallel launch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import numpy as np, numba
from polymodal.alignment import cdist_dtw
cdist_dtw([np.random.default_rng(0).normal(size=(12, 2)) for _ in range(5)])
libs = {line.split()[-1] for line in open('/proc/self/maps') if 'libgomp' in line}
print(numba.threading_layer(), any(not 'site-packages' in p for p in libs))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("env_layer, expected", [(None, "workqueue"), ("omp", "omp")])
def test_parallel_kernels_use_workqueue_unless_told(env_layer, expected):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if env_layer:
        env["NUMBA_THREADING_LAYER"] = env_layer
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    assert out[0] == expected
    if expected == "workqueue":
        assert out[1] == "False", "a system OpenMP runtime was loaded next to PyTorch's"
