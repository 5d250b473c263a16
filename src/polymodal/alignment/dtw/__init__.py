"""polymodal.alignment.dtw: the dynamic time warping family.

* :func:`dtw` (step patterns, Sakoe-Chiba / Itakura / mask windows, metrics),
  :func:`local_cost_matrix`, :data:`STEP_PATTERNS`;
* many pairs: :func:`cdist_dtw`, :func:`lb_keogh`, :func:`dtw_knn`;
* :func:`soft_dtw`, :func:`soft_dtw_divergence`, the torch :class:`SoftDTW`
  function, :func:`soft_dtw_loss` / :class:`SoftDTWLoss`;
* barycentres :func:`dba`, :func:`soft_dtw_barycenter`.

Hot loops are numba kernels (``_kernels``, ``_nearest_kernels``, ``_soft_kernels``, loaded
at the first kernel call) or batched torch ops (:func:`soft_dtw_torch_wavefront`, the GPU
path). Names load on first use: importing this package imports neither numba nor torch.
"""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["BarycenterResult", "dba", "soft_dtw_barycenter"], ".barycenters"),
    **dict.fromkeys(["KNNResult", "cdist_dtw", "dtw_knn", "lb_keogh"], ".nearest"),
    **dict.fromkeys(["DTWResult", "dtw", "local_cost_matrix"], ".pairwise"),
    **dict.fromkeys(["SoftDTWResult", "soft_dtw", "soft_dtw_divergence"], ".soft"),
    **dict.fromkeys(["SoftDTW", "SoftDTWLoss", "soft_dtw_loss", "soft_dtw_torch_wavefront"], ".soft_torch"),
    **dict.fromkeys(["STEP_PATTERNS", "StepPattern", "get_step_pattern"], ".step_patterns"),
})

__all__ = [
    "DTWResult",
    "dtw",
    "local_cost_matrix",
    "STEP_PATTERNS",
    "StepPattern",
    "get_step_pattern",
    "cdist_dtw",
    "lb_keogh",
    "dtw_knn",
    "KNNResult",
    "soft_dtw",
    "soft_dtw_divergence",
    "SoftDTWResult",
    "SoftDTW",
    "SoftDTWLoss",
    "soft_dtw_loss",
    "soft_dtw_torch_wavefront",
    "dba",
    "soft_dtw_barycenter",
    "BarycenterResult",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.alignment.dtw.barycenters import BarycenterResult, dba, soft_dtw_barycenter
    from polymodal.alignment.dtw.nearest import KNNResult, cdist_dtw, dtw_knn, lb_keogh
    from polymodal.alignment.dtw.pairwise import DTWResult, dtw, local_cost_matrix
    from polymodal.alignment.dtw.soft import SoftDTWResult, soft_dtw, soft_dtw_divergence
    from polymodal.alignment.dtw.soft_torch import SoftDTW, SoftDTWLoss, soft_dtw_loss, soft_dtw_torch_wavefront
    from polymodal.alignment.dtw.step_patterns import STEP_PATTERNS, StepPattern, get_step_pattern
