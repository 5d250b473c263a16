"""The one small family of errors polymodal raises on bad input (public path).

The classes live in :mod:`polymodal.core.errors` (the bottom layer every
package may import); ``from polymodal.errors import ShapeError`` is the
documented way to reach them.
"""

from polymodal.core.errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    ModalityError,
    PolymodalError,
    ShapeError,
)

__all__ = [
    "PolymodalError",
    "ModalityError",
    "ShapeError",
    "ConfigError",
    "CheckpointError",
    "DatasetError",
]
