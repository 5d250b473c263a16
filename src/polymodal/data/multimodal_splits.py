"""The train/validation/test splits of a :class:`MultimodalDataset`, standardised, with loaders
(Lightning-free: what the training engine uses; :class:`~polymodal.data.datamodule.MultimodalDataModule`
is the same as a Lightning ``DataModule``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from polymodal.data.catalog import load_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.loader import make_loader
from polymodal.data.preprocessing import modality_statistics, standardize_modalities, statistics_state
from polymodal.data.splits import Split, stratified_split
from polymodal.errors import ConfigError

if TYPE_CHECKING:
    from polymodal.data.transforms import Standardizer

__all__ = ["MultimodalSplits"]


class MultimodalSplits:
    """Seeded stratified split, train-fitted standardisation, fast loaders.

    Parameters
    ----------
    dataset : MultimodalDataset or str
        A dataset, or a catalog name for :func:`load_dataset`.
    modalities : sequence of str, optional
        Keep only these modalities.
    batch_size : int
    val_size, test_size : float
        Fractions of the whole dataset (MultiBench's 60/20/20 by default).
    seed : int
        Seeds the split (:func:`~polymodal.data.splits.stratified_split`: scikit-learn's split,
        drawn without importing scikit-learn) and the shuffling.
    standardize : bool
        z-score vector modalities with training-set statistics.
    standardizer : Standardizer, optional
        Fitted statistics to standardise with instead of fitting them on this
        training split: a trained model's own (``module.standardizer``), for
        new data. Implies ``standardize=True``.

    The ``standardizer`` attribute is the statistics as a fitted
    :class:`~polymodal.data.transforms.Standardizer` (``None`` without
    standardisation); it is built when first read, so that a training run, which
    standardises with :func:`~polymodal.data.preprocessing.modality_statistics`,
    never imports scikit-learn.
    split : Split, optional
        Explicit indices instead of a seeded split.
    num_workers : int
        Loader worker processes.
    predict_split : {"test", "val", "train"}
        The split ``predict_dataloader`` serves.

    The split datasets (``train_set``, ...) carry ``preprocessing`` (the
    statistics as plain data), so a
    :class:`~polymodal.training.module.MultimodalLightningModule` fed by these
    loaders knows their data is standardised already and checks it was
    standardised with its own statistics. Importing this class does not import
    Lightning; :class:`~polymodal.data.datamodule.MultimodalDataModule` (the same,
    as a ``LightningDataModule``) is what ``trainer.fit(module, datamodule=dm)`` takes.

    Examples
    --------
    >>> dm = MultimodalSplits("mfeat", modalities=["fou", "kar"], batch_size=32)
    >>> len(dm.train_set), len(dm.val_set), len(dm.test_set)
    (1200, 400, 400)
    >>> next(iter(dm.predict_dataloader()))["fou"].shape
    torch.Size([400, 76])
    """

    def __init__(
        self,
        dataset: MultimodalDataset | str,
        *,
        modalities: Sequence[str] | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        val_size: float = 0.2,
        test_size: float = 0.2,
        seed: int = 0,
        standardize: bool = True,
        split: Split | None = None,
        num_workers: int = 0,
        predict_split: str = "test",
        standardizer: Standardizer | None = None,
    ) -> None:
        if predict_split not in ("train", "val", "test"):
            raise ConfigError(f"predict_split must be 'train', 'val' or 'test', got {predict_split!r}")
        self.predict_split = predict_split
        full = load_dataset(dataset) if isinstance(dataset, str) else dataset
        self.dataset = full.select(list(modalities)) if modalities is not None else full
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers
        if split is None:
            stratify = self.dataset.task == "classification" and self.dataset.target is not None
            target = self.dataset.target if self.dataset.target is not None else np.zeros(len(self.dataset))
            split = stratified_split(target, val_size=val_size, test_size=test_size, seed=seed, stratify=stratify)
        self.split = split
        train = self.dataset.subset(split.train)
        self._standardizer = standardizer
        if standardizer is not None:
            if not isinstance(getattr(standardizer, "mean_", None), dict):
                raise ConfigError("the given standardizer is not fitted per modality (it is unfitted, or fitted on one "
                                  "array); fit it on the training MultimodalDataset")
            missing = [m for m in standardizer.mean_ if m not in self.dataset.modalities]
            if missing:
                raise ConfigError(f"modality {missing[0]!r}: the given standardizer has statistics for it, "
                                  f"but the data has only {list(self.dataset.modalities)}")
            self._statistics = (standardizer.mean_, standardizer.scale_)
        else:
            self._statistics = modality_statistics(train) if standardize else None
        self.preprocessing = statistics_state(*(self._statistics or (None, None)))

        def prep(data):
            return standardize_modalities(data, *self._statistics) if self._statistics is not None else data

        self.train_set = self._mark(prep(train))
        self.val_set = self._mark(prep(self.dataset.subset(split.val)))
        self.test_set = self._mark(prep(self.dataset.subset(split.test)))

    @property
    def standardizer(self) -> Standardizer | None:
        """The training split's statistics as a fitted :class:`~polymodal.data.transforms.Standardizer`
        (the one given, or built on first read), ``None`` without standardisation."""
        if self._standardizer is None and self._statistics is not None:
            from polymodal.data.transforms import Standardizer  # scikit-learn only for who asks for the estimator

            self._standardizer = Standardizer.from_statistics(*self._statistics)
        return self._standardizer

    def _mark(self, dataset: MultimodalDataset) -> MultimodalDataset:
        dataset.preprocessing = self.preprocessing
        return dataset

    @property
    def specs(self):
        return self.dataset.specs

    def train_dataloader(self):
        return make_loader(self.train_set, self.batch_size, shuffle=True, seed=self.seed, num_workers=self.num_workers)

    def val_dataloader(self):
        return make_loader(self.val_set, self.eval_batch_size, num_workers=self.num_workers)

    def test_dataloader(self):
        return make_loader(self.test_set, self.eval_batch_size, num_workers=self.num_workers)

    def predict_dataloader(self):
        """The ``predict_split`` samples in order, unshuffled."""
        dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[self.predict_split]
        return make_loader(dataset, self.eval_batch_size, num_workers=self.num_workers)
