"""Fault-injection table, part 3: the standardisation path
(:class:`~polymodal.data.transforms.Standardizer` and the plain functions of
:mod:`polymodal.data.preprocessing` the training engine uses without scikit-learn).

Same rule as :mod:`tests.test_fuzz_api`: each case feeds bad input and must
raise the given :class:`~polymodal.errors.PolymodalError` subclass whose message
contains the given words, never a silent result, never an unrelated exception.
"""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.data import MultimodalDataset, Standardizer
from polymodal.data.preprocessing import modality_statistics, standardize_modalities, statistics_state
from polymodal.errors import ModalityError, ShapeError

rng = np.random.default_rng(0)
A = rng.normal(size=(12, 3))
B = rng.normal(size=(12, 2))
y = np.arange(12) % 2


def _bad(a, value=np.nan, at=(1, 2)):
    a = a.copy()
    a[at] = value
    return a


def _fit(**mods):
    return Standardizer().fit(mods)


def _dataset_with_present(mask):
    ds = MultimodalDataset({"a": A, "b": B}, y, present={"a": np.arange(12) % 3 != 0})
    ds.present["a"] = mask  # set after construction, past the dataset's own check
    return ds


CASES = {
    # per modality: the keys at transform must be the keys fitted
    "transform missing modality": (lambda: _fit(a=A, b=B).transform({"a": A}), ModalityError, "'b'"),
    "transform unknown modality": (lambda: _fit(a=A).transform({"a": A, "c": B}), ModalityError, "'c'"),
    "inverse_transform missing modality": (lambda: _fit(a=A, b=B).inverse_transform({"b": B}), ModalityError, "'a'"),
    "transform dataset missing modality": (lambda: _fit(a=A, b=B).transform(MultimodalDataset({"a": A}, y)),
                                           ModalityError, "'b'"),
    "fit no modalities": (lambda: Standardizer().fit({}), ModalityError, "no modalit"),
    # per modality: values
    "transform NaN": (lambda: _fit(a=A).transform({"a": _bad(A)}), ShapeError, "'a' contains nan at sample 1"),
    "transform inf": (lambda: _fit(a=A).transform({"a": _bad(A, np.inf)}), ShapeError, "'a' contains inf"),
    "fit NaN names the sample": (lambda: _fit(a=A, b=_bad(B, at=(4, 0))), ShapeError, "'b' contains nan at sample 4"),
    "fit strings": (lambda: _fit(a=A.astype(str)), ShapeError, "'a'"),
    "fit complex": (lambda: _fit(a=A + 1j), ShapeError, "complex"),
    "transform complex": (lambda: _fit(a=A).transform({"a": A + 1j}), ShapeError, "complex"),
    "transform strings": (lambda: _fit(a=A).transform({"a": A.astype(str)}), ShapeError, "'a'"),
    "transform object": (lambda: _fit(a=A).transform({"a": np.array([[None] * 3] * 2)}), ShapeError, "'a'"),
    "transform 0-d": (lambda: _fit(a=A[:, 0]).transform({"a": np.float64(1.0)}), ShapeError, "'a'"),
    # the present mask: rows marked missing are skipped at fit, but the mask must be a (n,) bool
    "fit every row marked missing": (lambda: Standardizer().fit(_dataset_with_present(np.zeros(12, bool))),
                                     ShapeError, "marked missing"),
    "fit present as 0/1 integers": (lambda: Standardizer().fit(_dataset_with_present(np.arange(12) % 2)),
                                    ShapeError, "present"),
    "fit present of the wrong length": (lambda: Standardizer().fit(_dataset_with_present(np.ones(5, bool))),
                                        ShapeError, "present"),
    # one array: scikit-learn's refusals as polymodal's ShapeError
    "one array fit NaN": (lambda: Standardizer().fit(_bad(A)), ShapeError, "nan"),
    "one array transform inf": (lambda: Standardizer().fit(A).transform(_bad(A, np.inf)), ShapeError, "inf"),
    "one array strings": (lambda: Standardizer().fit(A.astype(str).astype(object) + "x"), ShapeError, "string"),
    "one array complex": (lambda: Standardizer().fit(A + 1j), ShapeError, "complex"),
    "one array 0 rows": (lambda: Standardizer().fit(A[:0]), ShapeError, "0 sample"),
    "one array transform wrong width": (lambda: Standardizer().fit(A).transform(B), ShapeError, "3 features"),
    # the plain functions (the engine's path)
    "modality_statistics no modalities": (lambda: modality_statistics({}), ModalityError, "no modalit"),
    "standardize_modalities missing modality": (lambda: standardize_modalities({"a": A}, *modality_statistics(
        {"a": A, "b": B})), ModalityError, "'b'"),
    "standardize_modalities NaN": (lambda: standardize_modalities({"a": _bad(A)}, *modality_statistics({"a": A})),
                                   ShapeError, "'a' contains nan"),
    "statistics_state keys differ": (lambda: statistics_state({"a": np.zeros(3)}, {"b": np.ones(3)}),
                                     ModalityError, "'a'"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_clearly(name, assert_refused):
    assert_refused(name, *CASES[name])


def test_rows_marked_missing_may_hold_nan_and_pass_through():
    """The documented missing-row mechanism: a dataset's rows marked missing (``present`` False) hold
    placeholders; they are left out of the statistics at fit and not checked at transform (a NaN
    placeholder stays NaN), while the present rows are z-scored with the present rows' statistics."""
    a = rng.normal(4.0, 2.0, size=(12, 3))
    present = np.arange(12) % 3 != 0
    a[~present] = np.nan
    ds = MultimodalDataset({"a": a, "b": B}, y, present={"a": present}, check_finite=False)
    st = Standardizer().fit(ds)
    out = st.transform(ds).modalities["a"]
    expected = (a[present] - a[present].mean(0)) / a[present].std(0)
    np.testing.assert_allclose(out[present], expected, rtol=1e-5, atol=1e-6)
    assert np.isnan(out[~present]).all()


def test_variable_length_modalities_pass_through_without_statistics():
    """Lists of (T_i, d) arrays never get statistics, so one may be present at transform only;
    zero rows at transform are an empty result, not an error (an empty split)."""
    seq = [rng.normal(size=(t, 2)) for t in (1, 3)]
    st = _fit(a=A)
    out = st.transform({"a": A[:2], "s": seq})
    assert out["s"] is seq
    assert st.transform({"a": A[:0]})["a"].shape == (0, 3)
