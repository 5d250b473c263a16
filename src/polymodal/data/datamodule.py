"""Lightning `DataModule` over a :class:`MultimodalDataset`."""

from __future__ import annotations

import lightning.pytorch as pl

from polymodal.data.dataset import MultimodalDataset
from polymodal.data.multimodal_splits import MultimodalSplits

__all__ = ["MultimodalDataModule"]


class MultimodalDataModule(MultimodalSplits, pl.LightningDataModule):
    """Seeded stratified split, train-fitted standardisation, fast loaders, as a Lightning
    ``DataModule`` (``trainer.fit(module, datamodule=dm)``; ``predict_dataloader`` serves
    ``predict_split`` for ``trainer.predict(module, datamodule=dm)``).

    The parameters, attributes and loaders are those of
    :class:`~polymodal.data.multimodal_splits.MultimodalSplits` (the same without Lightning,
    which the training engine uses so that a run on its fast loop never imports Lightning).

    Examples
    --------
    >>> dm = MultimodalDataModule("mfeat", modalities=["fou", "kar"], batch_size=32)
    >>> len(dm.train_set), len(dm.val_set), len(dm.test_set)
    (1200, 400, 400)
    >>> next(iter(dm.predict_dataloader()))["fou"].shape
    torch.Size([400, 76])
    """

    def __init__(self, dataset: MultimodalDataset | str, **kwargs) -> None:
        pl.LightningDataModule.__init__(self)
        MultimodalSplits.__init__(self, dataset, **kwargs)
