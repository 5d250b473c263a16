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

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "DTWResult": ".dtw",
    "dtw": ".dtw",
    "local_cost_matrix": ".dtw",
    "STEP_PATTERNS": ".dtw",
    "StepPattern": ".dtw",
    "get_step_pattern": ".dtw",
    "cdist_dtw": ".dtw",
    "lb_keogh": ".dtw",
    "dtw_knn": ".dtw",
    "KNNResult": ".dtw",
    "soft_dtw": ".dtw",
    "soft_dtw_divergence": ".dtw",
    "SoftDTWResult": ".dtw",
    "SoftDTW": ".dtw",
    "SoftDTWLoss": ".dtw",
    "soft_dtw_loss": ".dtw",
    "soft_dtw_torch_wavefront": ".dtw",
    "dba": ".dtw",
    "soft_dtw_barycenter": ".dtw",
    "BarycenterResult": ".dtw",
    "CTW": ".ctw",
    "GCTW": ".gctw",
    "DeepCTW": ".deep_ctw",
    "alignment_error": ".ctw",
    "uniform_path": ".ctw",
    "AttentionOutput": ".attention",
    "AdditiveAttention": ".attention",
    "DotAttention": ".attention",
    "GeneralAttention": ".attention",
    "MultiHeadAttention": ".attention",
    "TemporalAttentionGatedModel": ".tagm",
    "TAGMOutput": ".tagm",
    "plot_cost_matrix": ".plots",
    "plot_aligned": ".plots",
    "plot_attention": ".plots",
    "upsample_attention": ".plots",
    "AttentionMIL": ".mil",
    "MILBags": ".mil",
    "MILOutput": ".mil",
    "make_mil_bags": ".mil",
    "FragmentEmbedding": ".fragments",
    "FragmentOutput": ".fragments",
    "fragment_scores": ".fragments",
    "infer_fragment_labels": ".fragments",
    "fragment_alignment_loss": ".fragments",
    "image_sentence_scores": ".fragments",
    "global_ranking_loss": ".fragments",
    "FragmentLossOutput": ".fragments",
    "FragmentAlignmentLoss": ".fragments",
    "FragmentAlignmentResult": ".fragments",
    "align_fragments": ".fragments",
})

__all__ = [
    "DTWResult", "dtw", "local_cost_matrix", "STEP_PATTERNS", "StepPattern", "get_step_pattern", "cdist_dtw",
    "lb_keogh", "dtw_knn", "KNNResult", "soft_dtw", "soft_dtw_divergence", "SoftDTWResult", "SoftDTW",
    "SoftDTWLoss", "soft_dtw_loss", "soft_dtw_torch_wavefront", "dba", "soft_dtw_barycenter", "BarycenterResult",
    "CTW", "GCTW", "DeepCTW", "alignment_error", "uniform_path", "AttentionOutput", "AdditiveAttention",
    "DotAttention", "GeneralAttention", "MultiHeadAttention", "TemporalAttentionGatedModel", "TAGMOutput",
    "plot_cost_matrix", "plot_aligned", "plot_attention", "upsample_attention", "AttentionMIL", "MILBags",
    "MILOutput", "make_mil_bags", "FragmentEmbedding", "FragmentOutput", "fragment_scores",
    "infer_fragment_labels", "fragment_alignment_loss", "image_sentence_scores", "global_ranking_loss",
    "FragmentLossOutput", "FragmentAlignmentLoss", "FragmentAlignmentResult", "align_fragments",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.alignment.dtw import (
        DTWResult, dtw, local_cost_matrix, STEP_PATTERNS, StepPattern, get_step_pattern, cdist_dtw, lb_keogh,
        dtw_knn, KNNResult, soft_dtw, soft_dtw_divergence, SoftDTWResult, SoftDTW, SoftDTWLoss, soft_dtw_loss,
        soft_dtw_torch_wavefront, dba, soft_dtw_barycenter, BarycenterResult,
    )
    from polymodal.alignment.ctw import CTW, alignment_error, uniform_path
    from polymodal.alignment.gctw import GCTW
    from polymodal.alignment.deep_ctw import DeepCTW
    from polymodal.alignment.attention import (
        AttentionOutput, AdditiveAttention, DotAttention, GeneralAttention, MultiHeadAttention,
    )
    from polymodal.alignment.tagm import TemporalAttentionGatedModel, TAGMOutput
    from polymodal.alignment.plots import plot_cost_matrix, plot_aligned, plot_attention, upsample_attention
    from polymodal.alignment.mil import AttentionMIL, MILBags, MILOutput, make_mil_bags
    from polymodal.alignment.fragments import (
        FragmentEmbedding, FragmentOutput, fragment_scores, infer_fragment_labels, fragment_alignment_loss,
        image_sentence_scores, global_ranking_loss, FragmentLossOutput, FragmentAlignmentLoss, FragmentAlignmentResult,
        align_fragments,
    )
