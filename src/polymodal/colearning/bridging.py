"""Bridging two modalities that never co-occur through a pivot modality."""

from __future__ import annotations

from typing import Any

import numpy as np

from polymodal.errors import ConfigError, ShapeError


def _ridge(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mx, my = X.mean(0), Y.mean(0)
    Xc = X - mx
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (Y - my))
    return W, mx, my


class PivotBridge:
    """Map modalities A and B into a pivot modality P from two *separate*
    parallel sets, (A, P) and (B, P), never (A, B); A and B then meet in P's
    space (retrieval, or a classifier trained on one used on the other).

    Bridge correlational / pivot-based learning (Rajendran, Khapra, Chandar &
    Ravindran, NAACL 2016; the "hybrid data" co-learning case of Baltrusaitis,
    Ahuja & Morency, TPAMI 2019). Each map is ridge regression onto the pivot:

    .. math:: W_A = \\arg\\min_W \\|(A - \\bar A) W - (P_A - \\bar P_A)\\|_F^2 + \\alpha \\|W\\|_F^2

    (and likewise ``W_B``); ``transform_a(A) = (A - \\bar A) W_A + \\bar P_A``.

    Parameters
    ----------
    alpha : float, ridge penalty

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(100, 3)); Ma, Mb, Mp = (rng.normal(size=(3, k)) for k in (4, 5, 6))
    >>> br = PivotBridge(alpha=1e-9).fit(Z[:50] @ Ma, Z[:50] @ Mp, Z[50:] @ Mb, Z[50:] @ Mp)
    >>> np.allclose(br.transform_a(Z @ Ma), br.transform_b(Z @ Mb))
    True
    """

    def __init__(self, alpha: float = 1e-3) -> None:
        self.alpha = alpha

    def fit(self, A: Any, P_a: Any, B: Any, P_b: Any) -> "PivotBridge":
        """A (n_a, d_a) paired with P_a (n_a, d_p); B (n_b, d_b) paired with P_b (n_b, d_p)."""
        A, P_a, B, P_b = (np.asarray(v, dtype=float) for v in (A, P_a, B, P_b))
        for name, X, P in (("A", A, P_a), ("B", B, P_b)):
            if X.ndim != 2 or P.ndim != 2 or X.shape[0] != P.shape[0]:
                raise ShapeError(f"{name} and its pivot rows must be paired 2-D arrays, got {X.shape} and {P.shape}")
        if P_a.shape[1] != P_b.shape[1]:
            raise ShapeError(f"both pivot sets must have the same features, got {P_a.shape[1]} and {P_b.shape[1]}")
        self.Wa_, self.ma_, self.pa_ = _ridge(A, P_a, self.alpha)
        self.Wb_, self.mb_, self.pb_ = _ridge(B, P_b, self.alpha)
        return self

    def _check(self, X: Any, W: np.ndarray, name: str) -> np.ndarray:
        if not hasattr(self, "Wa_"):
            raise ConfigError("PivotBridge is not fitted: call fit(A, P_a, B, P_b) first")
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != W.shape[0]:
            raise ShapeError(f"{name}: expected (n, {W.shape[0]}), got {X.shape}")
        return X

    def transform_a(self, A: Any) -> np.ndarray:
        """A in the pivot space, (n, d_p)."""
        return (self._check(A, self.Wa_, "A") - self.ma_) @ self.Wa_ + self.pa_

    def transform_b(self, B: Any) -> np.ndarray:
        """B in the pivot space, (n, d_p)."""
        return (self._check(B, self.Wb_, "B") - self.mb_) @ self.Wb_ + self.pb_

    def similarity(self, A: Any, B: Any) -> np.ndarray:
        """Cosine similarity of every A row to every B row in the pivot space, (n_a, n_b)."""
        a, b = self.transform_a(A), self.transform_b(B)
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return a @ b.T
