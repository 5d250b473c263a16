"""Generalized canonical time warping for two or more sequences."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from polymodal.alignment._validation import as_sequence
from polymodal.alignment.ctw import CTW, alignment_error, check_ctw_options
from polymodal.alignment.dtw import dtw
from polymodal.alignment.gctw_warping import fit_coefficients, gauss_newton_step, interpolate, warp_basis
from polymodal.errors import ConfigError, ShapeError
from polymodal.representation import MCCA

__all__ = ["GCTW", "GCTW_WARPINGS"]

#: ``GCTW(warping=...)``: the published basis warps, or DTW of each sequence to the latent mean
GCTW_WARPINGS = ("gauss_newton", "dtw_to_mean")

#: default coarse-to-fine schedule of the basis warps: (Gaussian smoothing in
#: fractions of each sequence's length, interior I-spline knots) per level
COARSE_TO_FINE = ((0.03, 0), (0.015, 4), (0.0, 10), (0.0, 20))


def _project(mcca: MCCA, i: int, x: np.ndarray) -> np.ndarray:
    return ((x - mcca.means_[i]) / mcca.stds_[i]) @ mcca.weights_[i]


def _continuous(pairs: np.ndarray) -> np.ndarray:
    """Make a monotone list of pairs continuous by inserting the skipped cells."""
    out = [pairs[0]]
    for a, b in pairs[1:]:
        pa, pb = out[-1]
        while a - pa > 1 or b - pb > 1:
            pa, pb = pa + (a - pa > 1), pb + (b - pb > 1)
            out.append(np.array([pa, pb]))
        if (a, b) != (pa, pb):
            out.append(np.array([a, b]))
    return np.array(out, dtype=np.int64)


class GCTW(TransformerMixin, BaseEstimator):
    """Generalized Canonical Time Warping for ``m >= 2`` sequences (Zhou & De la
    Torre, "Generalized Canonical Time Warping", IEEE TPAMI 2016; the warp model
    of "Generalized time warping for multi-modal alignment of human motion",
    CVPR 2012).

    Aligns every sequence :math:`X_i` (n_i, d_i) to a common latent time of
    length ``L`` by a monotone warp :math:`p_i` and learns projections
    :math:`V_i` (multiset CCA, :class:`polymodal.representation.MCCA`,
    regularised):

    .. math:: J = \\sum_i \\lVert V_i^\\top X_i(p_i) - Z \\rVert_F^2,
        \\qquad Z = \\frac{1}{m} \\sum_i V_i^\\top X_i(p_i)

    (:math:`m J` is the paper's pairwise energy
    :math:`\\sum_{i<j} \\lVert V_i^\\top X_i W_i - V_j^\\top X_j W_j \\rVert_F^2`).

    ``warping="gauss_newton"`` (default, the published method): each warp is a
    combination of monotone bases (:func:`~polymodal.alignment.gctw_warping.warp_basis`:
    linear, quadratic, exponential, logarithmic, hyperbolic tangents and
    I-splines), :math:`p_i = (n_i - 1) Q a_i` with :math:`a_i \\ge 0`,
    :math:`1^\\top a_i = 1` (monotone, with the boundary conditions exact);
    ``X_i(p_i)`` samples ``X_i`` at the fractional frames by linear
    interpolation. Alternates MCCA on the warped sequences with constrained
    Gauss-Newton updates of all :math:`a_i` (``gn_steps`` per MCCA fit, each
    backtracked so that J never increases for fixed projections), coarse to
    fine over ``coarse_to_fine`` levels: (smoothing, knots) = sequences smoothed
    by a Gaussian of that fraction of their length, I-splines with that many
    interior knots; each level starts from the previous level's warps.
    Starts from uniform warps and (``init="multi"``) from pairwise
    :class:`CTW` warps against the longest sequence projected on the bases,
    keeping the run with the lower final J. The constraint is solved by NNLS with the
    sum-to-one rows weighted heavily, then renormalised (an exact simplex point).

    ``warping="dtw_to_mean"``: the DTW-based variant (not the paper's warp
    model): each warp is the DTW path (``asymmetric`` step pattern, one frame
    per latent step, slope 0 to 2) of the projected sequence to the latent mean.
    It starts from uniform warps (``init="uniform"``) and, by default
    (``init="multi"``), also from pairwise :class:`CTW` of every sequence against
    the longest one, keeping the run with the lower J; each run stops when J
    decreases by less than ``tol`` (relative), keeping its best iterate.

    Parameters
    ----------
    n_components : int or None (then the fewest carrying ``energy`` of the
        squared correlations at the start);  energy : float in (0, 1]
    reg : MCCA shrinkage in [0, 1];  max_iter : int (MCCA updates per level
        for gauss_newton, alternations for dtw_to_mean);  tol : float
    latent_length : int or None (default: the longest length for gauss_newton;
        twice the longest length for dtw_to_mean, so that a warp may run up to
        four times faster than on average)
    init : "multi" (default) or "uniform": "multi" also starts from pairwise
        CTW warps against the longest sequence and keeps the run with lower J
    warping : "gauss_newton" (default) or "dtw_to_mean"
    coarse_to_fine : tuple of (smoothing fraction >= 0, knots >= 0) levels
    gn_steps : Gauss-Newton steps per MCCA update

    Attributes
    ----------
    warps_ : list of (L,) int arrays, frame of sequence i at latent step t
    warp_functions_ : list of (L,) float fractional frames (gauss_newton;
        ``warps_`` is their rounding)
    coef_ : (m, k) basis weights and basis_ (L, k) (gauss_newton)
    latent_ : (L, k) latent mean;  objective_history_ ;  mcca_ ;  n_components_

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 6, 30))[:, None] * [1.0, -2.0]
    >>> g = GCTW().fit([x, x, x])
    >>> bool((g.pairwise_path(0, 2) == np.arange(30)[:, None]).all())
    True
    """

    _multiview: ClassVar[bool] = True  # scikit-learn's checks run it through ColumnBlocks (two views)
    _test_params: ClassVar[dict] = {"max_iter": 3}

    def __init__(self, n_components: int | None = None, energy: float = 0.95, reg: float = 1e-3,
                 max_iter: int = 20, tol: float = 1e-6, latent_length: int | None = None,
                 init: str = "multi", warping: str = "gauss_newton", coarse_to_fine=COARSE_TO_FINE,
                 gn_steps: int = 3):
        self.n_components = n_components
        self.energy = energy
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.latent_length = latent_length
        self.init = init
        self.warping = warping
        self.coarse_to_fine = coarse_to_fine
        self.gn_steps = gn_steps

    def fit(self, X, y=None) -> "GCTW":
        """Align the views ``X``, a list of ``m >= 2`` sequences (T_i, d_i); ``y`` is ignored."""
        sequences = X
        check_ctw_options(self.energy, self.max_iter, self.init)
        if self.warping not in GCTW_WARPINGS:
            raise ConfigError(f"warping must be one of {GCTW_WARPINGS}, got {self.warping!r}")
        levels = self._levels()
        if isinstance(sequences, np.ndarray) or len(sequences) < 2:
            raise ShapeError(f"sequences must be a list of at least 2 sequences, got {type(sequences).__name__}"
                             f" of length {len(sequences)}")
        X = [as_sequence(s, f"sequences[{i}]") for i, s in enumerate(sequences)]
        lens = [len(x) for x in X]
        gn = self.warping == "gauss_newton"
        if self.latent_length is not None:
            L = int(self.latent_length)
        else:
            L = max(lens) if gn else 2 * max(lens)
        if gn and (L < 2 or min(lens) < 2):
            raise ShapeError(f"latent_length and every sequence length must be >= 2 (a sequence of 1 sample "
                             f"cannot be warped), got latent_length {L}, lengths {lens}")
        if not gn and (L < 2 or any(t > 2 * L - 1 for t in lens)):
            raise ShapeError(
                f"latent_length must be >= 2 and >= (longest length + 1) / 2 = {(max(lens) + 1) // 2}, got {L}"
            )
        kmax = min(x.shape[1] for x in X)
        t = np.arange(L) / (L - 1)
        uniform = [np.rint(t * (n - 1)).astype(np.int64) for n in lens]
        mcca = MCCA(n_components=kmax, reg=self.reg, scale=False).fit([x[w] for x, w in zip(X, uniform)])
        if self.n_components is None:
            e = np.cumsum(np.clip(mcca.objective_values_, 0, None) ** 2)
            k = int(np.searchsorted(e, self.energy * e[-1] - 1e-12) + 1) if e[-1] > 0 else kmax
        else:
            if not 1 <= self.n_components <= kmax:
                raise ConfigError(f"n_components must be in [1, {kmax}], got {self.n_components}")
            k = self.n_components
        self.n_components_ = k
        if gn:
            starts = [[np.linspace(0.0, 1.0, L)] * len(X)]
            if self.init == "multi":
                starts.append([w / (n - 1.0) for w, n in zip(self._ctw_start(X, L), lens)])
            runs = [self._fit_gauss_newton(X, L, k, kmax, levels, s) for s in starts]
            best = min(runs, key=lambda r: r["objective_history_"][-1])
            self.__dict__.update(best)
            return self
        starts = [uniform]
        if self.init == "multi":
            starts.append(self._ctw_start(X, L))
        runs = [self._run(X, w, k, kmax) for w in starts]
        i = int(np.argmin([r[1][0] for r in runs]))  # same L: J compares directly
        history, (_, self.warps_, self.latent_, self.mcca_) = runs[i]
        self.objective_history_ = history
        self.n_iter_ = len(history) - 1
        return self

    def _levels(self):
        try:
            levels = [(float(s), int(k)) for s, k in self.coarse_to_fine]
        except (TypeError, ValueError):
            levels = []
        if not levels or any(s < 0 or k < 0 or k != kk for (s, k), (_, kk) in zip(levels, self.coarse_to_fine)):
            raise ConfigError(f"coarse_to_fine must be a non-empty sequence of (smoothing >= 0, knots >= 0 int) "
                              f"pairs, got {self.coarse_to_fine!r}")
        if not (isinstance(self.gn_steps, (int, np.integer)) and self.gn_steps >= 1):
            raise ConfigError(f"gn_steps must be an int >= 1, got {self.gn_steps!r}")
        return levels

    def _fit_gauss_newton(self, X, L, k, kmax, levels, norm):
        """Coarse-to-fine alternation of MCCA and constrained Gauss-Newton warp
        updates from the normalised warps ``norm`` (p_i / (n_i - 1)); returns
        the fitted attributes."""
        from scipy.ndimage import gaussian_filter1d

        history: list[float] = []
        for smooth, knots in levels:
            Q = warp_basis(L, knots)
            Xs = [gaussian_filter1d(x, smooth * len(x), axis=0, mode="nearest") if smooth > 0 else x for x in X]
            A = np.stack([fit_coefficients(Q, w) for w in norm])
            for _ in range(self.max_iter):
                mcca = self._warped_mcca(Xs, Q, A, kmax)
                P = [_project(mcca, i, x)[:, :k] for i, x in enumerate(Xs)]
                start = None
                for _ in range(self.gn_steps):
                    A, before, after = gauss_newton_step(P, Q, A)
                    start = before if start is None else start
                    history.append(after)
                    if before - after <= self.tol * before:
                        break
                if start - after <= self.tol * start:
                    break
            norm = [Q @ a for a in A]
        mcca = self._warped_mcca(X, Q, A, kmax)
        P = [_project(mcca, i, x)[:, :k] for i, x in enumerate(X)]
        funcs = [np.maximum.accumulate((len(x) - 1) * (Q @ a)) for x, a in zip(X, A)]  # guard 1-ulp dips
        Y = np.stack([interpolate(p, w)[0] for p, w in zip(P, funcs)])
        Z = Y.mean(0)
        return {"basis_": Q, "coef_": A, "mcca_": mcca, "warp_functions_": funcs, "latent_": Z,
                "warps_": [np.rint(p).astype(np.int64) for p in funcs],
                "objective_history_": history + [float(((Y - Z) ** 2).sum())], "n_iter_": len(history)}

    def _warped_mcca(self, X, Q, A, kmax):
        Y = [interpolate(x, (len(x) - 1) * (Q @ a))[0] for x, a in zip(X, A)]
        return MCCA(n_components=kmax, reg=self.reg, scale=False).fit(Y)

    def _ctw_start(self, X, L):
        """Warps from pairwise CTW of every sequence against the longest one
        (its frames are the latent steps when L is its length; otherwise they
        are resampled to L)."""
        r = int(np.argmax([len(x) for x in X]))
        n = len(X[r])
        warps = []
        for i, x in enumerate(X):
            if i == r:
                w = np.arange(n)
            else:
                path = CTW(energy=self.energy, reg=self.reg).fit(X[r], x).path_
                # frame of x matched to each frame of the reference (mean, rounded)
                w = np.bincount(path[:, 0], weights=path[:, 1], minlength=n) / np.bincount(path[:, 0], minlength=n)
            u = np.linspace(0, n - 1, L)
            w = np.rint(np.interp(u, np.arange(n), w)).astype(np.int64)
            w[0], w[-1] = 0, len(x) - 1  # boundary conditions of a warp
            warps.append(np.maximum.accumulate(w))
        return warps

    def _run(self, X, warps, k, kmax):
        history: list[float] = []
        best = None
        for it in range(self.max_iter):
            mcca = MCCA(n_components=kmax, reg=self.reg, scale=False).fit([x[w] for x, w in zip(X, warps)])
            P = [_project(mcca, i, x)[:, :k] for i, x in enumerate(X)]
            Z = np.mean([p[w] for p, w in zip(P, warps)], axis=0)
            if it == 0:
                J0 = float(sum(((p[w] - Z) ** 2).sum() for p, w in zip(P, warps)))
                history.append(J0)
                best = (J0, warps, Z, mcca)
            new = [dtw(Z, p, step_pattern="asymmetric", return_path=True).path[:, 1] for p in P]
            J = float(sum(((p[w] - Z) ** 2).sum() for p, w in zip(P, new)))
            history.append(J)
            if J < best[0]:
                best = (J, new, Z, mcca)
            done = all(np.array_equal(a, b) for a, b in zip(new, warps)) or (
                history[-2] - J <= self.tol * abs(history[-2])
            )
            warps = new
            if done:
                break
        return history, best

    def pairwise_path(self, a: int, b: int) -> np.ndarray:
        """Warping path (L', 2) between sequences ``a`` and ``b`` implied by the
        common latent time (skipped cells filled in so it is continuous)."""
        check_is_fitted(self, "warps_")
        pairs = np.stack([self.warps_[a], self.warps_[b]], axis=1)
        keep = np.r_[True, (np.diff(pairs, axis=0) != 0).any(axis=1)]
        return _continuous(pairs[keep])

    def transform(self, X) -> list[np.ndarray]:
        """Projections (T_i, k) of each sequence of the views ``X`` into the shared space."""
        check_is_fitted(self, "mcca_")
        sequences = X
        return [_project(self.mcca_, i, as_sequence(x, f"sequences[{i}]"))[:, : self.n_components_]
                for i, x in enumerate(sequences)]

    def alignment_error(self, a: int, b: int, true_path) -> float:
        """:func:`alignment_error` of :meth:`pairwise_path` ``(a, b)``."""
        return alignment_error(self.pairwise_path(a, b), true_path)
