"""polymodal.alignment: explicit alignment between sequences.

* the DTW family (:mod:`polymodal.alignment.dtw`): :func:`dtw` (step patterns,
  Sakoe-Chiba / Itakura / mask windows, metrics), :func:`cdist_dtw`, :func:`lb_keogh`, :func:`dtw_knn`;
* :func:`soft_dtw`, :func:`soft_dtw_divergence`, the torch :class:`SoftDTW`
  function, :func:`soft_dtw_loss` / :class:`SoftDTWLoss`;
* barycentres :func:`dba`, :func:`soft_dtw_barycenter`;
* :class:`CTW` (canonical time warping), :class:`GCTW` (generalized CTW,
  DTW-based variant, two or more sequences), :class:`DeepCTW`,
  :func:`alignment_error`;
* implicit alignment: :class:`AdditiveAttention`, :class:`DotAttention`,
  :class:`GeneralAttention`, :class:`MultiHeadAttention` (weights returned),
  :class:`TemporalAttentionGatedModel`;
* multiple-instance learning as implicit alignment: :class:`AttentionMIL`;
* fragment-level alignment (Karpathy et al. 2014): :class:`FragmentEmbedding`,
  :func:`fragment_alignment_loss`, :func:`global_ranking_loss`,
  :func:`image_sentence_scores`, :class:`FragmentAlignmentLoss`,
  :func:`align_fragments` (data: :func:`polymodal.data.make_shape_fragments`);
* pictures: :func:`plot_cost_matrix`, :func:`plot_aligned`, :func:`plot_attention`
  (heatmap, or attention grids over an image), :func:`upsample_attention`.
"""

from polymodal.alignment.attention import (
    AdditiveAttention,
    AttentionOutput,
    DotAttention,
    GeneralAttention,
    MultiHeadAttention,
)
from polymodal.alignment import dtw as _dtw  # the subpackage (``dtw`` below is the function)
from polymodal.alignment.ctw import CTW, alignment_error, uniform_path
from polymodal.alignment.dtw import (
    STEP_PATTERNS,
    BarycenterResult,
    DTWResult,
    KNNResult,
    SoftDTW,
    SoftDTWLoss,
    SoftDTWResult,
    StepPattern,
    cdist_dtw,
    dba,
    dtw,
    dtw_knn,
    get_step_pattern,
    lb_keogh,
    local_cost_matrix,
    soft_dtw,
    soft_dtw_barycenter,
    soft_dtw_divergence,
    soft_dtw_loss,
    soft_dtw_torch_wavefront,
)
from polymodal.alignment.fragments import (
    FragmentAlignment,
    FragmentAlignmentLoss,
    FragmentEmbedding,
    FragmentEmbeddings,
    FragmentLoss,
    align_fragments,
    fragment_alignment_loss,
    fragment_scores,
    global_ranking_loss,
    image_sentence_scores,
    infer_fragment_labels,
)
from polymodal.alignment.gctw import GCTW
from polymodal.alignment.deep_ctw import DeepCTW
from polymodal.alignment.mil import AttentionMIL, MILBags, MILOutput, make_mil_bags
from polymodal.alignment.plots import plot_aligned, plot_attention, plot_cost_matrix, upsample_attention
from polymodal.alignment.tagm import TAGMOutput, TemporalAttentionGatedModel

__all__ = [
    *_dtw.__all__,
    "CTW",
    "GCTW",
    "DeepCTW",
    "alignment_error",
    "uniform_path",
    "AttentionOutput",
    "AdditiveAttention",
    "DotAttention",
    "GeneralAttention",
    "MultiHeadAttention",
    "TemporalAttentionGatedModel",
    "TAGMOutput",
    "plot_cost_matrix",
    "plot_aligned",
    "plot_attention",
    "upsample_attention",
    "AttentionMIL",
    "MILBags",
    "MILOutput",
    "make_mil_bags",
    "FragmentEmbedding",
    "FragmentEmbeddings",
    "fragment_scores",
    "infer_fragment_labels",
    "fragment_alignment_loss",
    "image_sentence_scores",
    "global_ranking_loss",
    "FragmentLoss",
    "FragmentAlignmentLoss",
    "FragmentAlignment",
    "align_fragments",
]
