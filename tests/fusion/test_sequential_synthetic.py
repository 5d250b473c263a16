"""The synthetic cross-modal interaction task: labels are the XOR of the event
signs, and neither modality alone carries information about them."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.data import load_dataset, make_interaction_sequences
from polymodal.errors import ShapeError


def test_label_is_xor_of_event_signs_at_the_recorded_steps():
    ds = make_interaction_sequences(200, length=12, dim=3, noise=0.0, amplitude=1.5, seed=3)
    a, b = ds.modalities["a"], ds.modalities["b"]
    for (i, t_a, t_b), y in zip(ds.ids, ds.target):
        assert t_a != t_b
        assert a[i, t_a, 0] == 1.5 and b[i, t_b, 0] == 1.5
        assert np.count_nonzero(a[i]) == 2 and np.count_nonzero(b[i]) == 2  # only the event, no noise
        assert y == int(np.sign(a[i, t_a, 1]) == np.sign(b[i, t_b, 1]))


def test_each_modality_alone_is_uninformative_and_seeded():
    ds = make_interaction_sequences(4000, seed=0)
    s_a = np.array([np.sign(ds.modalities["a"][i, t, 1] - 0) for i, t, _ in ds.ids])
    # sign of a's event is a fair coin independent of the label: P(y=1 | s_a) ~ 1/2
    for s in (-1, 1):
        sel = s_a == s
        assert abs(ds.target[sel].mean() - 0.5) < 0.05
    again = load_dataset("interaction_sequences", n=4000, seed=0)
    np.testing.assert_array_equal(again.modalities["b"], ds.modalities["b"])
    assert not np.array_equal(make_interaction_sequences(50, seed=1).target, make_interaction_sequences(50, seed=2).target)
    with pytest.raises(ShapeError, match="length >= 2"):
        make_interaction_sequences(5, length=1)
