"""Shared EM loop and inference API for the exact (product-state) HMMs."""

from __future__ import annotations

import sys
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from polymodal.core.fitted import check_fitted
from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import _core


@dataclass
class HMMPosteriorResult:
    """Posterior of one sample: ``log_likelihood``; ``gamma`` (T, S) joint-state
    posteriors; ``marginals`` one (T, K_c) array per chain."""

    log_likelihood: float
    gamma: np.ndarray
    marginals: list[np.ndarray]


@dataclass
class ViterbiResult:
    """Most probable state path: ``log_prob`` and ``states`` (T, n_chains)."""

    log_prob: float
    states: np.ndarray


class ExactHMMBase(BaseEstimator, metaclass=ABCMeta):
    """EM (Baum-Welch) over a joint state space of ``prod(chain_sizes)`` states.

    Subclasses define ``_chain_sizes()``, ``_init_params(X, rng)``,
    ``_joint(...)`` -> (log_start, trans), ``_log_emission(sample)`` (T, S) and
    ``_m_step(stats)``; ``_new_stats()`` and ``_accumulate(stats, sample, gamma, xi)``
    default to collecting start/transition counts, posteriors and frames.
    """

    synchronous = True
    _expected_failed_checks: ClassVar[dict[str, str]] = _core.SEQUENCE_HMM_EXPECTED_FAILURES

    def __init__(self, n_iter: int = 50, tol: float = 1e-4, min_covar: float = 1e-3,
                 random_state: int | None = 0, verbose: bool = False) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.min_covar = min_covar
        self.random_state = random_state
        self.verbose = verbose

    # -- what a model defines --------------------------------------------------------
    @abstractmethod
    def _chain_sizes(self) -> tuple[int, ...]:
        """Number of states of each chain."""

    @abstractmethod
    def _init_params(self, data: list[list[np.ndarray]], rng: np.random.Generator) -> None:
        """Initial parameters from the training samples."""

    @abstractmethod
    def _joint(self) -> tuple[np.ndarray, np.ndarray]:
        """(log start (S,), transition matrix (S, S)) over the joint states."""

    @abstractmethod
    def _log_emission(self, sample: list[np.ndarray]) -> np.ndarray:
        """(T, S) log emission densities of one sample."""

    @abstractmethod
    def _m_step(self, stats: dict) -> None:
        """Re-estimate the parameters from the accumulated statistics."""

    # -- sufficient statistics (start, transitions, posteriors and frames) -------
    def _new_stats(self) -> dict:
        S = int(np.prod(self._chain_sizes()))
        return {"start": np.zeros(S), "trans": np.zeros((S, S)), "gamma": [], "frames": []}

    def _accumulate(self, stats: dict, sample: list[np.ndarray], gamma: np.ndarray, xi: np.ndarray) -> None:
        stats["start"] += gamma[0]
        stats["trans"] += xi
        stats["gamma"].append(gamma)
        stats["frames"].append(sample)

    # -- joint state bookkeeping -------------------------------------------------
    def _digits(self) -> np.ndarray:
        sizes = self._chain_sizes()
        S = int(np.prod(sizes))
        if S > _core.MAX_JOINT_STATES:
            raise ConfigError(f"exact inference needs prod(n_states)={S} joint states <= "
                              f"MAX_JOINT_STATES={_core.MAX_JOINT_STATES} (memory ~ 8*S^2 bytes); "
                              f"use fewer states or the factorial HMM's variational inference")
        return np.stack(np.unravel_index(np.arange(S), sizes), axis=1)  # (S, C)

    def _indicators(self) -> list[np.ndarray]:
        """One (S, K_c) one-hot matrix per chain: joint state -> chain state."""
        dig = self._digits()
        return [np.eye(k)[dig[:, c]] for c, k in enumerate(self._chain_sizes())]

    # -- validation ----------------------------------------------------------------
    def _validate(self, X: Any, fitting: bool = False, check_params: bool = True) -> list[list[np.ndarray]]:
        if fitting:
            return _core.validate_samples(X, synchronous=self.synchronous)
        check_fitted(self, "dims_", "fit(X)")
        if check_params and hasattr(self, "startprob_"):
            self._check_params()  # parameters edited by hand would make the kernels read out of bounds
        return _core.validate_samples(X, n_streams=len(self.dims_), dims=self.dims_, synchronous=self.synchronous)

    # -- EM ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> "ExactHMMBase":
        """Baum-Welch EM; ``log_likelihoods_`` holds the total log-likelihood
        before each M-step (it never decreases). ``y`` is ignored (unsupervised)."""
        data = self._validate(X, fitting=True)
        n_streams = {len(s) for s in data}
        if len(n_streams) != 1:
            raise ShapeError(f"every sample needs the same number of streams, got {sorted(n_streams)}")
        self.dims_ = [s.shape[1] for s in data[0]]
        data = self._validate(X, check_params=False)
        self._chain_sizes()  # checks n_states
        for c in range(len(self.dims_)):
            _core.check_nonconstant(np.concatenate([s[c] for s in data]), self._stream_name(c))
        rng = np.random.default_rng(self.random_state)
        self._init_params(data, rng)
        self.log_likelihoods_: list[float] = []
        self.converged_ = False
        for it in range(self.n_iter):
            stats = self._new_stats()
            total = 0.0
            for sample in data:
                ls, trans = self._joint()
                ll, gamma, xi = _core.log_posteriors(ls, trans, self._log_emission(sample))
                total += ll
                self._accumulate(stats, sample, gamma, xi)
            self.log_likelihoods_.append(total)
            if self.verbose:
                print(f"iter {it}: log-likelihood {total:.6f}", file=sys.stderr)
            if it > 0 and abs(total - self.log_likelihoods_[-2]) < self.tol:
                self.converged_ = True
                break
            self._m_step(stats)
        self.n_iter_ = len(self.log_likelihoods_)
        return self

    def _check_params(self) -> None:
        """Raise ShapeError when the parameters are inconsistent (subclasses)."""

    def _stream_name(self, c: int) -> Any:
        names = getattr(self, "stream_names", None)
        return names[c] if names is not None else c

    # -- inference -----------------------------------------------------------------
    def score_samples(self, X: Any) -> np.ndarray:
        """Per-sample log-likelihood ``log p(x_{1:T})`` (forward algorithm)."""
        data = self._validate(X)
        ls, trans = self._joint()
        return np.array([_core.log_forward(ls, trans, self._log_emission(s))[1] for s in data])

    def score(self, X: Any, y: Any = None) -> float:
        """Total log-likelihood of the samples."""
        return float(np.sum(self.score_samples(X)))

    def posterior(self, sample: Any) -> HMMPosteriorResult:
        """Forward-backward posteriors of one sample."""
        (s,) = self._validate([sample])
        ls, trans = self._joint()
        ll, gamma, _ = _core.log_posteriors(ls, trans, self._log_emission(s))
        return HMMPosteriorResult(ll, gamma, [gamma @ P for P in self._indicators()])

    def decode(self, sample: Any) -> ViterbiResult:
        """Viterbi path of one sample; ``states[t, c]`` is chain c's state."""
        (s,) = self._validate([sample])
        ls, trans = self._joint()
        lp, path = _core.viterbi(ls, trans, self._log_emission(s))
        return ViterbiResult(lp, self._digits()[path])

    def predict(self, X: Any) -> list[np.ndarray]:
        """Viterbi state paths, one (T, n_chains) array per sample."""
        return [self.decode(s).states for s in self._validate(X)]
