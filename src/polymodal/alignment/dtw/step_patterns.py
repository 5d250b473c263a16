"""Local step patterns (slope constraints) for dynamic time warping.

A step pattern lists the moves allowed into a cell ``(i, j)`` of the dynamic
programme.  Each move starts at an *origin* ``(i - a, j - b)`` and adds the
weighted local costs of the cells it passes through, so that

.. math::

    D(i, j) = \\min_{\\text{moves}} \\Big[ D(i - a, j - b)
              + \\sum_{(p, q, w) \\in \\text{move}} w\\, c(i - p, j - q) \\Big],
    \\qquad D(0, 0) = c(0, 0).

The slope-constrained symmetric patterns are those of Sakoe & Chiba,
"Dynamic programming algorithm optimization for spoken word recognition",
IEEE Trans. ASSP, 1978 (Table I, P = 0, 1/2, 1, 2); the names and the
normalisation hints follow Giorgino, "Computing and visualizing dynamic time
warping alignments in R: the dtw package", J. Stat. Softw., 2009.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.errors import ConfigError

__all__ = ["StepPattern", "STEP_PATTERNS", "get_step_pattern"]

Move = tuple[tuple[int, int], tuple[tuple[int, int, float], ...]]


@dataclass(frozen=True)
class StepPattern:
    """A DTW step pattern.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"symmetric2"``.
    moves : tuple
        Each move is ``((a, b), ((p, q, w), ...))``: the origin offset and the
        cells (offsets from the current cell) whose local cost is added with
        weight ``w``, listed from the origin towards the current cell.
    normalization : {"N+M", "N", "M", None}
        Divisor that makes the accumulated cost comparable across lengths
        (``None``: not normalisable).

    Examples
    --------
    >>> get_step_pattern("symmetric2").normalization
    'N+M'
    """

    name: str
    moves: tuple[Move, ...]
    normalization: str | None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat arrays for the compiled kernels: origins (K, 2), segment
        pointers (K + 1,), segment offsets (S, 2) and weights (S,)."""
        origins = np.array([m[0] for m in self.moves], dtype=np.int64)
        ptr = np.zeros(len(self.moves) + 1, dtype=np.int64)
        offs, weights = [], []
        for k, (_, segs) in enumerate(self.moves):
            for p, q, w in segs:
                offs.append((p, q))
                weights.append(w)
            ptr[k + 1] = len(offs)
        return origins, ptr, np.array(offs, dtype=np.int64), np.array(weights, dtype=np.float64)

    def normalizer(self, n: int, m: int) -> float:
        """The divisor for sequences of lengths ``n`` and ``m`` (NaN if none)."""
        return {"N+M": float(n + m), "N": float(n), "M": float(m)}.get(
            self.normalization, float("nan")
        )


def _pattern(name: str, norm: str | None, *moves: Move) -> StepPattern:
    return StepPattern(name, tuple(moves), norm)


_one = ((0, 0, 1.0),)
_two = ((0, 0, 2.0),)

STEP_PATTERNS: dict[str, StepPattern] = {
    p.name: p
    for p in (
        _pattern("symmetric1", None, ((1, 1), _one), ((1, 0), _one), ((0, 1), _one)),
        _pattern("symmetric2", "N+M", ((1, 1), _two), ((1, 0), _one), ((0, 1), _one)),
        _pattern("asymmetric", "N", ((1, 0), _one), ((1, 1), _one), ((1, 2), _one)),
        _pattern(
            "symmetricP05",
            "N+M",
            ((1, 3), ((0, 2, 2.0), (0, 1, 1.0), (0, 0, 1.0))),
            ((1, 2), ((0, 1, 2.0), (0, 0, 1.0))),
            ((1, 1), _two),
            ((2, 1), ((1, 0, 2.0), (0, 0, 1.0))),
            ((3, 1), ((2, 0, 2.0), (1, 0, 1.0), (0, 0, 1.0))),
        ),
        _pattern(
            "symmetricP1",
            "N+M",
            ((1, 2), ((0, 1, 2.0), (0, 0, 1.0))),
            ((1, 1), _two),
            ((2, 1), ((1, 0, 2.0), (0, 0, 1.0))),
        ),
        _pattern(
            "symmetricP2",
            "N+M",
            ((2, 3), ((1, 2, 2.0), (0, 1, 2.0), (0, 0, 1.0))),
            ((1, 1), _two),
            ((3, 2), ((2, 1, 2.0), (1, 0, 2.0), (0, 0, 1.0))),
        ),
    )
}
# Sakoe-Chiba P = 0 is the symmetric2 pattern.
STEP_PATTERNS["symmetricP0"] = StepPattern(
    "symmetricP0", STEP_PATTERNS["symmetric2"].moves, "N+M"
)


def get_step_pattern(step_pattern: str | StepPattern) -> StepPattern:
    """Look up a step pattern by name (or pass a :class:`StepPattern` through)."""
    if isinstance(step_pattern, StepPattern):
        return step_pattern
    if step_pattern not in STEP_PATTERNS:
        raise ConfigError(
            f"step_pattern must be one of {sorted(STEP_PATTERNS)}, got {step_pattern!r}"
        )
    return STEP_PATTERNS[step_pattern]
