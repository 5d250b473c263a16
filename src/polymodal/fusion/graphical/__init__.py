"""Graphical-model fusion: multi-stream, coupled and factorial HMMs (exact
product-state EM, structured variational EM for the factorial HMM), a
per-class likelihood classifier, and the (multi-view) hidden CRF family
(exact, or loopy belief propagation with the Bethe log-partition)."""

from polymodal.fusion.graphical._base import HMMPosteriorResult, ViterbiResult
from polymodal.fusion.graphical.async_hmm import AsynchronousHMM, AsyncViterbiResult
from polymodal.fusion.graphical._bp import BetheResult, bethe_log_partition
from polymodal.fusion.graphical._core import MAX_JOINT_STATES
from polymodal.fusion.graphical.classifier import HMMClassifier, HMMLearnAdapter
from polymodal.fusion.graphical.coupled import CoupledHMM
from polymodal.fusion.graphical.factorial import FactorialHMM
from polymodal.fusion.graphical.hcrf import (
    HCRF, MV_HCRF_INFERENCE, MV_HCRF_TOPOLOGIES, HCRFNetwork, MultiViewHCRF, MultiViewHCRFNetwork,
)
from polymodal.fusion.graphical.ldcrf import LatentDynamicCRF, LatentDynamicCRFNetwork
from polymodal.fusion.graphical.hmm import MultiStreamHMM

__all__ = [
    "AsyncViterbiResult",
    "AsynchronousHMM",
    "BetheResult",
    "CoupledHMM",
    "FactorialHMM",
    "HMMClassifier",
    "HMMLearnAdapter",
    "HCRF",
    "HCRFNetwork",
    "HMMPosteriorResult",
    "LatentDynamicCRF",
    "LatentDynamicCRFNetwork",
    "MV_HCRF_INFERENCE",
    "MV_HCRF_TOPOLOGIES",
    "MultiViewHCRF",
    "MultiViewHCRFNetwork",
    "MAX_JOINT_STATES",
    "MultiStreamHMM",
    "ViterbiResult",
    "bethe_log_partition",
]
