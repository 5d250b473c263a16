"""polymodal: multimodal machine learning, the whole taxonomy in one toolkit.

Subpackages follow the taxonomy of Baltrušaitis, Ahuja & Morency (TPAMI 2019):
``representation``, ``translation``, ``alignment``, ``fusion``, ``colearning``,
plus ``data``, ``encoders``, ``metrics``, ``training`` and ``benchmarks``.
"""

from polymodal.errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    ModalityError,
    PolymodalError,
    ShapeError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "ModalityError",
    "PolymodalError",
    "ShapeError",
    "__version__",
]
