"""Every torch module follows its inputs' device.

1. Each forward runs with the module and its inputs on PyTorch's ``meta``
   device, where mixing in a tensor created on the CPU (a ``torch.zeros(...)``
   without ``device=``) raises, as it would on a GPU.
2. ``meta`` has no data, so forwards that read values (``bool(t)``,
   ``torch.equal``, ``pad_packed_sequence``) cannot run there (``META_READS``).
   Every forward, those included, also runs on the CPU under a function mode
   that records each non-scalar tensor built by a factory (``torch.zeros``,
   ``torch.arange``, ``torch.tensor``, ...) in polymodal's code without a
   ``device=`` argument: such a tensor lands on the CPU whatever the inputs'
   device (CPU-by-design tensors, e.g. lengths for packing, say ``device="cpu"``).
3. The fit loops of the estimators built on torch modules run with the module
   on ``meta``: the whole loop must run there (only reading a number back out,
   ``loss.item()`` or ``.numpy()``, may fail on ``meta``, which has no data).

The table covers the library's ``nn.Module`` classes; a discovery test fails
when a new one is neither in the table nor in ``NOT_COVERED`` (with a reason).
Lengths stay CPU int64 tensors (the library's convention: packing needs them
on the CPU)."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import fields, is_dataclass

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

import polymodal
from package_walk import module_names

META = torch.device("meta")


def _r(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype, device=META)


def _ids(*shape, high=5):
    return torch.randint(1, high, shape, device=META)


def _cpu_ids(*shape, high=5):
    return torch.randint(1, high, shape)


def _seq2seq_feats():
    from polymodal.translation import Seq2SeqAttention

    return Seq2SeqAttention(9, source_features=3, embed_dim=4, hidden=5, attention_dim=4)


def _model():
    from polymodal.encoders import MLP
    from polymodal.fusion import ConcatFusion
    from polymodal.training.model import MultimodalModel

    return MultimodalModel({"a": MLP(4, 8, hidden=[]), "b": MLP(3, 8, hidden=[])},
                           ConcatFusion({"a": 8, "b": 8}), MLP(16, 2, hidden=[]))


def _ae_factory(name):
    def make():
        from polymodal.encoders import autoencoder

        return getattr(autoencoder, name)(6)

    return make


def _c(path, **kw):
    """Factory: the class at ``polymodal.<path>`` built with ``kw``."""

    def make():
        mod, name = path.rsplit(".", 1)
        return getattr(importlib.import_module(f"polymodal.{mod}"), name)(**kw)

    return make


AB = {"a": 3, "b": 2}


def _ensemble():
    from polymodal.encoders import ProbabilityEnsemble

    return ProbabilityEnsemble([torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)])  # fresh members per build


def _ab(n=4):
    return {"a": _r(n, 3), "b": _r(n, 2)}


def _ab_seq(n=2, ta=5, tb=4):
    from polymodal.encoders import PaddedSequence

    return {"a": PaddedSequence(_r(n, ta, 3), torch.tensor([ta, 2])), "b": PaddedSequence(_r(n, tb, 2), torch.tensor([tb, 1]))}


def _ab_aligned(n=2, t=5):
    from polymodal.encoders import PaddedSequence

    lengths = torch.tensor([t, 3])
    return {"a": PaddedSequence(_r(n, t, 3), lengths), "b": PaddedSequence(_r(n, t, 2), lengths)}


# class path -> (factory, inputs(): (args, kwargs), method name)
CASES = {
    # alignment
    "alignment.attention.AdditiveAttention": (_c("alignment.attention.AdditiveAttention", query_dim=3, key_dim=4, hidden_dim=5),
                                              lambda: ((_r(2, 3, 3), _r(2, 4, 4)), {}), "forward"),
    "alignment.attention.DotAttention": (_c("alignment.attention.DotAttention"),
                                         lambda: ((_r(2, 3, 4), _r(2, 5, 4)), {}), "forward"),
    "alignment.attention.GeneralAttention": (_c("alignment.attention.GeneralAttention", query_dim=3, key_dim=4),
                                             lambda: ((_r(2, 3, 3), _r(2, 5, 4)), {}), "forward"),
    "alignment.attention.MultiHeadAttention": (_c("alignment.attention.MultiHeadAttention", embed_dim=4, num_heads=2),
                                               lambda: ((_r(2, 3, 4), _r(2, 5, 4)), {}), "forward"),
    "alignment.fragments.FragmentEmbedding": (_c("alignment.fragments.FragmentEmbedding", region_features=5, vocab_size=7,
                                                 embed_dim=4, fragment_words=2),
                                              lambda: ((_r(2, 3, 5), _ids(2, 2, 2, high=7)), {}), "forward"),
    "alignment.mil.AttentionMIL": (_c("alignment.mil.AttentionMIL", in_features=4, hidden=8, attention_dim=5, gated=True),
                                   lambda: ((_r(2, 3, 4),), {}), "forward"),
    "alignment.dtw.soft_torch.SoftDTWLoss": (_c("alignment.dtw.soft_torch.SoftDTWLoss", gamma=0.5),
                                             lambda: ((_r(2, 5, 3), _r(2, 4, 3)), {}), "forward"),
    "alignment.tagm.TemporalAttentionGatedModel": (_c("alignment.tagm.TemporalAttentionGatedModel", input_dim=3,
                                                      hidden_dim=4, num_classes=2),
                                                   lambda: ((_r(2, 5, 3), torch.tensor([5, 3])), {}), "forward"),
    "colearning.bridging.CorrNetNetwork": (_c("colearning.bridging.CorrNetNetwork", dims=AB, n_components=2),
                                           lambda: (({"a": _r(4, 3), "b": _r(4, 2)},), {}), "pair_loss"),
    # encoders
    "encoders.audio.AudioCNN": (_c("encoders.audio.AudioCNN", image_size=(8, 8), channels=(2, 3)),
                                lambda: ((_r(2, 64),), {}), "forward"),
    "encoders.audio.ProbabilityEnsemble": (_ensemble, lambda: ((_r(2, 4),), {}), "forward"),
    "encoders.audio.Spectrogram": (_c("encoders.audio.Spectrogram", sample_rate=1000),
                                   lambda: ((_r(2, 200),), {}), "forward"),
    "encoders.audio.MelSpectrogram": (_c("encoders.audio.MelSpectrogram", sample_rate=1000, n_mels=4, log=True),
                                      lambda: ((_r(2, 200),), {}), "forward"),
    "encoders.audio.SpectrogramSequenceEncoder": (_c("encoders.audio.SpectrogramSequenceEncoder", image_size=(6, 4),
                                                     hidden=5), lambda: ((_r(2, 24),), {}), "forward"),
    "encoders.autoencoder.DenoisingAutoencoderNetwork": (_ae_factory("DenoisingAutoencoderNetwork"), lambda: ((_r(3, 6),), {}), "forward"),
    "encoders.autoencoder.StackedAutoencoderNetwork": (_ae_factory("StackedAutoencoderNetwork"), lambda: ((_r(3, 6),), {}), "forward"),
    "encoders.autoencoder.TiedAutoencoderNetwork": (_ae_factory("TiedAutoencoderNetwork"), lambda: ((_r(3, 6),), {}), "forward"),
    "encoders.image.ImageInput": (_c("encoders.image.ImageInput", in_features=16, image_size=4),
                                  lambda: ((_r(2, 16),), {}), "forward"),
    "encoders.image.LeNet": (_c("encoders.image.LeNet", image_size=16, pool="smooth"), lambda: ((_r(2, 1, 16, 16),), {}),
                             "forward"),
    "encoders.image.ResNetCNN": (_c("encoders.image.ResNetCNN", image_size=8, widths=(2, 4)),
                                 lambda: ((_r(2, 1, 8, 8),), {}), "forward"),
    "encoders.image.ResidualBlock": (_c("encoders.image.ResidualBlock", in_channels=2, out_channels=3, stride=2),
                                     lambda: ((_r(2, 2, 6, 6),), {}), "forward"),
    "encoders.image.SmoothMaxPool2d": (_c("encoders.image.SmoothMaxPool2d", learn_alpha=True),
                                       lambda: ((_r(2, 1, 6, 6),), {}), "forward"),
    "encoders.mlp.Identity": (_c("encoders.mlp.Identity", in_features=3), lambda: ((_r(2, 3),), {}), "forward"),
    "encoders.mlp.MLP": (_c("encoders.mlp.MLP", in_features=3, out_features=2, hidden=[4], batchnorm=True),
                         lambda: ((_r(5, 3),), {}), "forward"),
    "encoders.sequence.GRUEncoder": (_c("encoders.sequence.GRUEncoder", in_features=3, hidden=4, output="mean"),
                                     lambda: ((_r(2, 5, 3), torch.tensor([5, 2])), {}), "forward"),
    "encoders.sequence.LSTMEncoder": (_c("encoders.sequence.LSTMEncoder", in_features=3, hidden=4, bidirectional=True),
                                      lambda: ((_r(2, 5, 3), torch.tensor([5, 2])), {}), "forward"),
    "encoders.sequence.RNNEncoder": (_c("encoders.sequence.RNNEncoder", in_features=3, hidden=4, output="max"),
                                     lambda: ((_r(2, 5, 3), torch.tensor([5, 2])), {}), "forward"),
    "encoders.sequence.SequenceEncoder": (_c("encoders.sequence.SequenceEncoder", in_features=3, hidden=4, output="all"),
                                          lambda: ((_r(2, 5, 3),), {}), "forward"),
    "encoders.sequence.SequenceSteps": (_c("encoders.sequence.SequenceSteps", in_features=3),
                                        lambda: ((_r(2, 5, 3), torch.tensor([5, 2])), {}), "forward"),
    "encoders.text.EmbeddingEncoder": (_c("encoders.text.EmbeddingEncoder", in_features=6, dim=3),
                                       lambda: ((_ids(2, 4),), {}), "forward"),
    # fusion
    "fusion.graphical.hcrf.HCRFNetwork": (_c("fusion.graphical.hcrf.HCRFNetwork", in_features=3, n_classes=2, n_hidden=2),
                                          lambda: ((_r(2, 5, 3),), {}), "forward"),
    "fusion.graphical.hcrf.MultiViewHCRFNetwork": (
        _c("fusion.graphical.hcrf.MultiViewHCRFNetwork", in_features=AB, n_classes=2, n_hidden=2),
        lambda: (({"a": _r(2, 5, 3), "b": _r(2, 5, 2)},), {}), "forward"),
    "fusion.graphical.ldcrf.LatentDynamicCRFNetwork": (
        _c("fusion.graphical.ldcrf.LatentDynamicCRFNetwork", in_features=3, n_labels=2),
        lambda: ((_r(2, 5, 3),), {}), "frame_log_marginals"),
    "fusion.graphical.ldcrf.LatentDynamicCRFNetwork.log_likelihood": (
        _c("fusion.graphical.ldcrf.LatentDynamicCRFNetwork", in_features=3, n_labels=2),
        lambda: ((_r(2, 5, 3), torch.randint(0, 2, (2, 5), device=META)), {}), "log_likelihood"),
    "fusion.intermediate.ConcatFusion": (_c("fusion.intermediate.ConcatFusion", in_features=AB), lambda: ((_ab(),), {}),
                                         "forward"),
    "fusion.late.LateFusion": (_c("fusion.late.LateFusion", in_features=AB, n_outputs=3), lambda: ((_ab(),), {}), "forward"),
    "fusion.late.HybridFusion": (_c("fusion.late.HybridFusion", in_features=AB, n_outputs=3), lambda: ((_ab(),), {}),
                                 "forward"),
    "fusion.robust.CalibratedProductOfExperts": (_c("fusion.robust.CalibratedProductOfExperts", modalities=["a", "b"]),
                                                 lambda: (({"a": _r(4, 3), "b": _r(4, 3)},), {}), "forward"),
    "fusion.robust.ContaminatedProductOfExperts": (
        _c("fusion.robust.ContaminatedProductOfExperts", modalities=["a", "b"]),
        lambda: (({"a": _r(4, 3), "b": _r(4, 3)},), {}), "forward"),
    "fusion.robust.GatedExpertFusion": (_c("fusion.robust.GatedExpertFusion", in_features=AB, n_classes=3, hidden=4),
                                        lambda: ((_ab(), {"a": _r(4, 3), "b": _r(4, 3)}), {}), "forward"),
    "fusion.robust.GatedFusion": (_c("fusion.robust.GatedFusion", in_features=AB, out_features=4), lambda: ((_ab(),), {}),
                                  "forward"),
    "fusion.sequential.lstm.EarlyFusionLSTM": (_c("fusion.sequential.lstm.EarlyFusionLSTM", in_features=AB, hidden=4),
                                               lambda: ((_ab_aligned(),), {}), "forward"),
    "fusion.sequential.lstm.LateFusionLSTM": (_c("fusion.sequential.lstm.LateFusionLSTM", in_features=AB, hidden=4),
                                              lambda: ((_ab_seq(),), {}), "forward"),
    "fusion.sequential.mfn.MemoryFusionNetwork": (_c("fusion.sequential.mfn.MemoryFusionNetwork", in_features=AB, hidden=3,
                                                     memory=4, attention_hidden=3, gate_hidden=3),
                                                  lambda: ((_ab_aligned(),), {}), "forward"),
    "fusion.sequential.mult.MultimodalTransformer": (_c("fusion.sequential.mult.MultimodalTransformer", in_features=AB,
                                                        dim=4, heads=2, layers=2, memory_layers=2),
                                                     lambda: ((_ab_seq(),), {}), "forward"),
    "fusion.sequential.mult.CrossmodalTransformer": (_c("fusion.sequential.mult.CrossmodalTransformer", dim=4, heads=2,
                                                        layers=2),
                                                     lambda: ((_r(2, 5, 4), None, torch.zeros(2, 5, dtype=torch.bool,
                                                                                              device=META)), {}),
                                                     "forward"),
    "fusion.sequential.mvlstm.MVLSTM": (_c("fusion.sequential.mvlstm.MVLSTM", in_features=AB, hidden=6),
                                        lambda: ((_ab_aligned(),), {}), "forward"),
    # representation
    "representation.dcca.DCCANetwork": (lambda: importlib.import_module("polymodal.representation.dcca").DCCANetwork(
        {"a": nn.Linear(3, 2), "b": nn.Linear(2, 2)}, n_components=2), lambda: ((_ab(8),), {}), "loss"),
    "representation.dcca.DCCAENetwork": (lambda: importlib.import_module("polymodal.representation.dcca").DCCAENetwork(
        {"a": nn.Linear(3, 2), "b": nn.Linear(2, 2)}, {"a": nn.Linear(2, 3), "b": nn.Linear(2, 2)}, n_components=2),
        lambda: ((_ab(8),), {}), "loss"),
    "representation.joint.autoencoder.MultimodalAutoencoderNetwork": (
        _c("representation.joint.autoencoder.MultimodalAutoencoderNetwork", in_features=AB, hidden=4, shared=3),
        lambda: ((_ab(),), {}), "forward"),
    "representation.dbm.MultimodalDBMNetwork": (_c("representation.dbm.MultimodalDBMNetwork", in_features=AB,
                                                   hidden=[3], joint=2), lambda: ((_ab(),), {}), "forward"),
    "representation.joint.elementwise.MLPFusion": (_c("representation.joint.elementwise.MLPFusion", in_features=AB,
                                                      hidden=[4]), lambda: ((_ab(),), {}), "forward"),
    "representation.joint.elementwise.ProductFusion": (_c("representation.joint.elementwise.ProductFusion", in_features=AB,
                                                          out_features=4), lambda: ((_ab(),), {}), "forward"),
    "representation.joint.elementwise.SumFusion": (_c("representation.joint.elementwise.SumFusion", in_features=AB,
                                                      out_features=4), lambda: ((_ab(),), {}), "forward"),
    "representation.joint.multiplicative.MultiplicativeFusion": (
        _c("representation.joint.multiplicative.MultiplicativeFusion", in_features=AB, out_features=4),
        lambda: ((_ab(),), {}), "forward"),
    "representation.joint.tensor.LowRankFusion": (_c("representation.joint.tensor.LowRankFusion", in_features=AB,
                                                     out_features=4, rank=2), lambda: ((_ab(),), {}), "forward"),
    "representation.joint.tensor.TensorFusion": (_c("representation.joint.tensor.TensorFusion", in_features=AB),
                                                 lambda: ((_ab(),), {}), "forward"),
    "representation.rbm.BernoulliRBMNetwork": (_c("representation.rbm.BernoulliRBMNetwork", n_visible=3, n_hidden=2),
                                        lambda: ((_r(4, 3),), {}), "forward"),
    "representation.rbm.GaussianBernoulliRBMNetwork": (_c("representation.rbm.GaussianBernoulliRBMNetwork", n_visible=3, n_hidden=2),
                                                lambda: ((_r(4, 3),), {}), "forward"),
    "representation.similarity.CLIPLoss": (_c("representation.similarity.CLIPLoss"),
                                           lambda: ((_r(4, 3), _r(4, 3)), {}), "forward"),
    "representation.similarity.CosineEmbedding": (_c("representation.similarity.CosineEmbedding", input_dims=AB,
                                                     embed_dim=3), lambda: ((_ab(),), {}), "forward"),
    "representation.similarity.RankingLoss": (_c("representation.similarity.RankingLoss", hardest=True),
                                              lambda: ((_r(4, 3), _r(4, 3)), {}), "forward"),
    # training, export
    "training.model.MultimodalModel": (_model, lambda: (({"a": _r(5, 4), "b": _r(5, 3)},), {}), "forward"),
    "export.FlatModel": (lambda: importlib.import_module("polymodal.export").FlatModel(_model(), ["a", "b"]),
                         lambda: ((_r(5, 4), _r(5, 3), torch.ones(5, dtype=torch.bool, device=META),
                                   torch.ones(5, dtype=torch.bool, device=META)), {}), "forward"),
    "export.Standardize": (_c("export.Standardize", mean={"a": [0.0, 1.0, 2.0]}, scale={"a": [1.0, 2.0, 4.0]}),
                           lambda: ((_ab(),), {}), "forward"),
    # translation
    "translation.captioning.GridImageEncoder": (_c("translation.captioning.GridImageEncoder", image_size=16, widths=(2, 4),
                                                   grid=2), lambda: ((_r(2, 3, 16, 16),), {}), "forward"),
    "translation.captioning.ShowAndTell": (_c("translation.captioning.ShowAndTell", vocab_size=7, image_size=16,
                                              embed_dim=4, hidden=5), lambda: ((_r(2, 3, 16, 16), _ids(2, 4, high=7)), {}),
                                           "forward"),
    "translation.captioning.ShowAttendTell": (_c("translation.captioning.ShowAttendTell", vocab_size=7, image_size=16,
                                                 embed_dim=4, hidden=5, attention_dim=4),
                                              lambda: ((_r(2, 3, 16, 16), _ids(2, 4, high=7)), {}), "forward"),
    "translation.seq2seq.Seq2SeqAttention.sequence_log_prob": (
        _seq2seq_feats, lambda: (((_r(2, 5, 3), torch.tensor([5, 2])), [[4, 5], [6]]), {}), "sequence_log_prob"),
    "translation.captioning.ShowAttendTell.attention_maps": (
        _c("translation.captioning.ShowAttendTell", vocab_size=7, image_size=16, embed_dim=4, hidden=5, attention_dim=4),
        lambda: ((_r(2, 3, 16, 16), [[4, 5], [6]]), {}), "attention_maps"),
    "translation.seq2seq.Seq2SeqAttention": (_seq2seq_feats, lambda: (((_r(2, 5, 3), torch.tensor([5, 2])),
                                                                       _ids(2, 4, high=9)), {}), "forward"),
    "translation.vqa.VQABaseline": (_c("translation.vqa.VQABaseline", question_vocab=8, n_answers=3, image_size=16,
                                       widths=(2, 4), grid=2, embed_dim=4, hidden=4, fused=4),
                                    lambda: ((_r(2, 3, 16, 16), _ids(2, 4, high=8), torch.tensor([4, 2])), {}), "forward"),
}

# forwards that read tensor values (not possible on meta): checked by the factory audit only
META_READS = {
    "alignment.fragments.FragmentEmbedding": "word-mask validation (nonzero)",
    "alignment.mil.AttentionMIL": "empty-bag check (bool of a mask)",
    "alignment.dtw.soft_torch.SoftDTWLoss": "input checks read values",
    "alignment.tagm.TemporalAttentionGatedModel": "packs with lengths read back to the CPU",
    "encoders.sequence.GRUEncoder": "pad_packed_sequence",
    "encoders.sequence.RNNEncoder": "pad_packed_sequence",
    "encoders.sequence.SequenceEncoder": "pad_packed_sequence",
    "encoders.text.EmbeddingEncoder": "padding-id lengths read back",
    "fusion.sequential.lstm.EarlyFusionLSTM": "aligned-lengths check (torch.equal)",
    "fusion.sequential.lstm.LateFusionLSTM": "pad_packed_sequence",
    "fusion.sequential.mfn.MemoryFusionNetwork": "aligned-lengths check (torch.equal)",
    "fusion.sequential.mvlstm.MVLSTM": "aligned-lengths check (torch.equal)",
    "representation.dbm.MultimodalDBMNetwork": "input checks read values (finite, Bernoulli range)",
    "translation.captioning.ShowAndTell": "caption lengths from the tokens",
    "translation.captioning.ShowAttendTell": "caption lengths from the tokens",
    "translation.seq2seq.Seq2SeqAttention": "caption lengths from the tokens",
    "translation.seq2seq.Seq2SeqAttention.sequence_log_prob": "sums the log-probabilities on the CPU",
    "translation.captioning.ShowAttendTell.attention_maps": "caption lengths from the tokens",
}

# classes the table leaves out, and why
NOT_COVERED = {
    "encoders.pretrained.CLIPDualEncoder": "wraps downloaded pretrained weights (open_clip / transformers)",
    "encoders.pretrained.CLIPTextEncoder": "wraps downloaded pretrained weights",
    "encoders.pretrained.CLIPVisionEncoder": "wraps downloaded pretrained weights",
    "encoders.pretrained.HFEncoder": "wraps downloaded pretrained weights",
    "encoders.pretrained.PretrainedAudioEncoder": "wraps downloaded pretrained weights",
    "encoders.pretrained.PretrainedTextEncoder": "wraps downloaded pretrained weights",
    "encoders.pretrained.PretrainedVisionEncoder": "wraps downloaded pretrained weights",
    "encoders.pretrained._CLIPTower": "wraps downloaded pretrained weights",
    "representation.dbm._ScaledBernoulliRBM": "part of MultimodalDBMNetwork (its pretraining RBMs)",
    "representation.dbm._ScaledGaussianRBM": "part of MultimodalDBMNetwork (its pretraining RBMs)",
    "encoders.speech.SpeechFeatures": "numpy front end (librosa-style features computed on the CPU)",
    "encoders.speech_augment.SpeechAugment": "random augmentation with CPU generators on waveforms (data pipeline)",
    "fusion.sequential.mvlstm.MVLSTMCell": "covered through MVLSTM",
    "colearning.zeroshot._LinearMap": "the DeViSE estimator's weight holder (numpy in and out, device argument of its own)",
    "fusion.sequential.mult._CrossmodalLayer": "covered through MultimodalTransformer",
    "representation.joint._base.JointFusion": "abstract base",
    "representation.joint.elementwise._Projected": "base of SumFusion / ProductFusion",
    "representation.rbm._RBMNetwork": "base of the RBMs",
    "representation.rbm_dbn.MultimodalDBNNetwork": "its RBMs are covered (greedy_fit tested on the CPU)",
    "alignment.fragments.FragmentAlignmentLoss": "data-dependent loss (positive pairs from ids); its embedding is covered",
    "training.module.MultimodalLightningModule": "Lightning wrapper of MultimodalModel (covered)",
    "translation.attention.StepwiseDecoder": "abstract base of the captioners",
    "translation.attention._AttentionDecoder": "base of ShowAttendTell / Seq2SeqAttention",
}


def _on_meta(out):
    """Every tensor in ``out`` (a tensor, tuple, dict or dataclass) is on the meta device."""
    if isinstance(out, torch.Tensor):
        return [out.device == META]
    if isinstance(out, (tuple, list)):
        return [ok for o in out for ok in _on_meta(o)]
    if isinstance(out, dict):
        return [ok for o in out.values() for ok in _on_meta(o)]
    if is_dataclass(out):
        return [ok for f in fields(out) for ok in _on_meta(getattr(out, f.name))]
    return []


def _build(path):
    make, inputs, method = CASES[path]
    torch.manual_seed(0)
    return make(), inputs, method


@pytest.mark.parametrize("path", sorted(set(CASES) - set(META_READS)))
def test_forward_on_meta_follows_the_module_device(path):
    module, inputs, method = _build(path)
    module = module.to(META).eval()
    args, kwargs = inputs()
    out = getattr(module, method)(*args, **kwargs)
    checks = _on_meta(out)
    assert checks and all(checks), f"{path}.{method} returned tensors off the module's device"


SRC = os.path.dirname(polymodal.__file__)
TORCH = os.path.dirname(torch.__file__)
FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.arange, torch.eye, torch.linspace, torch.tensor,
             torch.rand, torch.randn, torch.randint, torch.randperm, torch.as_tensor, torch.from_numpy}


class FactoryAudit(TorchFunctionMode):
    """Records ``file:line function`` of each non-scalar tensor that polymodal's code builds with a
    factory and no ``device=`` (``torch.as_tensor`` of a tensor keeps its device and is not counted)."""

    def __init__(self):
        super().__init__()
        self.hits = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if (func in FACTORIES and "device" not in kwargs and isinstance(out, torch.Tensor) and out.dim() > 0
                and not (func is torch.as_tensor and isinstance(args[0], torch.Tensor))):
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith(TORCH):
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(SRC):
                where = os.path.relpath(frame.f_code.co_filename, SRC)
                self.hits.add(f"{where}:{frame.f_lineno} {func.__name__}")
        return out


def _to_cpu(a):
    """Inputs built on meta -> the same shapes on the CPU (zeros; integer ids 1)."""
    if isinstance(a, torch.Tensor):
        if a.device != META:
            return a
        return torch.ones(a.shape, dtype=a.dtype) if not a.is_floating_point() else torch.rand(a.shape, dtype=a.dtype)
    if isinstance(a, dict):
        return {k: _to_cpu(v) for k, v in a.items()}
    if isinstance(a, tuple) and hasattr(a, "_fields"):
        return type(a)(*[_to_cpu(v) for v in a])
    if isinstance(a, (tuple, list)):
        return type(a)(_to_cpu(v) for v in a)
    return a


@pytest.mark.parametrize("path", sorted(CASES))
def test_forward_builds_no_tensor_on_the_default_device(path):
    module, inputs, method = _build(path)
    module.eval()
    args, kwargs = inputs()
    audit = FactoryAudit()
    with audit:
        getattr(module, method)(*_to_cpu(args), **_to_cpu(kwargs))
    assert not audit.hits, f"{path}.{method} builds tensors without device=: {sorted(audit.hits)}"


def _meta_fit(fit):
    """Run ``fit``; only a read of a number out of a meta tensor may stop it."""
    try:
        fit()
    except (RuntimeError, NotImplementedError) as e:
        if not any(k in str(e) for k in ("cannot be called on meta tensors", "Cannot copy out of meta tensor")):
            raise


def _xy(n=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, 2))


def test_rbm_and_dbn_fit_on_the_parameters_device():
    from polymodal.representation.rbm import BernoulliRBMNetwork, GaussianBernoulliRBMNetwork
    from polymodal.representation.rbm_dbn import MultimodalDBNNetwork

    x, _ = _xy()
    for cls in (BernoulliRBMNetwork, GaussianBernoulliRBMNetwork):
        rbm = cls(3, 2).to(META)
        rbm.contrastive_divergence((x > 0).astype(float), max_epochs=2, batch_size=8, persistent=True)
        assert rbm.W.device == META and rbm.chains_.device == META
    dbn = MultimodalDBNNetwork({"a": 3, "b": 2}, hidden=[4], joint=3).to(META)
    dbn.greedy_fit({"a": (x > 0).astype(float), "b": (x[:, :2] > 0).astype(float)}, max_epochs=1, batch_size=8)
    assert dbn.joint.W.device == META
    _meta_fit(lambda: dbn.joint_features({"a": (x > 0).astype(float)}, n_gibbs=2))


def test_multimodal_autoencoder_fit_on_the_given_device():
    from polymodal.representation.joint.autoencoder import MultimodalAutoencoder

    a, b = _xy()
    _meta_fit(lambda: MultimodalAutoencoder(hidden=4, shared=2, max_epochs=1, batch_size=8, device="meta").fit([a, b]))


def test_ldcrf_fit_on_the_given_device():
    from polymodal.fusion.graphical.ldcrf import LatentDynamicCRF

    x, _ = _xy()
    m = LatentDynamicCRF(max_epochs=2, device="meta")
    _meta_fit(lambda: m.fit([x[:6], x[6:10]], [np.zeros(6, int), np.ones(4, int)]))


def test_devise_and_distillation_fit_on_the_given_device():
    from polymodal.colearning.transfer import CrossModalDistillation
    from polymodal.colearning.zeroshot import DeViSE

    x, _ = _xy()
    y = np.arange(len(x)) % 3
    emb = {c: np.eye(3)[c] + 0.1 for c in range(3)}
    _meta_fit(lambda: DeViSE(class_embeddings=emb, max_epochs=2, device="meta").fit(x, y))
    student = nn.Linear(3, 3).double().to(META)
    teacher = lambda a: np.full((len(a), 3), 1 / 3)  # noqa: E731
    _meta_fit(lambda: CrossModalDistillation(teacher, student=student, max_epochs=1, batch_size=8).fit([x, x]))


def test_deep_ctw_fit_on_the_encoders_device():
    from polymodal.alignment.deep_ctw import DeepCTW

    t = np.linspace(0, 6, 30)
    x = np.c_[np.sin(t), np.cos(t)]
    enc = (nn.Linear(2, 2).double().to(META), nn.Linear(2, 2).double().to(META))
    _meta_fit(lambda: DeepCTW(encoders=enc, max_iter=1, max_epochs=2).fit([x, x[::2]]))


def _discover() -> set[str]:
    for name in module_names():
        if ".cli" in name or name.endswith("_cli"):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # optional dependencies
            continue
    import sys

    found = set()
    for name, mod in list(sys.modules.items()):
        if not name.startswith("polymodal.") or mod is None:
            continue
        for cls in vars(mod).values():
            if inspect.isclass(cls) and issubclass(cls, nn.Module) and cls.__module__ == name:
                found.add(f"{name.removeprefix('polymodal.')}.{cls.__name__}")
    return found


def test_every_module_class_is_covered():
    missing = sorted(_discover() - set(CASES) - set(NOT_COVERED))
    assert not missing, f"add these nn.Modules to CASES (or NOT_COVERED with a reason): {missing}"
