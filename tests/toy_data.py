"""Small synthetic datasets shared by tests (``tests`` is on pytest's ``pythonpath``)."""

import numpy as np

from polymodal.data.dataset import MultimodalDataset


def two_modality_classification(n: int = 120, seed: int = 0) -> MultimodalDataset:
    """3 classes, modality ``a`` (5 features, the first shifted by 2 x the class) and ``b`` (3 noise features)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    a = rng.normal(size=(n, 5)).astype(np.float32)
    a[:, 0] += 2 * y
    return MultimodalDataset({"a": a, "b": rng.normal(size=(n, 3)).astype(np.float32)}, target=y,
                             task="classification")
