"""Coupled HMM (Brand, Oliver & Pentland, CVPR 1997): one chain per stream,
each chain's next state conditioned on every chain's previous state."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import _core
from polymodal.fusion.graphical._base import ExactHMMBase
from polymodal.fusion.graphical.hmm import init_chain, init_states


class CoupledHMM(ExactHMMBase):
    """Coupled HMM with Gaussian (diag/full) emissions, exact EM on the
    product state space.

    Brand, Oliver & Pentland, "Coupled hidden Markov models for complex action
    recognition", CVPR 1997:

    .. math:: p(s_t \\mid s_{t-1}) = \\prod_c p(s^c_t \\mid s^1_{t-1}, \\dots, s^C_{t-1}),\\quad
              p(x_t \\mid s_t) = \\prod_c \\mathcal{N}(x^c_t \\mid \\mu^c_{s^c_t}, \\Sigma^c_{s^c_t})

    Inference runs forward-backward on the ``S = prod_c K_c`` joint states
    (exact; ``S <= MAX_JOINT_STATES = 4096``, i.e. O(T S^2) time, O(S^2)
    memory). ``coupling="none"`` ties every chain's transition to its own
    previous state only: the model is then exactly C independent HMMs.

    Parameters
    ----------
    n_states : int or sequence of int, states per chain (one chain per stream)
    coupling : "full" or "none"
    covariance_type : "diag" or "full"
    n_iter, tol, min_covar, random_state : EM settings

    Attributes
    ----------
    startprob_ : list of (K_c,); transmat_ : list of (K_1, ..., K_C, K_c)
    conditionals; means_, covars_ : per chain; log_likelihoods_.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [[rng.normal(size=(15, 2)), rng.normal(size=(15, 1))] for _ in range(3)]
    >>> CoupledHMM(2, n_iter=3).fit(X).decode(X[0]).states.shape
    (15, 2)
    """

    def __init__(self, n_states: int | Sequence[int] = 2, coupling: str = "full", covariance_type: str = "diag",
                 n_iter: int = 50, tol: float = 1e-4, min_covar: float = 1e-3, random_state: int | None = 0,
                 verbose: bool = False) -> None:
        super().__init__(n_iter, tol, min_covar, random_state, verbose)
        _core.check_covariance_type(covariance_type)
        if coupling not in ("full", "none"):
            raise ConfigError(f"coupling must be 'full' or 'none', got {coupling!r}")
        self.n_states = n_states
        self.coupling = coupling
        self.covariance_type = covariance_type

    def _chain_sizes(self) -> tuple[int, ...]:
        return _core.check_n_states(self.n_states, len(self.dims_))

    def _init_params(self, data: list[list[np.ndarray]], rng: np.random.Generator) -> None:
        sizes = self._chain_sizes()
        self._digits()  # checks the joint-state limit
        self.startprob_, self.transmat_, self.means_, self.covars_ = [], [], [], []
        for c, K in enumerate(sizes):
            # each chain is initialised exactly like a one-stream MultiStreamHMM with the same seed
            crng = np.random.default_rng(self.random_state)
            m, v = init_states([np.concatenate([s[c] for s in data])], K, self.covariance_type, self.min_covar, crng)
            start, trans = init_chain(K)
            self.means_.append(m[0])
            self.covars_.append(v[0])
            self.startprob_.append(start)
            self.transmat_.append(self._broadcast_own(trans, c))

    def _broadcast_own(self, trans: np.ndarray, c: int, sizes: tuple[int, ...] | None = None) -> np.ndarray:
        """(K_c, K_c) own-chain transitions -> (K_1..K_C, K_c) conditional table."""
        sizes = self._chain_sizes() if sizes is None else sizes
        shape = [1] * len(sizes) + [sizes[c]]
        shape[c] = sizes[c]
        return np.broadcast_to(trans.reshape(shape), sizes + (sizes[c],)).copy()

    def set_params_manual(self, startprob: list[np.ndarray], transmat: list[np.ndarray], means: list[np.ndarray],
                          covars: list[np.ndarray]) -> "CoupledHMM":
        """Set parameters by hand, one entry per chain c (= stream c): startprob
        (K_c,), transmat (K_c, K_c) (own-chain only, i.e. uncoupled) or the full
        conditional table (K_1, ..., K_C, K_c) with ``table[s_1, ..., s_C, j] =
        p(s^c_t = j | s_{t-1})``, means (K_c, d_c), covars (K_c, d_c) or
        (K_c, d_c, d_c); K_c from ``n_states``. Every shape and probability is
        checked (ShapeError naming the chain and the sizes); nothing is set on error."""
        params = self._checked_params(startprob, transmat, means, covars)
        self.startprob_, self.transmat_, self.means_, self.covars_ = params
        self.dims_ = [m.shape[1] for m in self.means_]
        return self

    def _checked_params(self, startprob, transmat, means, covars, broadcast: bool = True) -> tuple:
        startprob, transmat, means, covars = (list(a) for a in (startprob, transmat, means, covars))
        C = len(means)
        if C == 0:
            raise ShapeError("need at least one chain (one means array per stream), got 0")
        for label, a in (("startprob", startprob), ("transmat", transmat), ("covars", covars)):
            if len(a) != C:
                raise ShapeError(f"{C} chains (one per means array) but {len(a)} {label} arrays")
        sizes = _core.check_n_states(self.n_states, C)
        starts, tables, mus, covs = [], [], [], []
        who = [f"chain {c} (stream {self._stream_name(c)!r}, n_states={K} of {sizes})" for c, K in enumerate(sizes)]
        for c, K in enumerate(sizes):  # a chain's own sizes first: they name the chain whose count is wrong
            starts.append(_core.check_probabilities(startprob[c], f"{who[c]}: startprob", (K,)))
            m, v = _core.check_gaussians(means[c], covars[c], K, self.covariance_type, who[c])
            mus.append(m)
            covs.append(v)
        for c, K in enumerate(sizes):
            full = sizes + (K,)
            t = np.asarray(transmat[c], dtype=float)
            if t.shape == (K, K) and C > 1 and broadcast:
                t = _core.check_probabilities(t, f"{who[c]}: transmat", (K, K))
                t = self._broadcast_own(t, c, sizes)
            elif t.shape != full:
                own = f" or {(K, K)} (own chain only)" if C > 1 else ""
                raise ShapeError(f"{who[c]}: transmat must be the conditional table {full}{own}, got shape {t.shape}")
            tables.append(_core.check_probabilities(t, f"{who[c]}: transmat", full))
        return starts, tables, mus, covs

    def _check_params(self) -> None:
        _, _, means, _ = self._checked_params(self.startprob_, self.transmat_, self.means_, self.covars_,
                                              broadcast=False)
        _core.check_dims([m.shape[1] for m in means], self.dims_)

    def _joint(self) -> tuple[np.ndarray, np.ndarray]:
        dig = self._digits()
        S = dig.shape[0]
        log_start = np.zeros(S)
        trans = np.ones((S, S))
        for c, K in enumerate(self._chain_sizes()):
            log_start += _core._log(self.startprob_[c])[dig[:, c]]
            table = self.transmat_[c].reshape(S, K)  # prev joint state -> next state of chain c
            trans *= table[:, dig[:, c]]
        return log_start, trans

    def _log_emission(self, sample: list[np.ndarray]) -> np.ndarray:
        dig = self._digits()
        out = np.zeros((sample[0].shape[0], dig.shape[0]))
        for c, x in enumerate(sample):
            out += _core.gaussian_log_density(x, self.means_[c], self.covars_[c], self.covariance_type)[:, dig[:, c]]
        return out

    def _m_step(self, stats: dict) -> None:
        sizes = self._chain_sizes()
        ind = self._indicators()
        g = np.concatenate(stats["gamma"])
        for c, K in enumerate(sizes):
            P = ind[c]
            self.startprob_[c] = _core.normalise(stats["start"] @ P)
            if self.coupling == "none":
                self.transmat_[c] = self._broadcast_own(_core.normalise(P.T @ stats["trans"] @ P), c)
            else:
                self.transmat_[c] = _core.normalise(stats["trans"] @ P).reshape(sizes + (K,))
            f = np.concatenate([s[c] for s in stats["frames"]])
            self.means_[c], self.covars_[c] = _core.gaussian_m_step(f, g @ P, self.covariance_type, self.min_covar)
