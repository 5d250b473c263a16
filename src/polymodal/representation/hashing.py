"""Cross-modal hashing: CCA projections + iterative quantisation (CCA-ITQ).

Binary codes per modality from a coordinated (CCA) space, rotated by ITQ so
that the sign quantisation loses as little as possible (Gong & Lazebnik, CVPR
2011; Gong, Lazebnik, Gordo & Perronnin, TPAMI 2013), searched by Hamming
distance on packed bits with numpy's popcount (``np.bitwise_count``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from polymodal.core.fitted import check_fitted
from polymodal.errors import ConfigError, ShapeError
from polymodal.metrics.retrieval import mean_average_precision, relevance_matrix  # noqa: F401  (re-export)
from polymodal.representation.cca import CCA, _two_views
from polymodal.representation._views import as_view, check_finite

__all__ = [
    "ITQResult",
    "itq",
    "CCAITQ",
    "pack_codes",
    "hamming_distance",
    "hamming_search",
    "mean_average_precision",
]


@dataclass
class ITQResult:
    """ITQ rotation ``R`` (c, c), orthogonal, and the quantisation loss
    ``||sign(VR) - VR||_F^2`` after each iteration (n_iter,), non-increasing."""

    rotation: np.ndarray
    losses: np.ndarray = field(repr=False)


def _check_2d(x, name: str) -> np.ndarray:
    """A finite, non-empty 2-D float64 array (the CCA family's view checks: strings, complex, empty refused)."""
    x = as_view(x, name)
    check_finite(x, name)
    return x


def _sign(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1.0, -1.0)


def itq(V, n_iter: int = 50, seed: int = 0) -> ITQResult:
    """Iterative quantisation: the rotation minimising the binary quantisation loss.

    Gong & Lazebnik, "Iterative quantization: a Procrustean approach to learning
    binary codes", CVPR 2011. Alternates, from a random orthogonal ``R``,

    .. math::

        B = \\operatorname{sign}(VR), \\qquad
        R = \\arg\\min_{R^\\top R = I} \\|B - VR\\|_F^2 = \\Omega S^\\top
        \\quad\\text{with}\\quad V^\\top B = \\Omega \\Sigma S^\\top,

    (the orthogonal Procrustes problem); neither step increases the loss.

    Parameters
    ----------
    V : array (n, c), zero-centred projected data.
    n_iter : int, number of (sign, Procrustes) rounds.
    seed : int, seed of the random orthogonal start.

    Examples
    --------
    >>> import numpy as np
    >>> V = np.random.default_rng(0).normal(size=(100, 4))
    >>> res = itq(V, n_iter=10)
    >>> bool(np.allclose(res.rotation @ res.rotation.T, np.eye(4)))
    True
    >>> bool(np.all(np.diff(res.losses) <= 1e-9))
    True
    """
    V = _check_2d(V, "V")
    if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ConfigError(f"n_iter must be a positive integer; got {n_iter!r}")
    c = V.shape[1]
    R, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(c, c)))
    losses = np.empty(n_iter)
    for t in range(n_iter):
        B = _sign(V @ R)
        U, _, Wt = np.linalg.svd(V.T @ B)
        R = U @ Wt
        VR = V @ R
        losses[t] = float(np.sum((_sign(VR) - VR) ** 2))
    return ITQResult(rotation=R, losses=losses)


def pack_codes(B) -> np.ndarray:
    """Pack binary codes (n, n_bits) (bool, 0/1 or +-1; ``> 0`` is a 1) into
    uint8 bytes (n, ceil(n_bits / 8)), zero-padded.

    Examples
    --------
    >>> pack_codes(np.array([[1, -1, 1, 1, -1, -1, -1, -1, 1]])).tolist()
    [[176, 128]]
    """
    B = np.asarray(B)
    if B.ndim != 2:
        raise ShapeError(f"B must be 2-D (n, n_bits); got shape {B.shape}")
    return np.packbits(B > 0, axis=1)


def _as_words(P: np.ndarray) -> np.ndarray:
    """View packed uint8 codes as uint64 words (zero-padding to 8 bytes)."""
    pad = (-P.shape[1]) % 8
    if pad:
        P = np.concatenate([P, np.zeros((P.shape[0], pad), np.uint8)], axis=1)
    return np.ascontiguousarray(P).view(np.uint64)


def hamming_distance(A, B, chunk: int = 16) -> np.ndarray:
    """Hamming distances between packed codes: (n_a, n_bytes), (n_b, n_bytes) -> (n_a, n_b).

    ``d(a, b) = popcount(a XOR b)`` computed on 64-bit words with
    ``np.bitwise_count``, one word and ``chunk`` query rows at a time into
    preallocated buffers (small chunks stay in cache). Returns uint8 when
    ``n_bytes * 8 <= 255`` bits, else uint16.

    Examples
    --------
    >>> A = pack_codes(np.array([[1, 1, 0, 0]])); B = pack_codes(np.array([[1, 0, 1, 0], [1, 1, 0, 0]]))
    >>> hamming_distance(A, B).tolist()
    [[2, 0]]
    """
    A = np.asarray(A)
    B = np.asarray(B)
    for x, name in ((A, "A"), (B, "B")):
        if x.ndim != 2 or x.dtype != np.uint8:
            raise ShapeError(f"{name} must be packed uint8 codes (n, n_bytes); got {x.dtype} {x.shape}")
    if A.shape[1] != B.shape[1]:
        raise ShapeError(f"A and B must have the same n_bytes; got {A.shape[1]} and {B.shape[1]}")
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ConfigError(f"chunk must be a positive integer; got {chunk!r}")
    Aw, Bw = _as_words(A), np.ascontiguousarray(_as_words(B).T)  # Bw: (n_words, n_b)
    n_a, n_b = A.shape[0], B.shape[0]
    out = np.zeros((n_a, n_b), dtype=np.uint8 if A.shape[1] * 8 <= 255 else np.uint16)
    chunk = min(chunk, max(n_a, 1))
    xor = np.empty((chunk, n_b), dtype=np.uint64)
    cnt = np.empty((chunk, n_b), dtype=np.uint8)
    for s in range(0, n_a, chunk):
        e = min(s + chunk, n_a)
        x, c = xor[: e - s], cnt[: e - s]
        for w in range(Aw.shape[1]):
            np.bitwise_xor(Aw[s:e, w, None], Bw[None, w, :], out=x)
            np.bitwise_count(x, out=c)
            np.add(out[s:e], c, out=out[s:e])
    return out


def hamming_search(queries, gallery, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest gallery codes of each packed query code by Hamming distance.

    Ranks with a stable (radix, for 8-bit distances) argsort, so ties go to the
    lower gallery index. Returns ``(indices, distances)``, both (n_q, k).

    Examples
    --------
    >>> q = pack_codes(np.array([[1, 1, 0]])); g = pack_codes(np.array([[0, 0, 1], [1, 1, 1], [1, 1, 0]]))
    >>> idx, dist = hamming_search(q, g, k=2)
    >>> idx.tolist(), dist.tolist()
    ([[2, 1]], [[0, 1]])
    """
    D = hamming_distance(queries, gallery)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= D.shape[1]:
        raise ConfigError(f"k must be an integer in [1, {D.shape[1]}] (gallery size); got {k!r}")
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


class CCAITQ(TransformerMixin, BaseEstimator):
    """Cross-modal binary codes: CCA projections rotated by ITQ (CCA-ITQ).

    Gong, Lazebnik, Gordo & Perronnin, "Iterative quantization: a Procrustean
    approach to learning binary codes for large-scale image retrieval", TPAMI
    2013 (sec. 5, cross-modal retrieval). Both views are projected on the top
    ``n_bits`` canonical directions, each dimension scaled by
    :math:`\\rho_k^{p}` (the eigenvalue of the regularised CCA problem, i.e.
    ``CCA.objective_values_``, to the power ``power``), and
    one rotation ``R`` is learned by :func:`itq` on the stacked projections:

    .. math::

        b_x = \\operatorname{sign}(W_x^\\top \\tilde x\\,\\operatorname{diag}(\\rho^p) R),\\qquad
        b_y = \\operatorname{sign}(W_y^\\top \\tilde y\\,\\operatorname{diag}(\\rho^p) R).

    Parameters
    ----------
    n_bits : int, code length (number of canonical pairs).
    reg : float, CCA shrinkage (see :class:`polymodal.representation.CCA`).
    power : float, exponent of the correlation scaling (0 disables it; the
        paper uses 4, which damps the noisy low-correlation directions).
    n_iter, random_state : ITQ iterations and seed of its initial rotation.

    Attributes
    ----------
    cca_ : CCA, rotation_ : ndarray (n_bits, n_bits), itq_ : ITQResult

    Examples
    --------
    >>> rng = np.random.default_rng(0); Z = rng.normal(size=(300, 4))
    >>> X = Z @ rng.normal(size=(4, 10)); Y = Z @ rng.normal(size=(4, 8)) + 0.1 * rng.normal(size=(300, 8))
    >>> h = CCAITQ(n_bits=4, reg=1e-3).fit(X, Y)
    >>> cx, cy = h.encode_x(X), h.encode_y(Y)
    >>> cx.shape, cx.dtype
    ((300, 1), dtype('uint8'))
    >>> bool(hamming_distance(cx, cy).diagonal().mean() < 1)
    True
    """

    _multiview: ClassVar[bool] = True  # fit([X, Y]); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"n_bits": 1}  # views of 1 column in the checks

    def __init__(self, n_bits: int = 32, reg: float = 1e-3, power: float = 4.0,
                 n_iter: int = 50, random_state: int | None = 0):
        self.n_bits = n_bits
        self.reg = reg
        self.power = power
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, X, Y=None) -> "CCAITQ":
        """Fit CCA on paired views X (n, p), Y (n, q) (or ``fit([X, Y])``), then
        ITQ on both projections."""
        X, Y = _two_views(X, Y, "CCAITQ")
        if Y is None:
            raise ShapeError("CCAITQ needs two views: fit(X, Y) or fit([X, Y])")
        X = _check_2d(X, "X")
        Y = _check_2d(Y, "Y")
        if X.shape[0] != Y.shape[0]:
            raise ShapeError(f"X and Y must have the same n_samples; got {X.shape[0]} and {Y.shape[0]}")
        if not isinstance(self.n_bits, (int, np.integer)) or self.n_bits < 1:
            raise ConfigError(f"n_bits must be a positive integer; got {self.n_bits!r}")
        self.cca_ = CCA(n_components=self.n_bits, reg=self.reg).fit(X, Y)
        self.scale_ = np.abs(self.cca_.objective_values_) ** self.power
        V = np.vstack(self.cca_.transform(X, Y)) * self.scale_
        self.itq_ = itq(V, n_iter=self.n_iter, seed=self.random_state)
        self.rotation_ = self.itq_.rotation
        return self

    def _project_x(self, X) -> np.ndarray:
        return self.cca_.transform(X) * self.scale_

    def _project_y(self, Y) -> np.ndarray:
        c = self.cca_
        Y = _check_2d(Y, "Y")
        if Y.shape[1] != c.y_mean_.shape[0]:
            raise ShapeError(f"Y must have {c.y_mean_.shape[0]} features; got {Y.shape[1]}")
        return ((Y - c.y_mean_) / c.y_std_) @ c.y_weights_ * self.scale_

    def _check_fitted(self) -> None:
        check_fitted(self, "rotation_", "fit(X, Y)")

    def transform(self, X, Y=None):
        """Real-valued rotated projections: ``embed_x(X)``, or
        ``(embed_x(X), embed_y(Y))`` with ``Y`` (also ``transform([X, Y])``)."""
        X, Y = _two_views(X, Y, "CCAITQ")
        return self.embed_x(X) if Y is None else (self.embed_x(X), self.embed_y(Y))

    def embed_x(self, X) -> np.ndarray:
        """Real-valued rotated projection of view X (n, n_bits); codes are its sign."""
        self._check_fitted()
        return self._project_x(_check_2d(X, "X")) @ self.rotation_

    def embed_y(self, Y) -> np.ndarray:
        """Real-valued rotated projection of view Y (n, n_bits)."""
        self._check_fitted()
        return self._project_y(Y) @ self.rotation_

    def encode_x(self, X, packed: bool = True) -> np.ndarray:
        """Codes of view X: packed uint8 (n, ceil(n_bits/8)), or bool (n, n_bits)."""
        B = self.embed_x(X) >= 0
        return pack_codes(B) if packed else B

    def encode_y(self, Y, packed: bool = True) -> np.ndarray:
        """Codes of view Y: packed uint8 (n, ceil(n_bits/8)), or bool (n, n_bits)."""
        B = self.embed_y(Y) >= 0
        return pack_codes(B) if packed else B
