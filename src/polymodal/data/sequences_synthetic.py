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

__all__ = ["make_interaction_sequences", "make_two_rate_sequences", "repeat_short_stream", "make_warped_sequences"]


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
    if not noise >= 0:
        raise ShapeError(f"noise is a standard deviation: need noise >= 0, got {noise!r}")
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


def make_two_rate_sequences(n_per_class: int, rng: np.random.Generator, length: int = 40,
                            noise: float = 0.3) -> tuple[list[list[np.ndarray]], np.ndarray]:
    """Two streams at different rates whose class is their pairing (the asynchronous-HMM task).

    The long stream ``(length, 1)`` shows a piecewise-constant symbol ``z_t in {0, 1}``
    (segments of 3-6 frames) as ``2 z_t - 1`` plus noise; the short stream
    ``(length // 2, 1)`` shows the symbol at ``length // 2`` random sorted times
    (half rate with jitter), XOR-ed with the class ``c``. Each stream alone carries
    no class information. Returns ``([[long, short], ...], labels)``, classes 0 then 1.
    """
    X, y = [], []
    for c in (0, 1):
        for _ in range(n_per_class):
            z, sym = [], int(rng.integers(2))
            while len(z) < length:
                z += [sym] * int(rng.integers(3, 7))
                sym = 1 - sym
            z = np.array(z[:length])
            times = np.sort(rng.choice(length, length // 2, replace=False))
            long = (2 * z - 1)[:, None] + noise * rng.normal(size=(length, 1))
            short = (2 * (z[times] ^ c) - 1)[:, None] + noise * rng.normal(size=(len(times), 1))
            X.append([long, short])
            y.append(c)
    return X, np.array(y)


def repeat_short_stream(X: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Each pair ``[long, short]`` with the short stream repeated to the long length
    (frame ``j`` shows ``short[floor(j S / T)]``), as a state-synchronous model needs."""
    return [[x, s[np.arange(len(x)) * len(s) // len(x)]] for x, s in X]


def make_warped_sequences(seed: int, n_latent: int = 100, lengths: tuple[int, ...] = (90, 110, 100),
                          dims: tuple[int, ...] = (2, 4, 5),
                          noise: float = 0.05) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sequences of one 2-D latent curve under known smooth monotone time warps (the GCTW task).

    Sequence ``i`` shows latent time ``warps[i][j]`` at frame ``j`` (a random smooth
    increasing map onto ``[0, n_latent - 1]``), mapped to ``dims[i]`` features by a
    random linear map (the identity when 2-D), plus noise. Returns ``(sequences, warps)``.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_latent)
    latent = np.stack([np.sin(3 * np.pi * t), t * np.cos(2 * np.pi * t)], axis=1)
    seqs, warps = [], []
    for m, d in zip(lengths, dims):
        s = np.convolve(rng.normal(size=m + 20), np.ones(20) / 20, "valid")[:m]
        w = np.cumsum(np.exp(s / s.std()))
        w = (w - w[0]) / (w[-1] - w[0]) * (n_latent - 1)
        warped = np.stack([np.interp(w, np.arange(n_latent), latent[:, c]) for c in range(2)], axis=1)
        A = np.eye(2) if d == 2 else rng.normal(size=(2, d))
        seqs.append(warped @ A + noise * rng.normal(size=(m, d)))
        warps.append(w)
    return seqs, warps
