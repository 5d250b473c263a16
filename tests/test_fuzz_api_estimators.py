"""Fault-injection table, part 2 (issue 19): the estimators converted to the
scikit-learn shape last (CRFs, bridges, joint autoencoders, DBM, deep CTW,
DeViSE) and the column-block adapter.

Same rule as :mod:`tests.test_fuzz_api`: each case feeds bad input and must
raise the given :class:`~polymodal.errors.PolymodalError` subclass whose message
contains the given word — never a silent result, never an unrelated exception.
Inputs are tiny and training runs one epoch, so the table stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.errors import ModalityError, ShapeError

rng = np.random.default_rng(0)
A = rng.normal(size=(12, 3))
B = rng.normal(size=(12, 2))
C = rng.normal(size=(12, 4))
y = np.arange(12) % 2
S3 = rng.normal(size=(12, 4, 2))  # 12 sequences of 4 frames, 2 features
ROWS = np.asfortranarray(A)[:, ::-1]  # negative strides


def _nan(a):
    a = a.copy()
    a.flat[3] = np.nan
    return a


def _hcrf_cases():
    from polymodal.fusion import HCRF, LatentDynamicCRF, MultiViewHCRF

    mv = lambda: MultiViewHCRF(n_hidden=2, max_epochs=1)  # noqa: E731
    samples = [rng.normal(size=(5, 2)) for _ in range(4)]  # an old-style one-view list of 4 samples
    square = [rng.normal(size=(4, 2)) for _ in range(4)]  # 4 samples of 4 frames: both readings fit y
    frames = [np.arange(4) % 2] * 12
    return {
        "HCRF y continuous": (lambda: HCRF(max_epochs=1).fit(S3, y + 0.5), ShapeError, "continuous"),
        "HCRF y NaN": (lambda: HCRF(max_epochs=1).fit(S3, np.where(y > 0, np.nan, 0.0)), ShapeError, "nan"),
        "HCRF 4-D X": (lambda: HCRF(max_epochs=1).fit(S3[..., None], y), ShapeError, "shape"),
        "HCRF strings": (lambda: HCRF(max_epochs=1).fit(np.full(S3.shape, "a"), y), ShapeError, "numeric"),
        "LDCRF y continuous": (lambda: LatentDynamicCRF(max_epochs=1).fit(S3, [f + 0.5 for f in frames]),
                               ShapeError, "continuous"),
        "LDCRF y NaN": (lambda: LatentDynamicCRF(max_epochs=1).fit(S3, [np.where(f > 0, np.nan, 0) for f in frames]),
                        ShapeError, "nan"),
        "MVHCRF strings": (lambda: mv().fit([np.full(S3.shape, "a"), S3], y), ShapeError, "numeric"),
        "MVHCRF y continuous": (lambda: mv().fit([S3, S3], y + 0.5), ShapeError, "continuous"),
        "MVHCRF old-style sample list": (lambda: mv().fit(samples, np.array([0, 1, 0, 1])), ShapeError,
                                         "list of samples"),
        "MVHCRF sample list, n == T": (lambda: mv().fit(square, np.array([0, 1, 0, 1])), ShapeError, "ambiguous"),
        "MVHCRF predict extra view": (lambda: mv().fit([S3, S3[..., :1]], y).predict([S3, S3[..., :1], S3]),
                                      ModalityError, "view2"),
        "MVHCRF predict unknown key": (lambda: mv().fit({"a": S3, "b": S3}, y).predict({"a": S3, "b": S3, "c": S3}),
                                       ModalityError, "'c'"),
    }


def _view_cases():
    from polymodal.colearning import BridgeCorrNet, CorrNet, DeViSE, PivotBridge
    from polymodal.core import ColumnBlocks

    E = rng.normal(size=(3, 2))
    table = lambda **kw: DeViSE(class_embeddings=E, loss="ridge", **kw)  # noqa: E731
    return {
        "CorrNet strings": (lambda: CorrNet(max_epochs=1).fit([np.full(A.shape, "a"), B]), ShapeError, "views[0]"),
        "CorrNet complex": (lambda: CorrNet(max_epochs=1).fit([A + 1j, B]), ShapeError, "complex"),
        "CorrNet transform wrong width": (lambda: CorrNet(n_components=2, max_epochs=1).fit([A, B])
                                          .transform([A[:, :2], B]), ShapeError, "(n, 3)"),
        "BridgeCorrNet strings": (lambda: BridgeCorrNet(max_epochs=1).fit([A, np.full(B.shape, "x"), C]),
                                  ShapeError, "views[1]"),
        "PivotBridge complex": (lambda: PivotBridge().fit([A, B + 1j, C]), ShapeError, "complex"),
        "PivotBridge transform wrong width": (lambda: PivotBridge().fit([A, B, C]).transform([A, B, C[:, :1]]),
                                              ShapeError, "(n, 4)"),
        "PivotBridge transform_view partial NaN": (lambda: PivotBridge().fit([A, B, C]).transform_view(_nan(A), 0),
                                                   ShapeError, "row 1"),
        "DeViSE NaN": (lambda: table().fit(_nan(A), y), ShapeError, "nan"),
        "DeViSE y NaN": (lambda: table().fit(A, np.where(y > 0, np.nan, 0.0)), ShapeError, "nan"),
        "DeViSE predict wrong width": (lambda: table().fit(A, y).predict(A[:, :2]), ShapeError, "features"),
        "DeViSE zero class vector": (lambda: DeViSE(class_embeddings=np.r_[E[:2], [[0.0, 0.0]]], loss="ridge")
                                     .fit(A, y), ShapeError, "label 2"),
        "ColumnBlocks strings": (lambda: ColumnBlocks(CorrNet(max_epochs=1), blocks=[3, 2])
                                 .fit(np.full((12, 5), "a")), ShapeError, "string"),
        "CoTraining NaN view": (lambda: _cotraining().fit([_nan(A), B], y), ShapeError, "X[0]"),
        "MKLClassifier string view": (lambda: _mkl().fit([np.full(A.shape, "a"), B], y), ShapeError, "string"),
    }


def _cotraining():
    from sklearn.naive_bayes import GaussianNB

    from polymodal.colearning import CoTraining

    return CoTraining(GaussianNB())


def _mkl():
    from polymodal.fusion import MKLClassifier

    return MKLClassifier()


def _metric_cases():
    import torch

    from polymodal import metrics as M
    from polymodal.errors import ConfigError, DatasetError

    S = rng.normal(size=(4, 5))
    rel = np.arange(4)
    t = torch.tensor
    return {
        "recall@k empty similarity": (lambda: M.retrieval_recall_at_k(S[:0], rel[:0]), ShapeError, "empty"),
        "recall@k relevance 0.5": (lambda: M.retrieval_recall_at_k(S, rel + 0.5), ShapeError, "0.5"),
        "recall@k strings": (lambda: M.retrieval_recall_at_k(np.full(S.shape, "a"), rel), ShapeError, "similarity"),
        "recall@k complex": (lambda: M.retrieval_recall_at_k(S + 1j, rel), ShapeError, "complex"),
        "relevance_matrix float index": (lambda: M.relevance_matrix(rel + 0.5, 4, 5), ShapeError, "integer"),
        "evaluate_retrieval strings": (lambda: M.evaluate_retrieval(np.full(S.shape, "a"), S, rel), ShapeError,
                                       "query_embeddings"),
        "recall_curve rank 0": (lambda: M.recall_curve(np.array([0, 2]), 3), ShapeError, "1-based"),
        "recall_curve NaN rank": (lambda: M.recall_curve(np.array([np.nan, 2.0]), 3), ShapeError, "nan"),
        "recall_curve empty": (lambda: M.recall_curve(np.array([], int), 3), ShapeError, "non-empty"),
        "recall_curve max_k 0": (lambda: M.recall_curve(np.array([1, 2]), 0), ConfigError, "max_k"),
        "accuracy NaN pred": (lambda: M.accuracy(t([float("nan"), 1.0]), t([0.0, 1.0])), ShapeError, "nan"),
        "multilabel_f1 label 2": (lambda: M.multilabel_f1(t([[2, 0]]), t([[1, 0]])), ShapeError, "0/1"),
        "multilabel_f1 NaN": (lambda: M.multilabel_f1(t([[float("nan"), 0.0]]), t([[1.0, 0.0]])), ShapeError, "0/1"),
        "subset_accuracy label 0.5": (lambda: M.subset_accuracy(t([[0.5, 0.0]]), t([[1.0, 0.0]])), ShapeError, "0/1"),
        "sentiment strings": (lambda: M.sentiment_scores(np.array(["a", "b"]), np.zeros(2)), ShapeError, "pred"),
        "binary_accuracy convention": (lambda: M.binary_accuracy(np.ones(2), np.ones(2), convention="x"),
                                       ConfigError, "convention"),
        "binary_f1 weighting": (lambda: M.binary_f1(np.ones(2), np.ones(2), weighting="x"), ConfigError, "weighting"),
        "ptb_tokenize None": (lambda: M.ptb_tokenize(None), DatasetError, "NoneType"),
        "ptb_tokenize ints": (lambda: M.ptb_tokenize(["a cat", 2]), DatasetError, "captions[1]"),
    }


def _function_cases():
    import torch

    from polymodal.alignment import alignment_error, fragment_scores, make_mil_bags, uniform_path
    from polymodal.errors import ConfigError
    from polymodal.representation import cca_correlation, cosine_similarity_matrix, itq, sym_inv_sqrt

    h = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return {
        "uniform_path length 0": (lambda: uniform_path(0, 5), ShapeError, "n must be"),
        "uniform_path length 2.5": (lambda: uniform_path(3, 2.5), ShapeError, "m must be"),
        "alignment_error NaN index": (lambda: alignment_error([[0, 0], [np.nan, 1]], [[0, 0], [1, 1]]), ShapeError,
                                      "integer frame indices"),
        "alignment_error 0.5 index": (lambda: alignment_error([[0, 0], [1, 0.5]], [[0, 0], [1, 1]]), ShapeError,
                                      "integer frame indices"),
        "fragment_scores h mismatch": (lambda: fragment_scores(torch.ones(2, 3, 4), torch.ones(2, 5, 3)), ShapeError,
                                       "same h"),
        "make_mil_bags n_bags 0": (lambda: make_mil_bags(n_bags=0), ConfigError, "n_bags"),
        "make_mil_bags d 0": (lambda: make_mil_bags(d=0), ConfigError, "d must"),
        "cosine_similarity_matrix d mismatch": (lambda: cosine_similarity_matrix(h, h[:, :2]), ShapeError, "same d"),
        "cca_correlation NaN": (lambda: cca_correlation(h.index_fill(0, torch.tensor([1]), float("nan")), h),
                                ShapeError, "h1"),
        "sym_inv_sqrt non-square": (lambda: sym_inv_sqrt(torch.ones(3, 4)), ShapeError, "square"),
        "itq empty": (lambda: itq(np.zeros((0, 3))), ShapeError, "0 sample"),
    }


def _data_cases():
    import json
    import tempfile
    from pathlib import Path

    import torch

    from polymodal import data as D
    from polymodal import encoders as E
    from polymodal.errors import ConfigError, DatasetError

    folder = Path(tempfile.mkdtemp(prefix="fuzz_data_"))
    (folder / "caps.json").write_text(json.dumps({"1": [5]}))
    (folder / "glove.txt").write_text("a 1 nan 3\n")
    ds = D.MultimodalDataset({"a": A[:6]}, y[:6])
    return {
        "collate no samples": (lambda: D.collate([]), ShapeError, "at least one"),
        "collate modalities differ": (lambda: D.collate([ds[0], {**ds[1], "inputs": {"b": torch.ones(3)}}]),
                                      ModalityError, "samples[1]"),
        "collate not an item": (lambda: D.collate([{"a": torch.ones(2)}]), ShapeError, "inputs"),
        "pad_sequences none": (lambda: D.pad_sequences([]), ShapeError, "at least one"),
        "pad_sequences frame shapes differ": (lambda: D.pad_sequences([torch.ones(3, 2), torch.ones(4, 3)]),
                                              ShapeError, "sequences[1]"),
        "pad_sequences numpy": (lambda: D.pad_sequences([np.ones((3, 2))]), ShapeError, "ndarray"),
        "make_loader batch 2.5": (lambda: D.make_loader(ds, 2.5), ConfigError, "batch_size"),
        "make_loader batch 0": (lambda: D.make_loader(ds, 0), ConfigError, "batch_size"),
        "load_captions_json int caption": (lambda: D.load_captions_json(str(folder / "caps.json"), many=True),
                                           DatasetError, "'1'"),
        "load_captions_json list as one": (lambda: D.load_captions_json(str(folder / "caps.json"), many=False),
                                           DatasetError, "one caption"),
        "tuxpaint image_size 0": (lambda: D.load_tuxpaint_stamps(folder, image_size=0), DatasetError, "image_size"),
        "shape_fragments image_size 0": (lambda: D.make_shape_fragments(n_scenes=2, image_size=0), ConfigError,
                                         "image_size"),
        "interaction noise -1": (lambda: D.make_interaction_sequences(n=4, noise=-1.0), ShapeError, "noise"),
        "Vocabulary one str": (lambda: D.Vocabulary("abc"), DatasetError, "one str"),
        "read_glove NaN": (lambda: E.read_glove(folder / "glove.txt"), DatasetError, ":1: NaN"),
        "read_glove limit 0": (lambda: E.read_glove(folder / "glove.txt", limit=0), ConfigError, "limit"),
        "tokenize None": (lambda: E.tokenize(None), DatasetError, "NoneType"),
        "BagOfWords one str": (lambda: E.BagOfWords().fit("a cat"), DatasetError, "one str"),
        "BagOfWords int text": (lambda: E.BagOfWords().fit(["a cat", 3]), DatasetError, "X[1]"),
        "train_skipgram dim 0": (lambda: E.train_skipgram([["a", "b"]], dim=0), ConfigError, "dim"),
    }


def _module_cases():
    import torch

    from polymodal.fusion import EarlyFusionLSTM, HybridFusion, MultimodalTransformer
    from polymodal.representation import CosineEmbedding, SumFusion

    dims = {"a": 3, "b": 2}
    flat = {"a": torch.randn(4, 3), "b": torch.randn(4, 2)}
    seq = {"a": torch.randn(4, 5, 3), "b": torch.randn(4, 5, 2)}
    mult = lambda: MultimodalTransformer(dims, dim=4, heads=2, layers=1, memory_layers=1)  # noqa: E731
    return {
        "SumFusion numpy features": (lambda: SumFusion(dims, 4)({k: v.numpy() for k, v in flat.items()}),
                                     ShapeError, "ndarray"),
        "SumFusion int features": (lambda: SumFusion(dims, 4)({**flat, "b": flat["b"].long()}), ShapeError, "'b'"),
        "SumFusion empty batch": (lambda: SumFusion(dims, 4)({k: v[:0] for k, v in flat.items()}), ShapeError, "empty"),
        "SumFusion not a dict": (lambda: SumFusion(dims, 4)(flat["a"]), ModalityError, "dict"),
        "HybridFusion missing modality": (lambda: HybridFusion(dims, 2)({"a": flat["a"]}), ModalityError, "'b'"),
        "HybridFusion unknown modality": (lambda: HybridFusion(dims, 2)({**flat, "c": flat["a"]}), ModalityError,
                                          "'c'"),
        "HybridFusion wrong width": (lambda: HybridFusion(dims, 2)({**flat, "b": flat["a"]}), ShapeError, "'b'"),
        "HybridFusion batch sizes": (lambda: HybridFusion(dims, 2)({**flat, "b": flat["b"][:2]}), ShapeError, "'b'"),
        "EarlyFusionLSTM unknown modality": (lambda: EarlyFusionLSTM(dims, 4)({**seq, "c": seq["a"]}), ModalityError,
                                             "'c'"),
        "EarlyFusionLSTM int steps": (lambda: EarlyFusionLSTM(dims, 4)({**seq, "b": seq["b"].long()}), ShapeError,
                                      "floating"),
        "EarlyFusionLSTM empty batch": (lambda: EarlyFusionLSTM(dims, 4)({k: v[:0] for k, v in seq.items()}),
                                        ShapeError, "empty"),
        "MulT numpy steps": (lambda: mult()({k: v.numpy() for k, v in seq.items()}), ShapeError, "ndarray"),
        "MulT not a dict": (lambda: mult()(seq["a"]), ModalityError, "dict"),
        "CosineEmbedding wrong width": (lambda: CosineEmbedding(dims, 4)({"b": flat["a"]}), ShapeError, "'b'"),
        "CosineEmbedding 1-D": (lambda: CosineEmbedding(dims, 4)({"b": flat["b"][0]}), ShapeError, "'b'"),
    }


def _core_cases():
    import torch

    from polymodal.benchmarks import add_gaussian_noise, curve_auc
    from polymodal.core import build, registered, split_columns
    from polymodal.data import Batch
    from polymodal.errors import ConfigError

    batch = Batch({"a": torch.randn(4, 3)}, torch.tensor([0, 1, 0, 1]), {}, {}, {}, [0, 1, 2, 3])
    return {
        "registry unknown kind": (lambda: registered("bogus"), ConfigError, "bogus"),
        "build unknown kind": (lambda: build("bogus", {"name": "mlp"}), ConfigError, "bogus"),
        "split_columns 1-D X": (lambda: split_columns(np.ones(5), 2), ShapeError, "2-D"),
        "curve_auc NaN value": (lambda: curve_auc([0, 1], [np.nan, 1.0]), ShapeError, "finite"),
        "curve_auc unsorted levels": (lambda: curve_auc([1, 0], [1.0, 0.5]), ConfigError, "increase"),
        "noise sigma -1": (lambda: add_gaussian_noise(batch, -1.0, ["a"]), ConfigError, "sigma"),
        "noise modalities one str": (lambda: add_gaussian_noise(batch, 0.5, "a"), ConfigError, "one str"),
        **_translation_cases(),
        "HOGDescriptor NaN pixel": (lambda: _hog().fit_transform(np.where(np.eye(16)[None] > 0, np.nan, 0.5)),
                                    ShapeError, "image 0"),
    }


def _hog():
    from polymodal.encoders import HOGDescriptor

    return HOGDescriptor()


def _translation_cases():
    import torch

    from polymodal.errors import ConfigError, DatasetError
    from polymodal.translation import consensus_scores, greedy_decode, token_loss

    def step(tokens, state):
        return torch.log_softmax(torch.zeros(tokens.shape[0], 6), -1), state

    return {
        "consensus_scores one str group": (lambda: consensus_scores(["a cat"]), DatasetError, "groups[0]"),
        "greedy_decode length_penalty NaN": (lambda: greedy_decode(step, None, 2, 1, 2, 5, length_penalty=float("nan")),
                                             ConfigError, "length_penalty"),
        "token_loss T mismatch": (lambda: token_loss(torch.randn(2, 5, 6), torch.zeros(2, 4, dtype=torch.long)),
                                  ShapeError, "(2, 4)"),
        "token_loss float targets": (lambda: token_loss(torch.randn(2, 5, 6), torch.zeros(2, 5)), ShapeError,
                                     "integer"),
    }


def _calibration_cases():
    from polymodal.errors import ConfigError
    from polymodal.fusion import expected_calibration_error as ece, fit_temperature

    P = np.full((4, 3), 1 / 3)
    L = rng.normal(size=(4, 3))
    t = np.array([0, 1, 2, 0])
    nan_p, nan_l = P.copy(), L.copy()
    nan_p[1, 0] = nan_l[2, 1] = np.nan
    return {
        "ECE NaN probabilities": (lambda: ece(nan_p, t), ShapeError, "sample 1"),
        "ECE rows summing to 2": (lambda: ece(2 * P, t), ShapeError, "distribution"),
        "ECE target out of range": (lambda: ece(P, t + 1), ShapeError, "[0, 3)"),
        "ECE fractional target": (lambda: ece(P, t + 0.5), ShapeError, "0.5"),
        "ECE empty": (lambda: ece(P[:0], t[:0]), ShapeError, "N >= 1"),
        "ECE n_bins 0": (lambda: ece(P, t, n_bins=0), ConfigError, "n_bins"),
        "temperature NaN logits": (lambda: fit_temperature(nan_l, t), ShapeError, "sample 2"),
        "temperature float targets": (lambda: fit_temperature(L, t + 0.25), ShapeError, "class indices"),
        "temperature empty": (lambda: fit_temperature(L[:0], t[:0]), ShapeError, "N >= 1"),
        "temperature target out of range": (lambda: fit_temperature(L, t + 3), ShapeError, "[0, 3)"),
        "temperature string logits": (lambda: fit_temperature(np.full((4, 3), "a"), t), ShapeError, "dtype"),
        "dataset present mask 0.5": (lambda: _dataset(present={"a": [1, 0.5, 1, 1]}), ShapeError, "0.5"),
        "dataset present mask 2": (lambda: _dataset(present={"a": [1, 2, 1, 1]}), ShapeError, "booleans"),
    }


def _dataset(**kw):
    from polymodal.data import MultimodalDataset

    return MultimodalDataset({"a": A[:4], "b": B[:4]}, np.array([0, 1, 0, 1]), **kw)


CASES = {**_hcrf_cases(), **_view_cases(), **_metric_cases(), **_function_cases(), **_data_cases(),
         **_module_cases(), **_core_cases(), **_calibration_cases()}


def _contiguity_cases():
    """Negative-stride and Fortran views are valid input: they must fit (not a torch stride error)."""
    from polymodal.fusion import MultiViewHCRF

    from polymodal.alignment import DeepCTW
    from polymodal.representation import MultimodalAutoencoder, MultimodalDBM

    return {"MVHCRF negative strides": lambda: MultiViewHCRF(n_hidden=2, max_epochs=1).fit([S3[:, ::-1], S3], y),
            "MultimodalDBM negative strides": lambda: MultimodalDBM(max_epochs=1).fit([ROWS, B]).transform([ROWS, B]),
            "MultimodalAutoencoder negative strides": lambda: MultimodalAutoencoder(
                hidden=4, shared=2, max_epochs=1).fit([ROWS, B]).transform([ROWS, B]),
            "DeepCTW negative strides": lambda: DeepCTW(max_iter=1, max_epochs=1).fit([ROWS, B[::-1]]),
            "DCCA negative strides": lambda: _dcca().fit([ROWS, B[::-1]]).transform([ROWS, B[::-1]])}


def _dcca():
    from polymodal.representation import DCCA

    return DCCA(max_epochs=1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_clearly(name, assert_refused):
    assert_refused(name, *CASES[name])


@pytest.mark.parametrize("name", sorted(_contiguity_cases()))
def test_non_contiguous_input_is_accepted(name):
    _contiguity_cases()[name]()
