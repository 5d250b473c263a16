"""Log-space HMM kernels shared by the graphical models: forward, backward,
posteriors, Viterbi, Gaussian log-densities and input validation.

All recursions work on log-probabilities; each step exponentiates after
subtracting the running maximum and multiplies by the (probability-space)
transition matrix, which is exact log-sum-exp arithmetic without underflow.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, Sequence

import numba
import numpy as np
from scipy.sparse import issparse

from polymodal.errors import ConfigError, ShapeError

#: Exact inference keeps an (S, S) joint transition matrix and (T, S) posteriors:
#: S = product of the chains' state counts must not exceed this (4096 states =
#: 128 MiB of float64 for the transition matrix).
MAX_JOINT_STATES = 4096

_LOG2PI = float(np.log(2.0 * np.pi))


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


@numba.njit(cache=True)
def _forward_kernel(log_start, trans, log_emis):  # pragma: no cover - compiled
    T, S = log_emis.shape
    la = np.empty((T, S))
    for j in range(S):
        la[0, j] = log_start[j] + log_emis[0, j]
    w = np.empty(S)
    for t in range(1, T):
        m = -np.inf
        for i in range(S):
            if la[t - 1, i] > m:
                m = la[t - 1, i]
        if m == -np.inf:
            la[t:] = -np.inf
            return la
        for i in range(S):
            w[i] = np.exp(la[t - 1, i] - m)
        for j in range(S):
            acc = 0.0
            for i in range(S):
                acc += w[i] * trans[i, j]
            la[t, j] = (np.log(acc) if acc > 0 else -np.inf) + m + log_emis[t, j]
    return la


@numba.njit(cache=True)
def _backward_kernel(trans, log_emis):  # pragma: no cover - compiled
    T, S = log_emis.shape
    lb = np.zeros((T, S))
    v = np.empty(S)
    for t in range(T - 2, -1, -1):
        m = -np.inf
        for j in range(S):
            v[j] = log_emis[t + 1, j] + lb[t + 1, j]
            if v[j] > m:
                m = v[j]
        if m == -np.inf:
            lb[t] = -np.inf
            continue
        for j in range(S):
            v[j] = np.exp(v[j] - m)
        for i in range(S):
            acc = 0.0
            for j in range(S):
                acc += trans[i, j] * v[j]
            lb[t, i] = (np.log(acc) if acc > 0 else -np.inf) + m
    return lb


@numba.njit(cache=True)
def _xi_kernel(la, lb, trans, log_emis, ll):  # pragma: no cover - compiled
    T, S = log_emis.shape
    xi = np.zeros((S, S))
    a = np.empty(S)
    v = np.empty(S)
    for t in range(1, T):
        ma = -np.inf
        mv = -np.inf
        for i in range(S):
            if la[t - 1, i] > ma:
                ma = la[t - 1, i]
            v[i] = log_emis[t, i] + lb[t, i]
            if v[i] > mv:
                mv = v[i]
        if ma == -np.inf or mv == -np.inf:
            continue
        c = np.exp(ma + mv - ll)
        for i in range(S):
            a[i] = np.exp(la[t - 1, i] - ma) * c
        for j in range(S):
            v[j] = np.exp(v[j] - mv)
        for i in range(S):
            for j in range(S):
                xi[i, j] += a[i] * trans[i, j] * v[j]
    return xi


def _final(la: np.ndarray) -> float:
    m = np.max(la[-1])
    return float(m + np.log(np.sum(np.exp(la[-1] - m)))) if np.isfinite(m) else -np.inf


def check_chain_inputs(log_start: np.ndarray | None, trans: np.ndarray, log_emis: np.ndarray
                       ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Guard in front of every kernel: ``trans`` (S, S) finite and >= 0,
    ``log_start`` (S,) and ``log_emis`` (T, S) with T >= 1, no NaN or +inf.
    The compiled loops index by these sizes, so a mismatch would read out of
    bounds; it raises ShapeError instead. Returns contiguous float64 copies."""
    trans = np.ascontiguousarray(trans, np.float64)
    log_emis = np.ascontiguousarray(log_emis, np.float64)
    if trans.ndim != 2 or trans.shape[0] != trans.shape[1]:
        raise ShapeError(f"transition matrix must be square (S, S), got shape {trans.shape}")
    S = trans.shape[0]
    if log_emis.ndim != 2 or log_emis.shape[1] != S:
        raise ShapeError(f"log_emission must be (T, S) with S = {S} states (the transition matrix is "
                         f"{trans.shape}), got shape {log_emis.shape}")
    if log_emis.shape[0] == 0:
        raise ShapeError("log_emission has 0 frames, expected T >= 1")
    if not np.all(np.isfinite(trans)) or np.any(trans < 0):
        raise ShapeError(f"transition matrix {trans.shape} must be finite and non-negative")
    if np.any(np.isnan(log_emis)) or np.any(log_emis == np.inf):
        raise ShapeError(f"log_emission {log_emis.shape} contains NaN or +inf")
    if log_start is not None:
        log_start = np.ascontiguousarray(log_start, np.float64)
        if log_start.shape != (S,):
            raise ShapeError(f"log_start must be ({S},) to match the transition matrix {trans.shape}, "
                             f"got shape {log_start.shape}")
        if np.any(np.isnan(log_start)) or np.any(log_start == np.inf):
            raise ShapeError(f"log_start {log_start.shape} contains NaN or +inf")
    return log_start, trans, log_emis


def log_forward(log_start: np.ndarray, trans: np.ndarray, log_emis: np.ndarray) -> tuple[np.ndarray, float]:
    """Forward pass: ``log alpha_t(j) = log b_t(j) + log sum_i alpha_{t-1}(i) A_ij``
    (numba; exact log-sum-exp by max-shifting). Returns (log_alpha (T, S), log-likelihood)."""
    la = _forward_kernel(*check_chain_inputs(log_start, trans, log_emis))
    return la, _final(la)


def log_backward(trans: np.ndarray, log_emis: np.ndarray) -> np.ndarray:
    """Backward pass: ``log beta_t(i) = log sum_j A_ij b_{t+1}(j) beta_{t+1}(j)``."""
    _, trans, log_emis = check_chain_inputs(None, trans, log_emis)
    return _backward_kernel(trans, log_emis)


def log_posteriors(log_start: np.ndarray, trans: np.ndarray, log_emis: np.ndarray
                   ) -> tuple[float, np.ndarray, np.ndarray]:
    """Forward-backward: (log-likelihood, gamma (T, S), xi summed over t (S, S)).

    ``gamma_t(i) = p(s_t = i | x)``, ``xi(i, j) = sum_t p(s_{t-1} = i, s_t = j | x)``."""
    log_start, trans, log_emis = check_chain_inputs(log_start, trans, log_emis)
    la, ll = log_forward(log_start, trans, log_emis)
    if not np.isfinite(ll):
        raise ShapeError(f"sequence has zero likelihood under the model (log-likelihood {ll})")
    lb = log_backward(trans, log_emis)
    gamma = np.exp(la + lb - ll)
    return ll, gamma, _xi_kernel(la, lb, trans, log_emis, ll)


def viterbi(log_start: np.ndarray, trans: np.ndarray, log_emis: np.ndarray) -> tuple[float, np.ndarray]:
    """Most probable state path: (log-probability of the path, states (T,))."""
    log_start, trans, log_emis = check_chain_inputs(log_start, trans, log_emis)
    T, S = log_emis.shape
    log_trans = _log(trans)
    delta = log_start + log_emis[0]
    back = np.zeros((T, S), dtype=np.int64)
    for t in range(1, T):
        scores = delta[:, None] + log_trans
        back[t] = np.argmax(scores, axis=0)
        delta = scores[back[t], np.arange(S)] + log_emis[t]
    path = np.empty(T, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return float(delta[path[-1]]), path


def gaussian_log_density(x: np.ndarray, means: np.ndarray, covars: np.ndarray, covariance_type: str) -> np.ndarray:
    """``log N(x_t | mu_k, Sigma_k)`` for x (T, d), means (K, d) and covars
    (K, d) ("diag") or (K, d, d) ("full"). Returns (T, K)."""
    d = x.shape[1]
    if covariance_type == "diag":
        prec = 1.0 / covars
        quad = (x**2) @ prec.T - 2.0 * x @ (means * prec).T + np.sum(means**2 * prec, axis=1)
        return -0.5 * (d * _LOG2PI + np.sum(np.log(covars), axis=1) + quad)
    out = np.empty((x.shape[0], means.shape[0]))
    for k in range(means.shape[0]):
        L = np.linalg.cholesky(covars[k])
        z = np.linalg.solve(L, (x - means[k]).T)
        out[:, k] = -0.5 * (d * _LOG2PI + 2.0 * np.sum(np.log(np.diag(L))) + np.sum(z**2, axis=0))
    return out


def check_covariance_type(covariance_type: str) -> None:
    if covariance_type not in ("diag", "full"):
        raise ConfigError(f"covariance_type must be 'diag' or 'full', got {covariance_type!r}")


def check_covars(covars: np.ndarray, covariance_type: str, name: str) -> None:
    """Raise ShapeError on zero or negative variances / non-positive-definite matrices."""
    if covariance_type == "diag":
        bad = np.argwhere(~(covars > 0))
        if bad.size:
            raise ShapeError(f"{name}: variances must be > 0, got {covars[tuple(bad[0])]} at index {tuple(bad[0])}")
    else:
        for k, c in enumerate(covars.reshape(-1, covars.shape[-1], covars.shape[-1])):
            if not np.allclose(c, c.T) or np.min(np.linalg.eigvalsh(c)) <= 0:
                raise ShapeError(f"{name}[{k}] must be symmetric positive definite, "
                                 f"got smallest eigenvalue {np.min(np.linalg.eigvalsh(c)):.3g}")


def check_probabilities(p: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``p`` as float64, checked: the expected ``shape`` (when given), finite,
    non-negative, summing to 1 along the last axis. Raises ShapeError naming ``name``."""
    try:
        p = np.asarray(p, dtype=float)
    except (TypeError, ValueError) as e:
        raise ShapeError(f"{name} must be a numeric array, got {type(p).__name__} ({e})") from None
    if shape is not None and p.shape != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}, got {p.shape}")
    if p.size == 0:
        raise ShapeError(f"{name} is empty (shape {p.shape})")
    if not np.all(np.isfinite(p)):
        raise ShapeError(f"{name} must be finite, got NaN or inf at index {tuple(np.argwhere(~np.isfinite(p))[0])}")
    if np.any(p < 0):
        raise ShapeError(f"{name} must be non-negative, got {p.min():.3g} at index {tuple(np.argwhere(p < 0)[0])}")
    sums = p.sum(axis=-1)
    if not np.allclose(sums, 1.0):
        raise ShapeError(f"{name} must be non-negative and sum to 1 along the last axis, "
                         f"got sums {np.unique(np.round(sums, 6))[:5]}")
    return p


def check_gaussians(means: Any, covars: Any, K: int, covariance_type: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian emission parameters of one stream/chain with K states: means
    (K, d), covars (K, d) ("diag") or (K, d, d) ("full"), finite, positive
    (definite). ``name`` says whose they are (e.g. "stream 0" or "chain 1").
    Returns the float64 arrays."""
    means = np.asarray(means, dtype=float)
    if means.ndim != 2 or means.shape[0] != K or means.shape[1] < 1:
        raise ShapeError(f"{name}: means must be (K, d) = ({K}, d) for its {K} states, got shape {means.shape}")
    d = means.shape[1]
    covars = np.asarray(covars, dtype=float)
    want = (K, d) if covariance_type == "diag" else (K, d, d)
    if covars.shape != want:
        raise ShapeError(f"{name}: covars must be {want} ({covariance_type} covariances of {K} states in {d} "
                         f"dimensions, as its means), got shape {covars.shape}")
    for label, a in (("means", means), ("covars", covars)):
        if not np.all(np.isfinite(a)):
            raise ShapeError(f"{name}: {label} must be finite, got NaN or inf at index "
                             f"{tuple(np.argwhere(~np.isfinite(a))[0])}")
    check_covars(covars, covariance_type, f"{name}: covars")
    return means, covars


def check_dims(dims: Sequence[int], expected: Sequence[int]) -> None:
    """The per-stream dimensions of the emission parameters must match ``dims_``."""
    if list(dims) != list(expected):
        raise ShapeError(f"emission parameters have stream dimensions {list(dims)}, but the model's dims_ are "
                         f"{list(expected)}; set them with set_params_manual")


def check_n_states(n_states: Any, n_chains: int | None = None) -> tuple[int, ...]:
    """``n_states`` (an int, or one int per chain) as a tuple of positive ints;
    an int is repeated over ``n_chains`` (default one chain)."""
    if isinstance(n_states, (int, np.integer)) and not isinstance(n_states, bool):
        sizes = (int(n_states),) * (1 if n_chains is None else n_chains)
    else:
        try:
            sizes = tuple(int(k) for k in n_states)
        except (TypeError, ValueError):
            raise ConfigError(f"n_states must be a positive int or a sequence of them, got {n_states!r}") from None
        if n_chains is not None and len(sizes) != n_chains:
            raise ConfigError(f"n_states must give one count per stream ({n_chains}), got {n_states}")
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"n_states must be positive integers, got {n_states!r}")
    return sizes


def is_table(X: Any) -> bool:
    """A 2-D table (scikit-learn's input): anything but a list of sequences, a
    3-D array, a dict, a ``MultimodalDataset`` or a ``Batch`` (a sparse matrix
    and a 1-D array count as tables, refused by ``validate_data`` with
    scikit-learn's messages). A list is a table when its rows are sequences of
    numbers. The CRF estimators and :class:`HMMClassifier` read a table as
    one-frame sequences."""
    from polymodal.data.batch import Batch
    from polymodal.data.dataset import MultimodalDataset

    if issparse(X):
        return True
    if isinstance(X, (list, tuple)):
        first = X[0] if len(X) else None
        return isinstance(first, (list, tuple)) and bool(first) and isinstance(first[0], numbers.Number)
    return getattr(X, "ndim", 2) < 3 and not isinstance(X, (Mapping, MultimodalDataset, Batch))


def as_samples(X: Any, names: Sequence[str] | None = None) -> Any:
    """A :class:`~polymodal.data.MultimodalDataset` or a :class:`~polymodal.data.Batch`
    as a list of samples, each a dict modality -> (T_i, d) array (padding cut off
    with the batch's ``lengths``); any other ``X`` is returned unchanged.
    ``names`` picks and orders the modalities (default: all). Samples with a
    missing modality are refused: these models have no missing-stream inference."""
    from polymodal.data.batch import Batch
    from polymodal.data.dataset import MultimodalDataset

    if isinstance(X, MultimodalDataset):
        inputs, present, n = X.modalities, X.present, len(X)
    elif isinstance(X, Batch):
        inputs, present = X.inputs, X.present
        n = next(iter(inputs.values())).shape[0]
    else:
        return X
    keys = list(names) if names is not None else list(inputs)
    unknown = [k for k in keys if k not in inputs]
    if unknown:
        raise ShapeError(f"modalities {unknown} are not in the data; it has {list(inputs)}")
    for k in keys:
        flags = present.get(k) if present else None
        if flags is not None and not bool(np.all(np.asarray(flags))):
            first = int(np.flatnonzero(~np.asarray(flags, dtype=bool))[0])
            raise ShapeError(f"modality {k!r} is missing for sample {first}; graphical models need every "
                             "stream of every sample (drop those samples first)")
    lengths = X.lengths if isinstance(X, Batch) else {}
    samples = []
    for i in range(n):
        sample = {}
        for k in keys:
            value = inputs[k][i]
            if k in lengths:
                value = value[: int(lengths[k][i])]
            sample[k] = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        samples.append(sample)
    return samples


def validate_samples(X: Any, n_streams: int | None = None, dims: Sequence[int] | None = None,
                     synchronous: bool = True, names: Sequence[str] | None = None) -> list[list[np.ndarray]]:
    """Turn ``X`` (a list of samples; each sample a (T, d) array, a sequence of
    per-stream (T, d_c) arrays, or a dict stream name -> array) into a list of
    lists of float64 2-D arrays, with clear errors for bad input. A
    ``MultimodalDataset`` or ``Batch`` is read through :func:`as_samples`."""
    X = as_samples(X, names)
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = [X]
    if X is None or len(X) == 0:
        raise ShapeError("X must hold at least one sample, got 0 samples")
    out = []
    for i, sample in enumerate(X):
        if isinstance(sample, dict):
            keys = list(names) if names is not None else list(sample)
            missing = [k for k in keys if k not in sample]
            if missing:
                raise ShapeError(f"sample {i}: missing stream(s) {missing}, expected {keys}")
            streams = [sample[k] for k in keys]
        elif isinstance(sample, np.ndarray) or (hasattr(sample, "shape") and len(getattr(sample, "shape")) == 2):
            streams = [sample]
        else:
            streams = list(sample)
        streams = [_float_frames(s, i, names[c] if names is not None and c < len(names) else c)
                   for c, s in enumerate(streams)]
        if n_streams is not None and len(streams) != n_streams:
            raise ShapeError(f"sample {i}: expected {n_streams} streams, got {len(streams)}")
        for c, s in enumerate(streams):
            label = names[c] if names is not None and c < len(names) else c
            if s.ndim == 1:
                raise ShapeError(f"sample {i}, stream {label!r}: expected a (T, d) array, got shape {s.shape}")
            if s.ndim != 2:
                raise ShapeError(f"sample {i}, stream {label!r}: expected a (T, d) array, got shape {s.shape}")
            if s.shape[0] == 0:
                raise ShapeError(f"sample {i}, stream {label!r}: empty sequence (0 frames), expected T >= 1")
            if dims is not None and s.shape[1] != dims[c]:
                raise ShapeError(f"sample {i}, stream {label!r}: expected {dims[c]} features, got {s.shape[1]}")
            if not np.all(np.isfinite(s)):
                raise ShapeError(f"sample {i}, stream {label!r}: contains NaN or inf")
        if synchronous and len({s.shape[0] for s in streams}) > 1:
            lens = {(names[c] if names is not None else c): s.shape[0] for c, s in enumerate(streams)}
            raise ShapeError(f"sample {i}: a state-synchronous model needs streams of equal length, "
                             f"got lengths {lens}")
        out.append(streams)
    return out


def _float_frames(s: Any, i: int, label: Any) -> np.ndarray:
    """One stream of sample ``i`` as float64, or a ShapeError naming it (strings, objects, ragged rows)."""
    if np.iscomplexobj(s):
        raise ShapeError(f"sample {i}, stream {label!r}: complex data is not supported, got complex values")
    try:
        return np.asarray(s, dtype=np.float64)
    except ValueError as error:  # a TypeError (e.g. a dict in an object array) stays one, as scikit-learn's
        raise ShapeError(f"sample {i}, stream {label!r}: expected a numeric (T, d) array ({error})") from None


def check_nonconstant(frames: np.ndarray, stream: Any) -> None:
    """Zero-variance features give a degenerate Gaussian: refuse them."""
    var = frames.var(axis=0) if frames.shape[0] > 1 else np.zeros(frames.shape[1])
    bad = np.flatnonzero(var <= 1e-12 * (1.0 + np.abs(frames).max()))
    if bad.size:
        raise ShapeError(f"stream {stream!r}: feature(s) {bad.tolist()} have zero variance over the training "
                         f"frames (variance {var[bad[0]]:.3g}); a Gaussian emission needs variance > 0 - drop "
                         f"or jitter constant features")


def gaussian_m_step(frames: np.ndarray, weights: np.ndarray, covariance_type: str, min_covar: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ML means/covariances: frames (N, d), weights (N, K) posteriors.
    Variances are floored at ``min_covar`` (a floor only, so EM stays exact
    whenever it is not active)."""
    w = weights.sum(axis=0) + 1e-300
    means = (weights.T @ frames) / w[:, None]
    if covariance_type == "diag":
        covars = (weights.T @ frames**2) / w[:, None] - means**2
        return means, np.maximum(covars, min_covar)
    d = frames.shape[1]
    covars = np.empty((means.shape[0], d, d))
    for k in range(means.shape[0]):
        diff = frames - means[k]
        c = (weights[:, k, None] * diff).T @ diff / w[k]
        c = 0.5 * (c + c.T)
        ev, V = np.linalg.eigh(c)
        covars[k] = (V * np.maximum(ev, min_covar)) @ V.T
    return means, covars


def normalise(counts: np.ndarray, axis: int = -1) -> np.ndarray:
    s = counts.sum(axis=axis, keepdims=True)
    n = counts.shape[axis]
    return np.where(s > 0, counts / np.where(s > 0, s, 1.0), 1.0 / n)


_SEQ = "sequence input: X is a list of (T, d) sequences and a 2-D X is one sequence"
_SEQ_REASONS = {
    "check_do_not_raise_errors_in_init_or_set_params": "options are validated in __init__ (tested: a typo fails at construction)",
    "check_n_features_in_after_fitting": "sequence input: per-stream feature counts are dims_, not one n_features_in_",
    "check_n_features_in": "sequence input: per-stream feature counts are dims_, not one n_features_in_",
    "check_methods_sample_order_invariance": "sequence input: the rows of a 2-D X are the frames of one sequence, so order matters",
    "check_methods_subset_invariance": "sequence input: the rows of a 2-D X are the frames of one sequence, so subsets differ",
}
_TWO_STREAMS = "two-stream input: each sample is a (long, short) pair of sequences; a 2-D X is one stream"


def sequence_expected_failures(checks: list[str], two_streams: bool = False) -> dict[str, str]:
    """scikit-learn checks a sequence model cannot pass, each with its one-line reason
    (bad-input checks: refused with polymodal's ShapeError messages on sequences)."""
    default = _TWO_STREAMS if two_streams else _SEQ + "; bad input gets polymodal's ShapeError message"
    return {c: (_SEQ_REASONS.get(c, default) if not two_streams or c.startswith("check_do_not") else default)
            for c in checks}


# what the HMMs (one list of sequences in) cannot pass: shared by the exact-inference
# models (_base.ExactHMMBase) and FactorialHMM
SEQUENCE_HMM_EXPECTED_FAILURES: dict[str, str] = sequence_expected_failures([
    "check_n_features_in_after_fitting",
    "check_complex_data",
    "check_estimators_empty_data_messages",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_n_features_in",
    "check_fit1d",
    "check_fit2d_predict1d",
    "check_do_not_raise_errors_in_init_or_set_params",
])
