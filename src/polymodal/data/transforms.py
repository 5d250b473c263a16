"""Per-modality feature standardisation fitted on training data only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.data.dataset import MultimodalDataset

__all__ = ["Standardizer"]


@dataclass
class Standardizer:
    """z-score each feature of each vector modality with statistics of a fit set.

    Constant features get scale 1 (they become 0), so nothing divides by zero.
    """

    mean: dict[str, np.ndarray] | None = None
    scale: dict[str, np.ndarray] | None = None

    def fit(self, dataset: MultimodalDataset) -> "Standardizer":
        self.mean, self.scale = {}, {}
        for m, values in dataset.modalities.items():
            if isinstance(values, np.ndarray):
                x = values.astype(np.float64)
                std = x.std(axis=0)
                self.mean[m] = x.mean(axis=0)
                self.scale[m] = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, dataset: MultimodalDataset) -> MultimodalDataset:
        if self.mean is None:
            raise RuntimeError("Standardizer.transform called before fit")

        def apply(m, values):
            if m not in self.mean:
                return values
            return ((values - self.mean[m]) / self.scale[m]).astype(np.float32)

        return dataset.map_modalities(apply)
