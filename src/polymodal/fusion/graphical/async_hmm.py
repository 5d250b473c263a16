"""Asynchronous HMM (Bengio, NIPS 2002): one hidden chain emitting two streams
of different lengths, aligned by EM over the joint (time, short-index, state) lattice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numba
import numpy as np
from sklearn.base import BaseEstimator

from polymodal.core.contract import TABLE_INPUT_CHECKS
from polymodal.core.fitted import check_fitted
from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion.graphical import _core

__all__ = ["AsynchronousHMM", "AsyncViterbiResult", "async_log_forward"]

_NEG = -np.inf


@numba.njit(cache=True)
def _lse2(a, b):  # pragma: no cover - compiled
    if a == _NEG:
        return b
    if b == _NEG:
        return a
    m = max(a, b)
    return m + np.log(np.exp(a - m) + np.exp(b - m))


@numba.njit(cache=True)
def _into(prev, log_A, q):  # pragma: no cover - compiled
    """log sum_i exp(prev[i] + log_A[i, q])."""
    m = _NEG
    K = prev.shape[0]
    for i in range(K):
        v = prev[i] + log_A[i, q]
        if v > m:
            m = v
    if m == _NEG:
        return _NEG
    acc = 0.0
    for i in range(K):
        acc += np.exp(prev[i] + log_A[i, q] - m)
    return m + np.log(acc)


@numba.njit(cache=True)
def _forward(log_pi, log_A, lb, lc, log_e, log_ne):  # pragma: no cover - compiled
    """la[t, s, q] = log p(x_{0..t}, y_{0..s-1}, q_t = q, s short frames emitted by t)."""
    T, K = lb.shape
    S = lc.shape[0]
    la = np.full((T, S + 1, K), _NEG)
    for q in range(K):
        la[0, 0, q] = log_pi[q] + lb[0, q] + log_ne[q]
        if S >= 1:
            la[0, 1, q] = log_pi[q] + lb[0, q] + log_e[q] + lc[0, q]
    for t in range(1, T):
        for s in range(max(0, S - (T - t)), min(t + 1, S) + 1):
            for q in range(K):
                v = log_ne[q] + _into(la[t - 1, s], log_A, q)
                if s >= 1:
                    v = _lse2(v, log_e[q] + lc[s - 1, q] + _into(la[t - 1, s - 1], log_A, q))
                la[t, s, q] = lb[t, q] + v
    return la


@numba.njit(cache=True)
def _backward(log_A, lb, lc, log_e, log_ne):  # pragma: no cover - compiled
    """lbeta[t, s, q] = log p(x_{t+1..}, y_{s..} | q_t = q, s emitted by t)."""
    T, K = lb.shape
    S = lc.shape[0]
    lbeta = np.full((T, S + 1, K), _NEG)
    for q in range(K):
        lbeta[T - 1, S, q] = 0.0
    nxt = np.empty(K)
    for t in range(T - 2, -1, -1):
        for s in range(0, S + 1):
            for j in range(K):
                v = log_ne[j] + lbeta[t + 1, s, j]
                if s < S:
                    v = _lse2(v, log_e[j] + lc[s, j] + lbeta[t + 1, s + 1, j])
                nxt[j] = lb[t + 1, j] + v
            for q in range(K):
                m = _NEG
                for j in range(K):
                    if nxt[j] + log_A[q, j] > m:
                        m = nxt[j] + log_A[q, j]
                if m == _NEG:
                    continue
                acc = 0.0
                for j in range(K):
                    acc += np.exp(nxt[j] + log_A[q, j] - m)
                lbeta[t, s, q] = m + np.log(acc)
    return lbeta


@numba.njit(cache=True)
def _posteriors(la, lbeta, log_pi, log_A, lb, lc, log_e, log_ne, ll):  # pragma: no cover - compiled
    """Expected counts: gamma_x (T, K) state posteriors of the long frames,
    gamma_y (S, K) posteriors of the state that emitted each short frame,
    occupancy (K,), emissions (K,) expected short emissions per state, xi (K, K)."""
    T, K = lb.shape
    S = lc.shape[0]
    gx = np.zeros((T, K))
    gy = np.zeros((S, K))
    occ = np.zeros(K)
    emit = np.zeros(K)
    xi = np.zeros((K, K))
    for t in range(T):
        for s in range(S + 1):
            for q in range(K):
                g = la[t, s, q] + lbeta[t, s, q] - ll
                if g == _NEG:
                    continue
                gx[t, q] += np.exp(g)
                occ[q] += np.exp(g)
                if s >= 1:  # the path emitted y_{s-1} at t in state q
                    prev = log_pi[q] if t == 0 else _into(la[t - 1, s - 1], log_A, q)
                    if t == 0 and s != 1:
                        prev = _NEG
                    ge = prev + lb[t, q] + log_e[q] + lc[s - 1, q] + lbeta[t, s, q] - ll
                    if ge != _NEG:
                        w = np.exp(ge)
                        gy[s - 1, q] += w
                        emit[q] += w
    for t in range(1, T):
        for s in range(S + 1):
            for j in range(K):
                v = log_ne[j] + lbeta[t, s, j]
                if s < S:
                    v = _lse2(v, log_e[j] + lc[s, j] + lbeta[t, s + 1, j])
                right = lb[t, j] + v - ll
                if right == _NEG:
                    continue
                for i in range(K):
                    if la[t - 1, s, i] != _NEG:
                        xi[i, j] += np.exp(la[t - 1, s, i] + log_A[i, j] + right)
    return gx, gy, occ, emit, xi


@numba.njit(cache=True)
def _viterbi(log_pi, log_A, lb, lc, log_e, log_ne):  # pragma: no cover - compiled
    T, K = lb.shape
    S = lc.shape[0]
    d = np.full((T, S + 1, K), _NEG)
    back = np.full((T, S + 1, K), -1, dtype=np.int64)  # previous state
    moved = np.zeros((T, S + 1, K), dtype=np.bool_)  # short frame emitted at t
    for q in range(K):
        d[0, 0, q] = log_pi[q] + lb[0, q] + log_ne[q]
        if S >= 1:
            d[0, 1, q] = log_pi[q] + lb[0, q] + log_e[q] + lc[0, q]
            moved[0, 1, q] = True
    for t in range(1, T):
        for s in range(max(0, S - (T - t)), min(t + 1, S) + 1):
            for q in range(K):
                best, arg, mv = _NEG, -1, False
                for i in range(K):
                    v = d[t - 1, s, i] + log_A[i, q] + log_ne[q]
                    if v > best:
                        best, arg, mv = v, i, False
                    if s >= 1:
                        v = d[t - 1, s - 1, i] + log_A[i, q] + log_e[q] + lc[s - 1, q]
                        if v > best:
                            best, arg, mv = v, i, True
                d[t, s, q] = best + lb[t, q]
                back[t, s, q] = arg
                moved[t, s, q] = mv
    q = int(np.argmax(d[T - 1, S]))
    lp = d[T - 1, S, q]
    states = np.empty(T, dtype=np.int64)
    emitted_at = np.empty(S, dtype=np.int64)
    s = S
    for t in range(T - 1, -1, -1):
        states[t] = q
        if moved[t, s, q]:
            emitted_at[s - 1] = t
            ps = s - 1
        else:
            ps = s
        q = back[t, s, q]
        s = ps
    return lp, states, emitted_at


def async_log_forward(log_startprob, transmat, log_emis_long, log_emis_short, emitprob) -> float:
    """Log-likelihood ``log p(x_{1:T}, y_{1:S})`` of the asynchronous HMM by the
    forward recursion over (t, s, q):

    .. math:: \\alpha_t(s, q) = b_q(x_t) \\Big[(1 - e_q) \\sum_i \\alpha_{t-1}(s, i) A_{iq}
              + e_q\\, c_q(y_s) \\sum_i \\alpha_{t-1}(s - 1, i) A_{iq}\\Big]

    log_emis_long (T, K) ``log b_q(x_t)``, log_emis_short (S, K) ``log c_q(y_s)``,
    emitprob (K,) ``e_q``."""
    lb = np.ascontiguousarray(log_emis_long, np.float64)
    lc = np.ascontiguousarray(log_emis_short, np.float64)
    e = np.asarray(emitprob, np.float64)
    with np.errstate(divide="ignore"):
        la = _forward(np.asarray(log_startprob, np.float64), np.log(np.asarray(transmat, np.float64)), lb, lc,
                      np.log(e), np.log1p(-e))
    last = la[-1, -1]
    m = last.max()
    return float(m + np.log(np.exp(last - m).sum())) if np.isfinite(m) else -np.inf


@dataclass
class AsyncViterbiResult:
    """Most probable joint path: ``log_prob``; ``states`` (T,) state at each
    long frame; ``emitted_at`` (S,) long frame that emitted each short frame
    (strictly increasing); ``alignment`` (S, 2) pairs (t, s)."""

    log_prob: float
    states: np.ndarray
    emitted_at: np.ndarray

    @property
    def alignment(self) -> np.ndarray:
        return np.stack([self.emitted_at, np.arange(len(self.emitted_at))], axis=1)


class AsynchronousHMM(BaseEstimator):
    """Asynchronous HMM (Bengio, "An Asynchronous Hidden Markov Model for
    Audio-Visual Speech Recognition", NIPS 2002): one hidden chain over the
    frames of the long stream ``x`` (T, d_x); at every step the state ``q_t``
    emits ``x_t`` and, with a learned state-dependent probability :math:`e_q`,
    also emits the next frame of the short stream ``y`` (S, d_y), S <= T, so
    exactly S of the T steps emit one:

    .. math:: p(x, y) = \\sum_{q, \\tau} \\pi_{q_1} \\prod_t A_{q_{t-1} q_t}\\,
              \\mathcal{N}(x_t \\mid \\mu^x_{q_t}, \\Sigma^x_{q_t})
              \\big[e_{q_t} \\mathcal{N}(y_{\\tau_t} \\mid \\mu^y_{q_t}, \\Sigma^y_{q_t})\\big]^{\\epsilon_t}
              (1 - e_{q_t})^{1 - \\epsilon_t}

    with :math:`\\epsilon_t \\in \\{0, 1\\}` the emission indicator and
    :math:`\\tau_t = \\sum_{u \\le t} \\epsilon_u`, :math:`\\tau_T = S`. EM
    (Baum-Welch) over the (t, s, q) lattice, O(T S K^2) per sequence (numba,
    log space); the M-step updates the start and transition probabilities,
    diagonal Gaussians per stream and state (the short stream's weighted by the
    posterior that state q emitted y_s), and
    :math:`e_q = \\sum \\text{E}[\\epsilon_t q_t = q] / \\sum \\text{E}[q_t = q]`.

    Parameters
    ----------
    n_states : int;  n_iter, tol : EM settings;  min_covar : variance floor
    min_emitprob : e_q is kept in [min_emitprob, 1 - min_emitprob]
    stream_names : (long, short) names used for dict samples and messages
    random_state : k-means initialisation seed

    Samples: ``[x (T, d_x), y (S, d_y)]`` or ``{long_name: x, short_name: y}``.

    Attributes
    ----------
    startprob_ (K,), transmat_ (K, K), emitprob_ (K,), means_ / covars_ lists
    [long (K, d_x), short (K, d_y)], log_likelihoods_ (per EM iteration).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [[rng.normal(size=(12, 2)), rng.normal(size=(6, 1))] for _ in range(4)]
    >>> m = AsynchronousHMM(2, n_iter=5).fit(X)
    >>> r = m.decode(X[0])
    >>> r.states.shape, r.emitted_at.shape
    ((12,), (6,))
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = _core.sequence_expected_failures(
        [*TABLE_INPUT_CHECKS, "check_fit1d"], two_streams=True)

    def __init__(self, n_states: int = 3, n_iter: int = 30, tol: float = 1e-4, min_covar: float = 1e-3,
                 min_emitprob: float = 1e-4, stream_names: Sequence[str] = ("long", "short"),
                 random_state: int | None = 0) -> None:
        self.n_states = n_states
        self.n_iter = n_iter
        self.tol = tol
        self.min_covar = min_covar
        self.min_emitprob = min_emitprob
        self.stream_names = stream_names
        self.random_state = random_state

    # -- validation ------------------------------------------------------------------
    def _validate(self, X: Any, fitting: bool = False) -> list[list[np.ndarray]]:
        names = tuple(self.stream_names)
        if len(names) != 2:
            raise ConfigError(f"stream_names must name 2 streams (long, short), got {self.stream_names!r}")
        if not fitting:
            check_fitted(self, "dims_", "fit(X)")
        data = _core.validate_samples(X, n_streams=2, dims=None if fitting else self.dims_, synchronous=False,
                                      names=names)
        for i, (x, y) in enumerate(data):
            if len(y) > len(x):
                raise ShapeError(f"sample {i}: the short stream {names[1]!r} has {len(y)} frames, more than the "
                                 f"long stream {names[0]!r} ({len(x)}); an asynchronous HMM needs S <= T "
                                 f"(swap the streams)")
        if fitting:
            dims = {(x.shape[1], y.shape[1]) for x, y in data}
            if len(dims) != 1:
                raise ShapeError(f"every sample needs the same feature sizes ({names[0]}, {names[1]}), "
                                 f"got {sorted(dims)}")
        return data

    def _check_params(self) -> None:
        if not (isinstance(self.n_states, (int, np.integer)) and self.n_states >= 1):
            raise ConfigError(f"n_states must be an int >= 1, got {self.n_states!r}")
        if not 0 < self.min_emitprob < 0.5:
            raise ConfigError(f"min_emitprob must be in (0, 0.5), got {self.min_emitprob!r}")
        if self.min_covar <= 0:
            raise ConfigError(f"min_covar must be > 0, got {self.min_covar!r}")

    # -- parameters --------------------------------------------------------------------
    def _init_params(self, data, rng) -> None:
        from sklearn.cluster import KMeans

        from polymodal.fusion.graphical.hmm import init_chain

        K = self.n_states
        fx = np.concatenate([x for x, _ in data])
        z = (fx - fx.mean(0)) / fx.std(0)
        labels = KMeans(K, n_init=3, random_state=int(rng.integers(2**31 - 1))).fit_predict(z)
        # short frames take the label of the long frame at the same relative time (uniform alignment)
        ly, fy, start = [], [], 0
        for x, y in data:
            idx = np.rint(np.linspace(0, len(x) - 1, len(y))).astype(int)
            ly.append(labels[start + idx])
            fy.append(y)
            start += len(x)
        self.means_, self.covars_ = [], []
        for f, lab in ((fx, labels), (np.concatenate(fy), np.concatenate(ly))):
            resp = np.eye(K)[lab]
            mu, _ = _core.gaussian_m_step(f, resp, "diag", self.min_covar)
            empty = resp.sum(0) == 0
            mu[empty] = f.mean(0)
            self.means_.append(mu)
            self.covars_.append(np.tile(np.maximum(f.var(0), self.min_covar), (K, 1)))
        self.startprob_, self.transmat_ = init_chain(K)
        ratio = np.mean([len(y) / len(x) for x, y in data])
        self.emitprob_ = np.full(K, np.clip(ratio, self.min_emitprob, 1 - self.min_emitprob))

    def _logs(self):
        with np.errstate(divide="ignore"):
            return (np.log(self.startprob_), np.log(self.transmat_), np.log(self.emitprob_),
                    np.log1p(-self.emitprob_))

    def _emissions(self, x, y):
        return (_core.gaussian_log_density(x, self.means_[0], self.covars_[0], "diag"),
                _core.gaussian_log_density(y, self.means_[1], self.covars_[1], "diag"))

    # -- EM ----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> "AsynchronousHMM":
        """EM; ``log_likelihoods_`` holds the total log-likelihood before each
        M-step (it never decreases)."""
        self._check_params()
        data = self._validate(X, fitting=True)
        self.dims_ = [data[0][0].shape[1], data[0][1].shape[1]]
        for c, name in enumerate(self.stream_names):
            _core.check_nonconstant(np.concatenate([s[c] for s in data]), name)
        self._init_params(data, np.random.default_rng(self.random_state))
        K = self.n_states
        self.log_likelihoods_: list[float] = []
        self.converged_ = False
        for it in range(self.n_iter):
            lpi, lA, le, lne = self._logs()
            start, trans, occ, emit = np.zeros(K), np.zeros((K, K)), np.zeros(K), np.zeros(K)
            gxs, gys, total = [], [], 0.0
            for x, y in data:
                lb, lc = self._emissions(x, y)
                la = _forward(lpi, lA, lb, lc, le, lne)
                ll = _final(la)
                if not np.isfinite(ll):
                    raise ShapeError(f"a sample has zero likelihood under the model (log-likelihood {ll})")
                lbeta = _backward(lA, lb, lc, le, lne)
                gx, gy, o, em, xi = _posteriors(la, lbeta, lpi, lA, lb, lc, le, lne, ll)
                total += ll
                start += gx[0]
                trans += xi
                occ += o
                emit += em
                gxs.append(gx)
                gys.append(gy)
            self.log_likelihoods_.append(total)
            if it > 0 and abs(total - self.log_likelihoods_[-2]) < self.tol:
                self.converged_ = True
                break
            self.startprob_ = _core.normalise(start)
            self.transmat_ = _core.normalise(trans)
            self.emitprob_ = np.clip(emit / np.maximum(occ, 1e-300), self.min_emitprob, 1 - self.min_emitprob)
            for c, g in enumerate((gxs, gys)):
                f = np.concatenate([s[c] for s in data])
                self.means_[c], self.covars_[c] = _core.gaussian_m_step(f, np.concatenate(g), "diag",
                                                                        self.min_covar)
        self.n_iter_ = len(self.log_likelihoods_)
        return self

    # -- inference ---------------------------------------------------------------------
    def score_samples(self, X: Any) -> np.ndarray:
        """Per-sample ``log p(x, y)`` summed over all state paths and alignments."""
        data = self._validate(X)
        lpi, lA, le, lne = self._logs()
        return np.array([_final(_forward(lpi, lA, *self._emissions(x, y), le, lne)) for x, y in data])

    def score(self, X: Any, y: Any = None) -> float:
        """Total log-likelihood of the samples."""
        return float(np.sum(self.score_samples(X)))

    def decode(self, sample: Any) -> AsyncViterbiResult:
        """Viterbi over the joint (state, alignment) lattice of one sample."""
        ((x, y),) = self._validate([sample])
        lpi, lA, le, lne = self._logs()
        lp, states, at = _viterbi(lpi, lA, *self._emissions(x, y), le, lne)
        return AsyncViterbiResult(float(lp), states, at)

    def predict(self, X: Any) -> list[np.ndarray]:
        """Viterbi state paths (T,) of the long stream, one per sample."""
        return [self.decode(s).states for s in self._validate(X)]


def _final(la: np.ndarray) -> float:
    last = la[-1, -1]
    m = last.max()
    return float(m + np.log(np.exp(last - m).sum())) if np.isfinite(m) else -np.inf

