"""polymodal.representation."""

from polymodal.representation.cca import CCA
from polymodal.representation.cca_stats import CCAStats, all_reduce_cca_stats

__all__ = [
    "CCA",
    "CCAStats",
    "all_reduce_cca_stats",
]
