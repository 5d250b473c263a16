"""Multi-stream (state-synchronous) HMM with Gaussian emissions per stream."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import _core
from polymodal.fusion.graphical._base import ExactHMMBase


class MultiStreamHMM(ExactHMMBase):
    """State-synchronous multi-stream HMM: one hidden chain, and given its
    state every stream emits independently (a Gaussian per stream and state).

    Early-fusion generative model used in audio-visual speech recognition
    (Potamianos, Neti, Gravier, Garg & Senior, Proc. IEEE 2003; stream HMM of
    Young et al., HTK book).

    .. math:: p(x, s) = \\pi_{s_1} \\prod_t A_{s_{t-1} s_t}
              \\prod_c \\mathcal{N}(x^c_t \\mid \\mu^c_{s_t}, \\Sigma^c_{s_t})^{\\lambda_c}

    with stream exponents :math:`\\lambda_c` (default 1: a proper likelihood;
    other values are the usual reliability weights and make EM a heuristic).
    With one stream it is the ordinary Gaussian HMM (same numbers as
    ``hmmlearn.hmm.GaussianHMM`` on the same parameters).

    Parameters
    ----------
    n_states : int
    covariance_type : "diag" or "full"
    stream_weights : sequence of float, optional, one per stream
    n_iter, tol, min_covar, random_state : EM settings (variances floored at min_covar)

    Attributes
    ----------
    startprob_ (K,), transmat_ (K, K), means_ list of (K, d_c), covars_ list of
    (K, d_c) or (K, d_c, d_c), log_likelihoods_ (per EM iteration).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [[rng.normal(size=(20, 2)), rng.normal(size=(20, 3))] for _ in range(4)]
    >>> m = MultiStreamHMM(2, n_iter=5).fit(X)
    >>> m.predict(X[:1])[0].shape
    (20, 1)
    """

    def __init__(self, n_states: int = 3, covariance_type: str = "diag", stream_weights: Sequence[float] | None = None,
                 n_iter: int = 50, tol: float = 1e-4, min_covar: float = 1e-3, random_state: int | None = 0,
                 verbose: bool = False) -> None:
        super().__init__(n_iter, tol, min_covar, random_state, verbose)
        _core.check_covariance_type(covariance_type)
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.stream_weights = stream_weights

    def _chain_sizes(self) -> tuple[int, ...]:
        if not isinstance(self.n_states, (int, np.integer)) or isinstance(self.n_states, bool):
            raise ConfigError(f"n_states must be a positive int, got {self.n_states!r}")
        return _core.check_n_states(self.n_states)

    def _weights(self) -> np.ndarray:
        if self.stream_weights is None:
            return np.ones(len(self.dims_))
        w = np.asarray(self.stream_weights, dtype=float)
        if w.shape != (len(self.dims_),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConfigError(f"stream_weights must be {len(self.dims_)} non-negative numbers, got {self.stream_weights}")
        return w

    def _init_params(self, data: list[list[np.ndarray]], rng: np.random.Generator) -> None:
        K = self.n_states
        frames = [np.concatenate([s[c] for s in data]) for c in range(len(self.dims_))]
        self.means_, self.covars_ = init_states(frames, K, self.covariance_type, self.min_covar, rng)
        self.startprob_, self.transmat_ = init_chain(K)

    def set_params_manual(self, startprob: np.ndarray, transmat: np.ndarray, means: list[np.ndarray],
                          covars: list[np.ndarray]) -> "MultiStreamHMM":
        """Set all parameters by hand, e.g. to score with known values: startprob
        (K,), transmat (K, K), one means (K, d_c) and covars (K, d_c) / (K, d_c, d_c)
        per stream, with K = ``n_states``. Every shape and probability is checked
        (ShapeError naming the stream and the sizes); nothing is set on error."""
        params = self._checked_params(startprob, transmat, means, covars)
        self.startprob_, self.transmat_, self.means_, self.covars_ = params
        self.dims_ = [m.shape[1] for m in self.means_]
        return self

    def _checked_params(self, startprob, transmat, means, covars) -> tuple:
        (K,) = self._chain_sizes()
        means, covars = list(means), list(covars)
        if len(means) == 0 or len(means) != len(covars):
            raise ShapeError(f"need one means and one covars array per stream, got {len(means)} streams of means "
                             f"and {len(covars)} covars")
        start = _core.check_probabilities(startprob, f"startprob (n_states={K})", (K,))
        trans = _core.check_probabilities(transmat, f"transmat (n_states={K})", (K, K))
        pairs = [_core.check_gaussians(m, v, K, self.covariance_type, f"stream {self._stream_name(c)!r} "
                                       f"(n_states={K})") for c, (m, v) in enumerate(zip(means, covars))]
        return start, trans, [m for m, _ in pairs], [v for _, v in pairs]

    def _check_params(self) -> None:
        _, _, means, _ = self._checked_params(self.startprob_, self.transmat_, self.means_, self.covars_)
        _core.check_dims([m.shape[1] for m in means], self.dims_)
        self._weights()

    def _joint(self) -> tuple[np.ndarray, np.ndarray]:
        return _core._log(self.startprob_), self.transmat_

    def _log_emission(self, sample: list[np.ndarray]) -> np.ndarray:
        w = self._weights()
        return sum(w[c] * _core.gaussian_log_density(x, self.means_[c], self.covars_[c], self.covariance_type)
                   for c, x in enumerate(sample))

    def _m_step(self, stats: dict) -> None:
        self.startprob_ = _core.normalise(stats["start"])
        self.transmat_ = _core.normalise(stats["trans"])
        g = np.concatenate(stats["gamma"])
        for c in range(len(self.dims_)):
            f = np.concatenate([s[c] for s in stats["frames"]])
            self.means_[c], self.covars_[c] = _core.gaussian_m_step(f, g, self.covariance_type, self.min_covar)


def init_chain(K: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform start and a sticky transition matrix (0.5 on the diagonal)."""
    trans = np.full((K, K), 0.5 / (K - 1) if K > 1 else 1.0)
    if K > 1:
        np.fill_diagonal(trans, 0.5)
    return np.full(K, 1.0 / K), trans


def init_states(frames: list[np.ndarray], K: int, covariance_type: str, min_covar: float,
                rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """k-means on the z-scored, concatenated streams: state means from the
    clusters, every state starts with the stream's global covariance."""
    from sklearn.cluster import KMeans

    z = np.concatenate([(f - f.mean(0)) / f.std(0) for f in frames], axis=1)
    labels = KMeans(K, n_init=3, random_state=int(rng.integers(2**31 - 1))).fit_predict(z)
    resp = np.eye(K)[labels]
    means, covars = [], []
    for f in frames:
        mu, _ = _core.gaussian_m_step(f, resp, covariance_type, min_covar)
        glob = np.cov(f.T).reshape(f.shape[1], f.shape[1])
        means.append(mu)
        covars.append(np.tile(np.diag(glob), (K, 1)) if covariance_type == "diag" else np.tile(glob, (K, 1, 1)))
    return means, covars
