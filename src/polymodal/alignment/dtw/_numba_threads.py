"""Run numba's parallel kernels on numba's own thread pool, not on OpenMP.

numba's default parallel back end here is OpenMP through the *system* libgomp,
while PyTorch ships and uses its own libgomp. With both runtimes in one process,
PyTorch's oneDNN convolution backward crashed (``free(): invalid pointer``,
SIGFPE or SIGSEGV) after parallel DTW kernels had run: 5 of 5 runs of one test
sequence crashed, none of 4 with the ``workqueue`` layer. So the kernels default to
``workqueue`` (numba's portable pool; it does not support launching parallel
kernels from several Python threads at once). Set ``NUMBA_THREADING_LAYER`` to
choose another layer (``tbb`` needs the ``tbb`` package).
"""

from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
