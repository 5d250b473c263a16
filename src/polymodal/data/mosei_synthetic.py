"""Synthetic sequences with CMU-MOSEI's shapes and a learnable cross-modal rule.

CMU-MOSEI (Zadeh, Liang, Poria, Cambria & Morency, ACL 2018) as MulT (Tsai et
al., ACL 2019) and MultiBench (Liang et al., NeurIPS 2021) use it: 22,856
utterances split 16,326 / 1,871 / 4,659 (train / valid / test); text 300-d
(GloVe), audio 74-d (COVAREP), vision 35-d (Facet); word-aligned 50 steps for
every modality, or unaligned 50 / 500 / 500 steps. This generator reproduces
those shapes (not the data) and synthesises sample ``i`` of a split on demand
from ``(seed, split, i)``, so nothing is materialised: the unaligned training
split would be about 3.4 GB of float32.

The rule (a cross-modal, cross-time interaction). Let ``T`` be the text steps
and ``r`` the audio/vision steps per text step (1 aligned, 10 unaligned). Each
sample draws an event step ``t_e`` uniform in ``[0, T)`` and a balanced sign
sequence ``a_0..a_{T-1} ∈ {-1, +1}`` for the audio (a random permutation of
``T/2`` plus and ``T/2`` minus signs; for odd ``T`` the extra sign is a fair
coin). All features are standard Gaussian noise times ``noise``, plus

* text: ``amplitude`` in features ``0..k_text-1`` at step ``t_e`` only (the
  event marker);
* audio: ``amplitude * a_j`` in features ``0..k_audio-1`` at every step of
  segment ``j`` (audio steps ``[j r, (j + 1) r)``), for every ``j``;
* vision: noise only (a distractor modality).

with ``k_m = max(1, round(signal_fraction * d_m))`` (30 of text's 300 and 7 of
audio's 74 features at the default 0.1: like real features, the signal is
shared by several correlated features). Label ``y = [a_{t_e} = +1]``: the sign of the audio at the time of the text
event. Text alone carries no information about ``y`` (``t_e`` is independent of
``a``, and half of ``a`` is positive), nor does audio alone (given ``a``,
``P(y = 1) = #{j: a_j = +1} / T = 1/2`` for even ``T``; within ``1 / (2T)`` for
odd ``T``): a model must locate the event in the text and read the audio at
that time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from polymodal.data.batch import Batch
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.spec import ModalitySpec
from polymodal.errors import ConfigError, ModalityError, ShapeError

__all__ = ["MOSEI_DIMS", "MOSEI_SPLITS", "MoseiSynthetic"]

MOSEI_SPLITS = {"train": 16_326, "valid": 1_871, "test": 4_659}
MOSEI_DIMS = {"text": 300, "audio": 74, "vision": 35}
_SPLIT_ID = {"train": 0, "valid": 1, "test": 2}


class MoseiSynthetic(torch.utils.data.Dataset):
    """One split of the MOSEI-shaped synthetic task (see the module docstring).

    A map-style dataset whose items follow :class:`MultimodalDataset`'s
    convention (``{"inputs": {m: (T_m, d_m) float32}, "target", "id",
    "present"}``), so :func:`polymodal.data.make_loader` / :func:`collate` and the
    engine's models consume it; :meth:`batch` synthesises a whole
    :class:`Batch` at once and :meth:`materialise` gives a dense
    :class:`MultimodalDataset` (for small sizes).

    Parameters
    ----------
    split : {"train", "valid", "test"}
    aligned : bool
        All modalities ``length`` steps (True) or text ``length`` and audio /
        vision ``unaligned_factor * length`` (False; 50 / 500 / 500 at the default).
    length : int
        Text steps (MOSEI: 50); the scaling study uses 50, 100, 200, 500.
    unaligned_factor : int
        Audio/vision steps per text step when ``aligned=False``.
    n : int, optional
        Samples (default: MOSEI's size of the split). Sample ``i`` does not depend on ``n``.
    dims : mapping of str -> int, optional
        Per-step features (default :data:`MOSEI_DIMS`).
    modalities : sequence of str, optional
        The modalities returned (default all three), e.g. ``["text"]`` for a unimodal baseline.
    amplitude, noise : float
        Signal height and noise standard deviation (at noise 1 the 409 inputs
        per step saturate an LSTM's gates at PyTorch's initialisation, and
        EF-LSTM stays at chance for epochs; at 0.3 it learns the rule in two).
    signal_fraction : float
        Fraction of the text and audio features that carry the signal.
    seed : int

    Examples
    --------
    >>> ds = MoseiSynthetic("valid", aligned=False, length=5, n=3)
    >>> {m: tuple(x.shape) for m, x in ds[0]["inputs"].items()}
    {'text': (5, 300), 'audio': (50, 74), 'vision': (50, 35)}
    >>> len(MoseiSynthetic("train")), ds.target.tolist() == [int(ds[i]["target"]) for i in range(3)]
    (16326, True)
    """

    def __init__(self, split: str = "train", *, aligned: bool = True, length: int = 50, unaligned_factor: int = 10,
                 n: int | None = None, dims: Mapping[str, int] | None = None,
                 modalities: Sequence[str] | None = None, amplitude: float = 1.0, noise: float = 0.3,
                 signal_fraction: float = 0.1, seed: int = 0) -> None:
        if split not in MOSEI_SPLITS:
            raise ConfigError(f"split must be one of {list(MOSEI_SPLITS)}, got {split!r}")
        if length < 1 or unaligned_factor < 1:
            raise ShapeError(f"need length >= 1 and unaligned_factor >= 1, got {length}, {unaligned_factor}")
        self.dims = {**MOSEI_DIMS, **dict(dims or {})}
        if set(self.dims) != set(MOSEI_DIMS) or min(self.dims.values()) < 1:
            raise ShapeError(f"dims must give text, audio and vision >= 1 features each, got {self.dims}")
        names = list(modalities) if modalities is not None else list(MOSEI_DIMS)
        unknown = [m for m in names if m not in MOSEI_DIMS]
        if unknown or not names:
            raise ModalityError(f"unknown modality {unknown[0] if unknown else None!r}; available: {list(MOSEI_DIMS)}")
        self.split, self.aligned, self.length, self.seed = split, aligned, int(length), int(seed)
        self.factor = 1 if aligned else int(unaligned_factor)
        self.n = MOSEI_SPLITS[split] if n is None else int(n)
        if self.n < 0:
            raise ShapeError(f"n must be >= 0, got {n}")
        self.amplitude, self.noise, self.names = float(amplitude), float(noise), names
        if not 0 <= signal_fraction <= 1:
            raise ConfigError(f"signal_fraction must lie in [0, 1], got {signal_fraction}")
        self.signal_fraction = float(signal_fraction)
        self.k = {m: max(1, round(signal_fraction * self.dims[m])) for m in ("text", "audio")}
        self.steps = {"text": self.length, "audio": self.length * self.factor, "vision": self.length * self.factor}
        self.specs = {m: ModalitySpec(m, "sequence", (self.steps[m], self.dims[m]),
                                      description=f"MOSEI-shaped synthetic {m}") for m in names}
        self.task, self.classes, self.name = "classification", ["audio negative", "audio positive"], "mosei_synthetic"
        self._target: np.ndarray | None = None

    # -- the generator ------------------------------------------------------------
    def _latents(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        t_e = int(rng.integers(self.length))
        half = self.length // 2
        signs = np.r_[np.ones(half), -np.ones(half), [rng.integers(2) * 2 - 1] * (self.length % 2)]
        return t_e, rng.permutation(signs).astype(np.float32)

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.n:
            raise IndexError(f"sample {index} out of range for {self.n} samples")
        return np.random.default_rng([self.seed, _SPLIT_ID[self.split], index])

    def sample(self, index: int) -> tuple[dict[str, np.ndarray], int]:
        """``({modality: (T_m, d_m) float32}, label)`` of sample ``index``."""
        rng = self._rng(index)
        t_e, a = self._latents(rng)
        out = {}
        for m in MOSEI_DIMS:  # always draw all three, so a modality subset sees the same values
            x = rng.standard_normal((self.steps[m], self.dims[m]), dtype=np.float32)
            if self.noise != 1.0:
                x *= self.noise
            if m == "text":
                x[t_e, :self.k["text"]] += self.amplitude
            elif m == "audio":
                x[:, :self.k["audio"]] += self.amplitude * np.repeat(a, self.factor)[:, None]
            if m in self.names:
                out[m] = x
        return out, int(a[t_e] > 0)

    @property
    def target(self) -> np.ndarray:
        """``(n,)`` int64 labels (drawing only each sample's latents)."""
        if self._target is None:
            labels = np.empty(self.n, dtype=np.int64)
            for i in range(self.n):
                t_e, a = self._latents(self._rng(i))
                labels[i] = int(a[t_e] > 0)
            self._target = labels
        return self._target

    # -- MultimodalDataset's protocol ------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        values, label = self.sample(int(index))
        return {"inputs": {m: torch.from_numpy(x) for m, x in values.items()}, "id": int(index), "present": {},
                "target": torch.tensor(label)}

    def __repr__(self) -> str:
        views = ", ".join(f"{m}{self.steps[m], self.dims[m]}" for m in self.names)
        return f"MoseiSynthetic({self.split}: {self.n} samples; {views}; aligned={self.aligned})"

    @property
    def n_classes(self) -> int:
        return 2

    @property
    def n_outputs(self) -> int:
        return 2

    @property
    def fixed_shape(self) -> bool:
        """False: there are no dense arrays to index (loaders use :func:`collate`)."""
        return False

    def select(self, names: Sequence[str]) -> "MoseiSynthetic":
        """The same samples with only the modalities ``names``."""
        return MoseiSynthetic(self.split, aligned=self.aligned, length=self.length, unaligned_factor=self.factor,
                              n=self.n, dims=self.dims, modalities=names, amplitude=self.amplitude,
                              noise=self.noise, signal_fraction=self.signal_fraction, seed=self.seed)

    def batch(self, indices: Sequence[int]) -> Batch:
        """The samples ``indices`` stacked into a :class:`Batch` (``(N, T_m, d_m)`` per modality)."""
        parts = [self.sample(int(i)) for i in indices]
        inputs = {m: torch.from_numpy(np.stack([p[0][m] for p in parts])) for m in self.names}
        return Batch(inputs, torch.tensor([p[1] for p in parts], dtype=torch.long), ids=[int(i) for i in indices])

    def materialise(self) -> MultimodalDataset:
        """All samples as a dense :class:`MultimodalDataset` (memory ``n * sum_m T_m d_m * 4`` bytes)."""
        parts = [self.sample(i) for i in range(self.n)]
        modalities = {m: np.stack([p[0][m] for p in parts]) if parts else
                      np.zeros((0, self.steps[m], self.dims[m]), np.float32) for m in self.names}
        return MultimodalDataset(modalities, np.array([p[1] for p in parts], dtype=np.int64), specs=self.specs,
                                 classes=self.classes, name=self.name, check_finite=False)
