"""A seeded synthetic multimodal-sequence task whose label is a cross-modal,
cross-time interaction.

Two aligned modalities ``a`` and ``b`` of ``length`` steps and ``dim``
features of Gaussian noise. Each holds one *event* at a random step
(``t_a`` in ``a``, ``t_b`` in ``b``, drawn independently and never equal): a
marker pulse of height ``amplitude`` in feature 0 and a sign
``s in {-1, +1}`` times ``amplitude`` in feature 1. The label is the
interaction ``y = [s_a = s_b]`` (XOR of the signs). Neither modality alone
carries any information about ``y`` (each sign is a fair coin independent
of ``y``), and no single time step does either: a model must find both
events at unknown, different steps and combine them.

Optionally ``distractors`` extra pulses per modality carry a sign in
feature 2 (a look-alike channel that does not count).
"""

from __future__ import annotations

import numpy as np

from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.spec import ModalitySpec
from polymodal.errors import ShapeError

__all__ = ["make_interaction_sequences"]


@register_dataset(
    "interaction_sequences",
    description="Synthetic 2-modality sequences; label = XOR of event signs at unknown, different steps",
    source="generated (polymodal.data.sequences_synthetic), seeded",
    licence="generated",
)
def make_interaction_sequences(
    n: int = 1000,
    *,
    length: int = 30,
    dim: int = 4,
    amplitude: float = 2.0,
    noise: float = 1.0,
    distractors: int = 0,
    seed: int = 0,
) -> MultimodalDataset:
    """Generate the cross-modal interaction task (see the module docstring).

    Parameters
    ----------
    n : int
        Samples.
    length : int
        Steps per sequence (>= 2).
    dim : int
        Features per step and modality (>= 3).
    amplitude, noise : float
        Event height and noise standard deviation.
    distractors : int
        Extra look-alike pulses per modality (in feature 2, not counted).
    seed : int

    Returns
    -------
    MultimodalDataset
        ``a``, ``b`` float32 ``(n, length, dim)``; target ``(n,)`` in {0, 1};
        ``ids`` are ``(i, t_a, t_b)``.

    >>> ds = make_interaction_sequences(8, length=10, seed=1)
    >>> ds.modalities["a"].shape, ds.specs["a"].shape, sorted(set(ds.target.tolist())) <= [0, 1]
    ((8, 10, 4), (None, 4), True)
    """
    if length < 2 or dim < 3 or n < 1:
        raise ShapeError(f"need n >= 1, length >= 2 and dim >= 3, got n={n}, length={length}, dim={dim}")
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, noise, size=(n, length, dim))
    b = rng.normal(0.0, noise, size=(n, length, dim))
    t_a = rng.integers(0, length, n)
    t_b = (t_a + rng.integers(1, length, n)) % length  # a different step
    s_a = rng.choice([-1.0, 1.0], n)
    s_b = rng.choice([-1.0, 1.0], n)
    rows = np.arange(n)
    for x, t, s in ((a, t_a, s_a), (b, t_b, s_b)):
        x[rows, t, 0] += amplitude
        x[rows, t, 1] += amplitude * s
        for _ in range(distractors):
            td = rng.integers(0, length, n)
            x[rows, td, 2] += amplitude * rng.choice([-1.0, 1.0], n)
    target = (s_a == s_b).astype(np.int64)
    specs = {
        # (None, dim): any length; build_model then gives encoders the per-step size
        m: ModalitySpec(m, "sequence", (None, dim), description=f"{length} steps, one signed event in modality {m}")
        for m in ("a", "b")
    }
    return MultimodalDataset(
        {"a": a.astype(np.float32), "b": b.astype(np.float32)}, target, specs=specs,
        ids=[(int(i), int(x), int(y)) for i, x, y in zip(rows, t_a, t_b)], task="classification",
        classes=["different signs", "same sign"], name="interaction_sequences",
    )
