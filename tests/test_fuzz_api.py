"""Fault-injection table for the public API (issue 19).

Every case feeds bad input (NaN, inf, empty, mismatched shapes, float or
non-contiguous class labels, unknown modality keys, forged files) to a public
function or estimator and must raise a :class:`~polymodal.errors.PolymodalError`
subclass whose message names what is wrong — never return a NaN or a
wrong-sized model silently, never fail with an unrelated exception.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError, DatasetError, ModalityError, PolymodalError, ShapeError

COUNTS: Counter = Counter()
rng = np.random.default_rng(0)
X = rng.normal(size=(30, 4))
Y = rng.normal(size=(30, 3))
NAN = X.copy()
NAN[3, 1] = np.nan
INF = X.copy()
INF[5, 0] = np.inf
SEQ = rng.normal(size=(8, 2))
SEQ_NAN = SEQ.copy()
SEQ_NAN[2, 0] = np.nan


# ----------------------------------------------------------------------------- estimators
def _cca(**kw):
    from polymodal.representation import CCA

    return CCA(**kw)


def _mcca(**kw):
    from polymodal.representation import MCCA

    return MCCA(**kw)


def _gcca(**kw):
    from polymodal.representation import GCCA

    return GCCA(**kw)


def _kcca(**kw):
    from polymodal.representation import KCCA

    return KCCA(**kw)


def _estimator_cases():
    cases = []
    for name, make, fit in [("CCA", _cca, lambda m, a, b: m.fit(a, b)),
                            ("KCCA", _kcca, lambda m, a, b: m.fit(a, b)),
                            ("MCCA", _mcca, lambda m, a, b: m.fit([a, b, a[:, :2]])),
                            ("GCCA", _gcca, lambda m, a, b: m.fit([a, b, a[:, :2]]))]:
        cases += [
            (f"{name} NaN", lambda make=make, fit=fit: fit(make(n_components=1), NAN, Y), ShapeError, "nan"),
            (f"{name} inf", lambda make=make, fit=fit: fit(make(n_components=1), INF, Y), ShapeError, "inf"),
            (f"{name} empty", lambda make=make, fit=fit: fit(make(n_components=1), X[:0], Y[:0]), ShapeError, ""),
            (f"{name} n mismatch", lambda make=make, fit=fit: fit(make(n_components=1), X, Y[:20]), ShapeError, ""),
            (f"{name} 3-D view", lambda make=make, fit=fit: fit(make(n_components=1), X[:, :, None], Y),
             ShapeError, ""),
            (f"{name} strings", lambda make=make, fit=fit: fit(make(n_components=1), X.astype(str).astype(object)
                                                                 * 0 + "a", Y), ShapeError, ""),
            (f"{name} n_components=0", lambda make=make, fit=fit: fit(make(n_components=0), X, Y), PolymodalError, ""),
            (f"{name} n_components too big", lambda make=make, fit=fit: fit(make(n_components=50), X, Y),
             PolymodalError, ""),
            (f"{name} one sample", lambda make=make, fit=fit: fit(make(n_components=1), X[:1], Y[:1]),
             PolymodalError, ""),
        ]
    cases.append(("CCA reg=-1", lambda: _cca(n_components=1, reg=-1.0).fit(X, Y), PolymodalError, "reg"))
    cases.append(("CCA reg=nan", lambda: _cca(n_components=1, reg=float("nan")).fit(X, Y), PolymodalError, "reg"))
    cases.append(("MCCA one view", lambda: _mcca(n_components=1).fit([X]), PolymodalError, ""))
    cases.append(("CCA transform NaN", lambda: _cca(n_components=1).fit(X, Y).transform(NAN, Y), ShapeError, ""))
    cases.append(("CCA transform wrong d", lambda: _cca(n_components=1).fit(X, Y).transform(X[:, :2], Y),
                  ShapeError, ""))
    return cases


# ----------------------------------------------------------------------------- DTW family
def _dtw_cases():
    from polymodal.alignment import cdist_dtw, dtw, soft_dtw, soft_dtw_divergence, soft_dtw_loss

    t = torch.as_tensor
    nan_t = t(SEQ_NAN)
    inf_t = t(SEQ).clone()
    inf_t[1, 1] = float("inf")
    return [
        ("dtw NaN x", lambda: dtw(SEQ_NAN, SEQ), ShapeError, "x"),
        ("dtw inf y", lambda: dtw(SEQ, np.where(SEQ > 0, np.inf, SEQ)), ShapeError, "y"),
        ("dtw empty", lambda: dtw(SEQ[:0], SEQ), ShapeError, "empty"),
        ("dtw d mismatch", lambda: dtw(SEQ, SEQ[:, :1]), ShapeError, "features"),
        ("dtw 3-D", lambda: dtw(SEQ[None], SEQ), ShapeError, "shape"),
        ("dtw strings", lambda: dtw(np.array(["a", "b"]), SEQ[:, :1]), PolymodalError, ""),
        ("dtw window -1", lambda: dtw(SEQ, SEQ, window=("sakoe_chiba", -1)), PolymodalError, ""),
        ("dtw window bogus", lambda: dtw(SEQ, SEQ, window="bogus"), PolymodalError, ""),
        ("soft_dtw NaN", lambda: soft_dtw(SEQ_NAN, SEQ), ShapeError, "x"),
        ("soft_dtw inf y", lambda: soft_dtw(SEQ, np.full_like(SEQ, np.inf)), ShapeError, "y"),
        ("soft_dtw gamma 0", lambda: soft_dtw(SEQ, SEQ, gamma=0.0), PolymodalError, "gamma"),
        ("soft_dtw gamma nan", lambda: soft_dtw(SEQ, SEQ, gamma=float("nan")), PolymodalError, "gamma"),
        ("soft_dtw_divergence NaN", lambda: soft_dtw_divergence(SEQ, SEQ_NAN), ShapeError, "y"),
        ("soft_dtw_loss NaN x", lambda: soft_dtw_loss(nan_t, t(SEQ)), ShapeError, "x contains NaN"),
        ("soft_dtw_loss inf y", lambda: soft_dtw_loss(t(SEQ), inf_t), ShapeError, "y contains inf"),
        ("soft_dtw_loss int", lambda: soft_dtw_loss(torch.ones(3, 2, dtype=torch.long), torch.ones(3, 2,
                                                                                                  dtype=torch.long)),
         ShapeError, "floating"),
        ("soft_dtw_loss empty", lambda: soft_dtw_loss(torch.zeros(0, 2), torch.zeros(3, 2)), ShapeError, ""),
        ("soft_dtw_loss batch mismatch", lambda: soft_dtw_loss(torch.zeros(2, 3, 1), torch.zeros(3, 3, 1)),
         ShapeError, "batch"),
        ("soft_dtw_loss numpy", lambda: soft_dtw_loss(SEQ, SEQ), ShapeError, "Tensor"),
        ("cdist_dtw NaN", lambda: cdist_dtw([SEQ, SEQ_NAN]), ShapeError, ""),
        ("cdist_dtw empty list", lambda: cdist_dtw([]), PolymodalError, ""),
        ("cdist_dtw d mismatch", lambda: cdist_dtw([SEQ, SEQ[:, :1]]), ShapeError, ""),
    ]


# ----------------------------------------------------------------------------- captions
def _caption_cases(tmp):
    from polymodal.data import load_karpathy_captions
    from polymodal.metrics import score_captions

    refs = {"1": ["a cat"], "2": ["a dog"]}
    bad_path = tmp / "karpathy.json"
    bad_path.write_text(json.dumps({"images": [{"filename": "../../etc/hostname", "split": "train",
                                                "sentences": [{"raw": "x", "tokens": ["x"]}]}]}))
    abs_path = tmp / "karpathy_abs.json"
    abs_path.write_text(json.dumps({"images": [{"filename": "/etc/hostname", "split": "train",
                                                "sentences": [{"raw": "x", "tokens": ["x"]}]}]}))
    (tmp / "imgs").mkdir(exist_ok=True)
    return [
        ("score_captions non-str", lambda: score_captions({"1": 5, "2": "a dog"}, refs, metrics=["bleu"]),
         DatasetError, ""),
        ("score_captions None", lambda: score_captions({"1": None, "2": "a dog"}, refs, metrics=["bleu"]),
         DatasetError, ""),
        ("score_captions ids differ", lambda: score_captions({"1": "a", "3": "b"}, refs, metrics=["bleu"]),
         DatasetError, ""),
        ("score_captions empty refs", lambda: score_captions({"1": "a", "2": "b"}, {"1": [], "2": ["b"]},
                                                             metrics=["bleu"]), DatasetError, ""),
        ("score_captions refs str", lambda: score_captions({"1": "a", "2": "b"}, {"1": "a", "2": "b"},
                                                           metrics=["bleu"]), DatasetError, ""),
        ("score_captions empty", lambda: score_captions({}, {}, metrics=["bleu"]), DatasetError, ""),
        ("score_captions bogus metric", lambda: score_captions({"1": "a"}, {"1": ["a"]}, metrics=["bogus"]),
         PolymodalError, "bogus"),
        ("karpathy ../ path", lambda: load_karpathy_captions(bad_path, tmp / "imgs"), DatasetError, "outside"),
        ("karpathy absolute path", lambda: load_karpathy_captions(abs_path, tmp / "imgs"), DatasetError, "outside"),
    ]


# ----------------------------------------------------------------------------- datasets
def _dataset_cases(tmp):
    from polymodal.data import MultimodalDataset, read_affective_pickle, read_avmnist, safe_pickle

    a = rng.normal(size=(6, 3))
    ds = lambda y, **kw: MultimodalDataset({"a": a}, np.asarray(y), **kw)  # noqa: E731

    class Forge:  # a pickle naming numpy.ndarray with a 745 GiB shape
        def __reduce__(self):
            return (np.ndarray, ((100_000, 1_000_000),))

    forged = pickle.dumps(Forge(), protocol=2)
    nan_pkl = tmp / "affect_nan.pkl"
    split = {"vision": np.ones((2, 3, 1)), "audio": np.ones((2, 3, 1)), "text": np.ones((2, 3, 2)),
             "labels": np.array([np.nan, 1.0]).reshape(2, 1, 1)}
    nan_pkl.write_bytes(pickle.dumps({"train": split, "valid": split, "test": split}))
    av = tmp / "avmnist"
    (av / "image").mkdir(parents=True, exist_ok=True)
    (av / "audio").mkdir(exist_ok=True)
    for part, n in [("train", 3), ("test", 2)]:
        image = np.zeros((n, 784), np.float32)
        image[1, 5] = np.nan
        np.save(av / "image" / f"{part}_data.npy", image)
        np.save(av / "audio" / f"{part}_data.npy", np.zeros((n, 112, 112), np.float32))
        np.save(av / f"{part}_labels.npy", np.arange(n))
    return [
        ("labels {0,1,7}", lambda: ds([0, 1, 7, 0, 1, 7]), ShapeError, "{0, 1, 7}"),
        ("labels {1,2}", lambda: ds([1, 2, 1, 2, 1, 2]), ShapeError, "{1, 2}"),
        ("labels negative", lambda: ds([-1, 0, 1, 0, 1, 0]), ShapeError, "-1"),
        ("labels 0.5/1.5", lambda: ds([0.5, 1.5, 0.5, 1.5, 0.5, 1.5]), ShapeError, "0.5"),
        ("labels NaN", lambda: ds([0, 1, np.nan, 0, 1, 0]), ShapeError, "NaN"),
        ("labels strings", lambda: ds(["a", "b", "a", "b", "a", "b"]), ShapeError, "encode_labels"),
        ("labels 2-D", lambda: ds(np.zeros((6, 2), int)), ShapeError, "(N,)"),
        ("labels beyond classes", lambda: ds([0, 1, 2, 0, 1, 2], classes=["x", "y"]), ShapeError, "[0, 2)"),
        ("labels beyond n_classes", lambda: ds([0, 1, 5, 0, 1, 5], n_classes=3), ShapeError, "[0, 3)"),
        ("target length", lambda: MultimodalDataset({"a": a}, np.zeros(5, int)), ShapeError, "5 samples"),
        ("modality NaN", lambda: MultimodalDataset({"a": np.where(a > 1, np.nan, a)}, np.zeros(6, int)),
         ShapeError, "NaN"),
        ("modality counts differ", lambda: MultimodalDataset({"a": a, "b": a[:5]}), ModalityError, "'b' has 5"),
        ("present unknown key", lambda: MultimodalDataset({"a": a}, present={"b": np.ones(6, bool)}),
         ModalityError, "'b'"),
        ("present wrong shape", lambda: MultimodalDataset({"a": a}, present={"a": np.ones(5, bool)}),
         ShapeError, "present"),
        ("no modalities", lambda: MultimodalDataset({}), ModalityError, ""),
        ("safe_pickle 745 GiB", lambda: safe_pickle.loads(forged), DatasetError, "GiB"),
        ("safe_pickle os.system", lambda: safe_pickle.loads(b"cos\nsystem\n(S'true'\ntR."), DatasetError, "system"),
        ("safe_pickle truncated", lambda: safe_pickle.loads(pickle.dumps(X)[:50]), DatasetError, ""),
        ("safe_pickle garbage", lambda: safe_pickle.loads(b"\x00\x01garbage"), DatasetError, ""),
        ("affective NaN labels", lambda: read_affective_pickle(nan_pkl, task="classification"), DatasetError,
         "NaN"),
        ("avmnist NaN image", lambda: read_avmnist(av, val_size=1), DatasetError, "NaN"),
        ("avmnist missing", lambda: read_avmnist(tmp / "nope"), DatasetError, "not found"),
    ]


def _label_encoder_ok():
    """``encode_labels=True`` is the explicit way: {1, 2} -> 0..1, strings too."""
    from polymodal.data import MultimodalDataset

    a = rng.normal(size=(4, 2))
    ds = MultimodalDataset({"a": a}, np.array([7, 1, 7, 1]), encode_labels=True)
    assert ds.target.tolist() == [1, 0, 1, 0] and ds.classes == [1, 7] and ds.n_classes == 2
    ds = MultimodalDataset({"a": a}, np.array(["dog", "cat", "dog", "cat"]), encode_labels=True)
    assert ds.target.tolist() == [1, 0, 1, 0] and ds.classes == ["cat", "dog"]
    # a split that lacks a class keeps the parent's class count
    ds = MultimodalDataset({"a": a}, np.array([0, 1, 2, 1]))
    assert ds.subset([0, 1]).n_classes == 3


# ----------------------------------------------------------------------------- torch modules and metrics
def _module_cases():
    from polymodal import metrics as M
    from polymodal.fusion.intermediate import ConcatFusion
    from polymodal.fusion.late import LateFusion
    from polymodal.representation import LowRankFusion, TensorFusion
    from polymodal.training.model import MultimodalModel
    from polymodal.encoders.mlp import MLP
    from polymodal.core.registry import build, load_builtin_parts
    from polymodal.training.tasks import ClassificationTask, RegressionTask

    load_builtin_parts()

    feats = {"a": torch.randn(4, 3), "b": torch.randn(4, 2)}
    dims = {"a": 3, "b": 2}
    unknown = {"c": torch.ones(4, dtype=torch.bool)}
    model = MultimodalModel({"a": MLP(3, hidden=[4]), "b": MLP(2, hidden=[4])}, ConcatFusion({"a": 4, "b": 4}),
                            MLP(8, 2, hidden=[]), input_shapes={"a": (3,), "b": (2,)})
    return [
        ("concat present unknown", lambda: ConcatFusion(dims)(feats, unknown), ModalityError, "'c'"),
        ("late present unknown", lambda: LateFusion(dims, 2)(feats, unknown), ModalityError, "'c'"),
        ("tensor present unknown", lambda: TensorFusion(dims)(feats, unknown), ModalityError, "'c'"),
        ("low_rank present unknown", lambda: LowRankFusion(dims, 4, rank=2)(feats, unknown), ModalityError, "'c'"),
        ("tensor missing modality", lambda: TensorFusion(dims)({"a": feats["a"]}), ModalityError, "'b'"),
        ("tensor wrong width", lambda: TensorFusion(dims)({"a": feats["a"], "b": torch.randn(4, 5)}),
         ShapeError, "'b'"),
        ("model present unknown", lambda: model({"a": torch.randn(4, 3), "b": torch.randn(4, 2)}, unknown),
         ModalityError, "'c'"),
        ("model unknown modality", lambda: model({"a": torch.randn(4, 3), "b": torch.randn(4, 2),
                                                  "c": torch.randn(4, 1)}), ModalityError, "'c'"),
        ("model wrong shape", lambda: model({"a": torch.randn(4, 5), "b": torch.randn(4, 2)}), ShapeError, "'a'"),
        ("MLP hidden -5 from a config", lambda: build("encoder", {"name": "mlp", "hidden": [-5]}, in_features=3),
         ConfigError, "hidden"),
        ("accuracy length mismatch", lambda: M.accuracy(torch.zeros(3), torch.zeros(4)), ShapeError, "samples"),
        ("accuracy broadcast (N,1) vs (N,)", lambda: M.accuracy(torch.zeros(3, 1), torch.zeros(3)), ShapeError,
         "shape"),
        ("accuracy empty", lambda: M.accuracy(torch.zeros(0), torch.zeros(0)), ShapeError, "no samples"),
        ("f1_macro label out of range", lambda: M.f1_macro(torch.tensor([0, 5]), torch.tensor([0, 1]), 2),
         ShapeError, "[0, 2)"),
        ("r2 NaN target", lambda: M.r2_score(torch.zeros(3), torch.tensor([0.0, float("nan"), 1.0])), ShapeError,
         "NaN"),
        ("pearson NaN pred", lambda: M.pearson_r(torch.tensor([0.0, float("nan"), 1.0]), torch.zeros(3)),
         ShapeError, "NaN"),
        ("mae length mismatch", lambda: M.mean_absolute_error(torch.zeros(3), torch.zeros(2)), ShapeError, ""),
        ("task classification float labels", lambda: ClassificationTask(3).check_target(torch.tensor([0.5, 1.0])),
         ShapeError, "0.5"),
        ("task classification class set", lambda: ClassificationTask(2).check_target(torch.tensor([0, 1, 7])),
         ShapeError, "{0, 1, 7}"),
        ("task regression on class labels", lambda: RegressionTask(10).check_target(torch.tensor([0, 1, 2])),
         ShapeError, "task"),
    ]


def _all_cases(tmp):
    return [*_estimator_cases(), *_dtw_cases(), *_caption_cases(tmp), *_dataset_cases(tmp), *_module_cases()]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return {name: (fn, exc, word) for name, fn, exc, word in _all_cases(tmp_path_factory.mktemp("api"))}


def _case_names() -> list[str]:
    """The case names, known at collection time (the callables need the fixture's folder)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        return [name for name, *_ in _all_cases(Path(d))]


NAMES = _case_names()


@pytest.mark.parametrize("name", NAMES)
def test_api_case(name, cases):
    fn, expected, word = cases[name]
    COUNTS["tried"] += 1
    try:
        value = fn()
    except expected as error:
        if not isinstance(error, PolymodalError):
            COUNTS["tracebacks"] += 1
            pytest.fail(f"{name}: {type(error).__name__} is not a PolymodalError: {error}")
        assert word.lower() in str(error).lower(), f"{name}: message does not name {word!r}: {error}"
        COUNTS["clear_errors"] += 1
        return
    except Exception as error:  # noqa: BLE001 - an unrelated exception is a traceback for the user
        COUNTS["tracebacks"] += 1
        pytest.fail(f"{name}: raised {type(error).__name__} instead of {expected.__name__}: {error}")
    COUNTS["silent"] += 1
    pytest.fail(f"{name}: bad input was accepted silently, returned {value!r:.200}")


def test_label_encoder_option():
    _label_encoder_ok()


def test_counts():
    assert len(NAMES) >= 100
    if COUNTS["tried"]:
        print(f"\nAPI fuzz: {dict(COUNTS)}")
        assert COUNTS["tracebacks"] == 0 and COUNTS["silent"] == 0


def test_monitor_names_are_the_logged_metrics():
    """config.MONITORS (checked by the schema) = train_loss, val_objective and val_<metric> of every task;
    check_monitor refuses a metric the task does not log."""
    from polymodal.training.config import MONITORS
    from polymodal.training.tasks import ClassificationTask, MultilabelTask, RegressionTask, check_monitor

    logits = torch.tensor([[2.0, -1.0], [-1.0, 2.0], [0.5, 0.2]])
    logged = set()
    for task, target in [(ClassificationTask(2), torch.tensor([0, 1, 1])),
                         (RegressionTask(2), torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])),
                         (MultilabelTask(2), torch.tensor([[1, 0], [0, 1], [1, 1]]))]:
        names = [f"val_{k}" for k in task.metrics(logits, target)]
        for name in names:
            check_monitor(task, name)
        logged |= set(names)
    assert set(MONITORS) == logged | {"train_loss", "val_objective"}
    with pytest.raises(ConfigError, match="'val_mae' is not logged for task 'classification'"):
        check_monitor(ClassificationTask(2), "val_mae")
    with pytest.raises(ConfigError, match="no validation split"):
        check_monitor(ClassificationTask(2), "val_loss", has_val=False)
