"""Factorial HMM (Ghahramani & Jordan 1997): several independent Markov
chains jointly generate one Gaussian observation; exact EM on the product
state space or structured variational EM beyond it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from polymodal.core.fitted import check_fitted
from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import _core
from polymodal.fusion.graphical._base import HMMPosteriorResult, ViterbiResult
from polymodal.fusion.graphical.hmm import init_chain

_LOG2PI = float(np.log(2 * np.pi))


@dataclass
class _Estep:
    ll: float                 # exact log-likelihood or variational lower bound
    marginals: list[np.ndarray]  # per chain (T, K_m)
    xi: list[np.ndarray]         # per chain (K_m, K_m), summed over t
    ess: np.ndarray              # (sum K, sum K) sum_t E[s_t s_t']
    gamma: np.ndarray | None = None  # exact joint posteriors (T, S)


class FactorialHMM(BaseEstimator):
    """Factorial HMM with a shared Gaussian (diag or full) observation model.

    Ghahramani & Jordan, "Factorial hidden Markov models", Machine Learning
    29, 1997:

    .. math:: p(s^m_t \\mid s^m_{t-1}) = A^{(m)},\\qquad
              y_t \\mid s_t \\sim \\mathcal{N}\\Big(\\sum_m W^{(m)} s^m_t,\\; C\\Big)

    (``s^m_t`` one-hot). Multimodal input is the frame-wise concatenation of
    synchronous streams. ``inference="exact"`` runs forward-backward on the
    ``S = prod_m K_m`` joint states (S <= ``MAX_JOINT_STATES = 4096``, O(T S^2)
    time, O(S^2) memory); ``"variational"`` is the structured mean field of
    G&J (section 3.5): each chain keeps its own forward-backward with the
    pseudo-emissions ``h^m_t = exp(W^{m'} C^{-1} \\tilde y^m_t - \\tfrac12 \\Delta^m)``,
    ``\\tilde y^m_t = y_t - \\sum_{l \\ne m} W^l \\langle s^l_t\\rangle``,
    O(T M K^2) per sweep; ``score`` then returns the lower bound.
    ``"auto"`` picks exact when it fits.

    Parameters
    ----------
    n_states : sequence of int, states of each chain (K_1, ..., K_M)
    covariance_type : "diag" or "full" (shared C)
    inference : "auto", "exact" or "variational"
    n_iter, tol, min_covar, random_state : EM settings; n_vi_iter, vi_tol : mean-field sweeps

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(20, 3)) for _ in range(3)]
    >>> m = FactorialHMM((2, 2), n_iter=3).fit(X)
    >>> m.decode(X[0]).states.shape
    (20, 2)
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = _core.SEQUENCE_HMM_EXPECTED_FAILURES

    def __init__(self, n_states: Sequence[int] = (2, 2), covariance_type: str = "diag", inference: str = "auto",
                 n_iter: int = 50, tol: float = 1e-4, min_covar: float = 1e-3, n_vi_iter: int = 30,
                 vi_tol: float = 1e-6, random_state: int | None = 0, verbose: bool = False) -> None:
        _core.check_covariance_type(covariance_type)
        if inference not in ("auto", "exact", "variational"):
            raise ConfigError(f"inference must be 'auto', 'exact' or 'variational', got {inference!r}")
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.inference = inference
        self.n_iter, self.tol, self.min_covar = n_iter, tol, min_covar
        self.n_vi_iter, self.vi_tol = n_vi_iter, vi_tol
        self.random_state, self.verbose = random_state, verbose

    # -- helpers --------------------------------------------------------------------
    @property
    def _sizes(self) -> tuple[int, ...]:
        return _core.check_n_states(self.n_states)

    def _exact(self) -> bool:
        S = int(np.prod(self._sizes))
        if self.inference == "exact" and S > _core.MAX_JOINT_STATES:
            raise ConfigError(f"inference='exact' needs prod(n_states)={S} <= MAX_JOINT_STATES="
                              f"{_core.MAX_JOINT_STATES}; use inference='variational'")
        return self.inference == "exact" or (self.inference == "auto" and S <= _core.MAX_JOINT_STATES)

    def _data(self, X: Any) -> list[np.ndarray]:
        data = _core.validate_samples(X, synchronous=True)
        out = [np.concatenate(s, axis=1) for s in data]
        if hasattr(self, "n_features_"):
            for i, y in enumerate(out):
                if y.shape[1] != self.n_features_:
                    raise ShapeError(f"sample {i}: expected {self.n_features_} features (all streams), got {y.shape[1]}")
        return out

    def _cov_full(self) -> np.ndarray:
        return np.diag(self.covars_) if self.covariance_type == "diag" else self.covars_

    def _W(self) -> np.ndarray:
        return np.concatenate(self.W_, axis=1)  # (D, sum K)

    def _digits(self) -> np.ndarray:
        return np.stack(np.unravel_index(np.arange(int(np.prod(self._sizes))), self._sizes), axis=1)

    def _phi(self) -> np.ndarray:
        """(S, sum K): joint state -> concatenated one-hot chain states."""
        dig = self._digits()
        return np.concatenate([np.eye(K)[dig[:, m]] for m, K in enumerate(self._sizes)], axis=1)

    def _joint_log_emission(self, y: np.ndarray) -> np.ndarray:
        means = self._phi() @ self._W().T  # (S, D)
        L = np.linalg.cholesky(self._cov_full())
        z = np.linalg.solve(L, y.T)
        mz = np.linalg.solve(L, means.T)
        quad = np.sum(z**2, 0)[:, None] - 2 * z.T @ mz + np.sum(mz**2, 0)[None, :]
        return -0.5 * (y.shape[1] * _LOG2PI + 2 * np.sum(np.log(np.diag(L))) + quad)

    def _joint_chain(self) -> tuple[np.ndarray, np.ndarray]:
        dig = self._digits()
        ls = sum(_core._log(self.startprob_[m])[dig[:, m]] for m in range(len(self._sizes)))
        trans = np.ones((dig.shape[0],) * 2)
        for m in range(len(self._sizes)):
            trans *= self.transmat_[m][dig[:, m]][:, dig[:, m]]
        return ls, trans

    # -- E-steps --------------------------------------------------------------------
    def _estep_exact(self, y: np.ndarray) -> _Estep:
        ls, trans = self._joint_chain()
        ll, gamma, xi = _core.log_posteriors(ls, trans, self._joint_log_emission(y))
        phi = self._phi()
        dig = self._digits()
        inds = [np.eye(K)[dig[:, m]] for m, K in enumerate(self._sizes)]
        return _Estep(ll, [gamma @ P for P in inds], [P.T @ xi @ P for P in inds],
                      phi.T @ (gamma.sum(0)[:, None] * phi), gamma)

    def _estep_variational(self, y: np.ndarray, init: list[np.ndarray] | None = None) -> _Estep:
        sizes = self._sizes
        T, D = y.shape
        Cf = self._cov_full()
        Cinv = np.linalg.inv(Cf)
        logdet = np.linalg.slogdet(Cf)[1]
        WCW = [W.T @ Cinv @ W for W in self.W_]
        delta = [np.diag(a) for a in WCW]
        marg = [np.full((T, K), 1.0 / K) for K in sizes] if init is None else [q.copy() for q in init]
        xis = [np.zeros((K, K)) for K in sizes]
        logZ = [0.0] * len(sizes)
        logh = [np.zeros((T, K)) for K in sizes]
        prev = -np.inf
        for _ in range(self.n_vi_iter):
            for m in range(len(sizes)):  # sequential (coordinate-ascent) updates: the bound never decreases
                resid = y - sum(marg[l] @ self.W_[l].T for l in range(len(sizes)) if l != m)
                logh[m] = resid @ Cinv @ self.W_[m] - 0.5 * delta[m]
                logZ[m], marg[m], xis[m] = _core.log_posteriors(_core._log(self.startprob_[m]), self.transmat_[m],
                                                                 logh[m])
            bound = self._bound(y, marg, logZ, logh, Cinv, logdet, WCW)
            if bound - prev < self.vi_tol * max(1.0, abs(bound)):
                prev = bound
                break
            prev = bound
        Es = np.concatenate(marg, axis=1)
        ess = Es.T @ Es
        off = np.cumsum((0,) + sizes)
        for m in range(len(sizes)):
            a, b = off[m], off[m + 1]
            ess[a:b, a:b] = np.diag(marg[m].sum(0))
        return _Estep(prev, marg, xis, ess)

    def _bound(self, y, marg, logZ, logh, Cinv, logdet, WCW) -> float:
        T, D = y.shape
        mu = sum(marg[m] @ self.W_[m].T for m in range(len(marg)))
        r = y - mu
        quad = np.sum((r @ Cinv) * r)
        for m in range(len(marg)):
            quad += np.sum(marg[m] @ np.diag(WCW[m])) - np.sum((marg[m] @ WCW[m]) * marg[m])
        ell = -0.5 * (T * (D * _LOG2PI + logdet) + quad)
        ent = sum(logZ[m] - np.sum(marg[m] * logh[m]) for m in range(len(marg)))
        return float(ell + ent)

    def _estep(self, y: np.ndarray, init: list[np.ndarray] | None = None) -> _Estep:
        return self._estep_exact(y) if self._exact() else self._estep_variational(y, init)

    # -- EM ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> "FactorialHMM":
        """EM; ``log_likelihoods_`` holds the exact log-likelihood (or the
        variational bound) before each M-step."""
        data = self._data(X)
        self.n_features_ = data[0].shape[1]
        data = self._data(X)
        Y = np.concatenate(data)
        _core.check_nonconstant(Y, "all streams")
        rng = np.random.default_rng(self.random_state)
        M = len(self._sizes)
        mean, std = Y.mean(0), Y.std(0)
        self.W_ = [mean[:, None] / M + rng.normal(size=(Y.shape[1], K)) * std[:, None] for K in self._sizes]
        self.covars_ = Y.var(0) if self.covariance_type == "diag" else np.cov(Y.T).reshape(Y.shape[1], Y.shape[1])
        self.startprob_, self.transmat_ = map(list, zip(*[init_chain(K) for K in self._sizes]))
        self.log_likelihoods_: list[float] = []
        self.converged_ = False
        YY = Y.T @ Y
        warm: list[list[np.ndarray] | None] = [None] * len(data)  # mean field warm-started: the bound never drops
        for it in range(self.n_iter):
            start = [np.zeros(K) for K in self._sizes]
            trans = [np.zeros((K, K)) for K in self._sizes]
            ess = 0.0
            yes = 0.0
            total = 0.0
            for i, y in enumerate(data):
                e = self._estep(y, warm[i])
                warm[i] = e.marginals
                total += e.ll
                ess = ess + e.ess
                yes = yes + y.T @ np.concatenate(e.marginals, axis=1)
                for m in range(M):
                    start[m] += e.marginals[m][0]
                    trans[m] += e.xi[m]
            self.log_likelihoods_.append(total)
            if self.verbose:
                print(f"iter {it}: {'log-likelihood' if self._exact() else 'bound'} {total:.6f}", file=sys.stderr)
            if it > 0 and abs(total - self.log_likelihoods_[-2]) < self.tol:
                self.converged_ = True
                break
            W = yes @ np.linalg.pinv(ess, rcond=1e-10, hermitian=True)
            C = (YY - W @ yes.T) / Y.shape[0]
            C = 0.5 * (C + C.T)
            off = np.cumsum((0,) + self._sizes)
            self.W_ = [W[:, off[m]:off[m + 1]] for m in range(M)]
            if self.covariance_type == "diag":
                self.covars_ = np.maximum(np.diag(C), self.min_covar)
            else:
                ev, V = np.linalg.eigh(C)
                self.covars_ = (V * np.maximum(ev, self.min_covar)) @ V.T
            self.startprob_ = [_core.normalise(s) for s in start]
            self.transmat_ = [_core.normalise(t) for t in trans]
        self.n_iter_ = len(self.log_likelihoods_)
        return self

    # -- parameters ---------------------------------------------------------------------
    def set_params_manual(self, startprob: Sequence[np.ndarray], transmat: Sequence[np.ndarray],
                          W: Sequence[np.ndarray], covars: np.ndarray) -> "FactorialHMM":
        """Set all parameters by hand, e.g. to score with known values: per
        chain m startprob (K_m,), transmat (K_m, K_m) and the contribution
        ``W^{(m)}`` (D, K_m) to the mean; the shared covariance C (D,) ("diag")
        or (D, D) ("full"); K_m from ``n_states``. Every shape and probability
        is checked (ShapeError naming the chain and the sizes); nothing is set
        on error. Sets ``n_features_ = D``."""
        params = self._checked_params(startprob, transmat, W, covars)
        self.startprob_, self.transmat_, self.W_, self.covars_ = params
        self.n_features_ = self.W_[0].shape[0]
        return self

    def _checked_params(self, startprob, transmat, W, covars) -> tuple:
        sizes = self._sizes
        M = len(sizes)
        startprob, transmat, W = list(startprob), list(transmat), list(W)
        for label, a in (("startprob", startprob), ("transmat", transmat), ("W", W)):
            if len(a) != M:
                raise ShapeError(f"n_states={sizes} gives {M} chains but got {len(a)} {label} arrays")
        W = [np.asarray(w, dtype=float) for w in W]
        if W[0].ndim != 2 or W[0].shape[0] < 1:
            raise ShapeError(f"chain 0: W must be (D, K) = (D, {sizes[0]}), got shape {W[0].shape}")
        D = W[0].shape[0]
        starts, trans = [], []
        for m, K in enumerate(sizes):
            who = f"chain {m} (n_states={K} of {sizes})"
            starts.append(_core.check_probabilities(startprob[m], f"{who}: startprob", (K,)))
            trans.append(_core.check_probabilities(transmat[m], f"{who}: transmat", (K, K)))
            if W[m].shape != (D, K):
                raise ShapeError(f"{who}: W must be (D, K) = {(D, K)} (D = {D} features, from chain 0), "
                                 f"got shape {W[m].shape}")
            if not np.all(np.isfinite(W[m])):
                raise ShapeError(f"{who}: W must be finite, got NaN or inf")
        C = np.asarray(covars, dtype=float)
        want = (D,) if self.covariance_type == "diag" else (D, D)
        if C.shape != want:
            raise ShapeError(f"covars must be {want} (the shared {self.covariance_type} covariance of the "
                             f"{D} features), got shape {C.shape}")
        if not np.all(np.isfinite(C)):
            raise ShapeError("covars must be finite, got NaN or inf")
        _core.check_covars(C if self.covariance_type == "full" else C[None], self.covariance_type, "covars")
        return starts, trans, W, C

    def _check_params(self) -> None:
        _, _, W, _ = self._checked_params(self.startprob_, self.transmat_, self.W_, self.covars_)
        if W[0].shape[0] != self.n_features_:
            raise ShapeError(f"W has {W[0].shape[0]} rows but the model has n_features_={self.n_features_}; "
                             "set the parameters with set_params_manual")

    # -- inference --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        check_fitted(self, "W_", "fit(X)")
        self._check_params()  # parameters edited by hand would make the kernels read out of bounds

    def score_samples(self, X: Any) -> np.ndarray:
        """Per-sample exact log-likelihood, or its variational lower bound."""
        self._check_fitted()
        return np.array([self._estep(y).ll for y in self._data(X)])

    def score(self, X: Any, y: Any = None) -> float:
        return float(np.sum(self.score_samples(X)))

    def posterior(self, sample: Any) -> HMMPosteriorResult:
        """Per-chain posterior marginals (exact, or the mean-field ones)."""
        self._check_fitted()
        (y,) = self._data([sample])
        e = self._estep(y)
        return HMMPosteriorResult(e.ll, e.gamma if e.gamma is not None else np.empty((0, 0)), e.marginals)

    def decode(self, sample: Any) -> ViterbiResult:
        """Joint Viterbi path (exact), or each chain's Viterbi path under its
        variational pseudo-emissions."""
        self._check_fitted()
        (y,) = self._data([sample])
        if self._exact():
            ls, trans = self._joint_chain()
            lp, path = _core.viterbi(ls, trans, self._joint_log_emission(y))
            return ViterbiResult(lp, self._digits()[path])
        e = self._estep_variational(y)
        Cinv = np.linalg.inv(self._cov_full())
        states = []
        for m in range(len(self._sizes)):
            resid = y - sum(e.marginals[l] @ self.W_[l].T for l in range(len(self._sizes)) if l != m)
            logh = resid @ Cinv @ self.W_[m] - 0.5 * np.diag(self.W_[m].T @ Cinv @ self.W_[m])
            states.append(_core.viterbi(_core._log(self.startprob_[m]), self.transmat_[m], logh)[1])
        return ViterbiResult(float("nan"), np.stack(states, axis=1))

    def predict(self, X: Any) -> list[np.ndarray]:
        return [self.decode(y).states for y in self._data(X)]
