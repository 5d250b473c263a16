"""Alignment benchmark on real sensor data with a known ground-truth warp.

The synthetic protocol of the CTW papers (Zhou & De la Torre, NIPS 2009 and
TPAMI 2016; Trigeorgis et al., CVPR 2016) applied to real recordings: one
modality is resampled by a random monotone time warp, mapped by a random
linear transform and padded with noise dimensions; every method then aligns it
with the untouched reference modality and is scored by
:func:`polymodal.alignment.alignment_error` (mean absolute frame distance from
the true path).  Data: BasicMotions (smart-watch accelerometer + gyroscope,
read from the ``.ts`` files in aeon's wheel or a folder) and Daphnet
S06R02E0 (three synchronised accelerometers, ankle / thigh / trunk, aeon's
CSV) for the three-sequence case.
"""

from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polymodal.errors import ConfigError, DatasetError, ShapeError

__all__ = [
    "read_ts",
    "load_basic_motions",
    "load_daphnet",
    "random_time_warp",
    "true_path_from_warp",
    "AlignmentProblem",
    "make_problem",
    "METHODS",
    "align_problem",
    "run_alignment_benchmark",
    "summary_table",
    "plot_errors",
    "plot_example",
]

_BM = "aeon/datasets/data/BasicMotions/BasicMotions_{}.ts"
_DAPHNET = "aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv"


# -- data ----------------------------------------------------------------------------
def read_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse an equal-length ``.ts`` file (sktime/aeon format): ``#`` comments,
    ``@`` header lines, then after ``@data`` one case per line, its dimensions
    separated by ``:`` (each a comma-separated series) and the class label last.
    Returns ``X`` (n_cases, n_channels, length) float64 and the labels (n_cases,).

    >>> X, y = read_ts("@dimensions 2\\n@classLabel true a b\\n@data\\n1,2:3,4:a\\n5,6:7,8:b\\n")
    >>> X.shape, y.tolist()
    ((2, 2, 2), ['a', 'b'])
    """
    rows, labels, in_data = [], [], False
    for k, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            in_data = True
            continue
        if line.startswith("@") or not in_data:
            continue
        *dims, label = line.split(":")
        try:
            rows.append([[float("nan") if v == "?" else float(v) for v in d.split(",")] for d in dims])
        except ValueError as e:
            raise DatasetError(f".ts line {k}: expected comma-separated numbers, got {e}") from None
        labels.append(label.strip())
    if not rows:
        raise DatasetError("the .ts text has no cases after @data")
    shapes = {(len(r), len(r[0])) for r in rows} | {(len(r), len(d)) for r in rows for d in r}
    if len({s[0] for s in shapes}) != 1 or len({s[1] for s in shapes}) != 1:
        raise DatasetError(f"expected equal-length cases with the same number of dimensions, got {sorted(shapes)}")
    return np.asarray(rows, dtype=np.float64), np.asarray(labels)


def _source(source: str | os.PathLike | None, env: str) -> Path:
    for c in (source, os.environ.get(env)):
        if c:
            if not Path(c).exists():
                raise DatasetError(f"{env if c != source else 'source'}={str(c)!r}: no such file or folder")
            return Path(c)
    raise DatasetError(f"no data source: pass a folder or the aeon wheel (pip download --no-deps aeon==1.6.0), "
                       f"or set {env}")


def load_basic_motions(
    source: str | os.PathLike | None = None, splits: tuple[str, ...] = ("TRAIN", "TEST")
) -> tuple[np.ndarray, np.ndarray]:
    """BasicMotions (40 TRAIN + 40 TEST cases, 6 channels: accelerometer x/y/z
    then gyroscope x/y/z, length 100 at 10 Hz) from a folder holding
    ``BasicMotions_{TRAIN,TEST}.ts`` or from aeon's wheel; ``source`` defaults to
    the environment variable ``POLYMODAL_BASICMOTIONS``. Returns ``X`` (n, 6, 100)
    and labels of the ``splits`` asked for, concatenated in that order."""
    path = _source(source, "POLYMODAL_BASICMOTIONS")
    texts = []
    for split in splits:
        if path.is_file():
            try:
                with zipfile.ZipFile(path) as wheel:
                    texts.append(wheel.read(_BM.format(split)).decode())
            except (zipfile.BadZipFile, KeyError) as e:
                raise DatasetError(f"{path}: not an aeon wheel with {_BM.format(split)} ({e})") from None
        else:
            f = path / f"BasicMotions_{split}.ts"
            if not f.is_file():
                raise DatasetError(f"{path}: expected BasicMotions_{split}.ts in the folder")
            texts.append(f.read_text())
    parts = [read_ts(t) for t in texts]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_daphnet(source: str | os.PathLike | None = None) -> tuple[np.ndarray, list[str]]:
    """Daphnet freezing-of-gait recording S06R02E0 as shipped in aeon (64 Hz;
    columns ankle, thigh ("leg") and trunk accelerometers, 3 axes each, in mg)
    from the CSV file, a folder holding ``S06R02E0.csv`` or the aeon wheel;
    ``source`` defaults to ``POLYMODAL_DAPHNET``. Returns (T, 9) and the names."""
    path = _source(source, "POLYMODAL_DAPHNET")
    if path.is_dir():
        path = path / "S06R02E0.csv"
        if not path.is_file():
            raise DatasetError(f"{path.parent}: expected S06R02E0.csv in the folder")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            try:
                text = wheel.read(_DAPHNET).decode()
            except KeyError:
                raise DatasetError(f"{path}: the wheel has no {_DAPHNET}") from None
    else:
        text = path.read_text()
    lines = text.strip().splitlines()
    header = lines[0].split(",")
    cols = [i for i, h in enumerate(header) if h.split("_")[0] in ("ankle", "leg", "trunk")]
    if len(cols) != 9:
        raise DatasetError(f"{path}: expected 9 ankle/leg/trunk columns, got header {header}")
    data = np.array([[float(r.split(",")[i]) for i in cols] for r in lines[1:]])
    return data, [header[i] for i in cols]


# -- warps and problems ----------------------------------------------------------------
def random_time_warp(m: int, n: int, rng: np.random.Generator, strength: float = 0.7,
                     n_terms: int = 3) -> np.ndarray:
    """A random monotone time warp: the (fractional) frame of a length-``n``
    sequence shown at each of ``m`` output frames,
    ``t_j = (n - 1) w(j / (m - 1))`` with
    ``w(s) = s + sum_k a_k sin(k pi s) / (k pi)``, ``sum_k |a_k| = strength < 1``,
    so ``w(0) = 0``, ``w(1) = 1`` and the speed ``w'`` stays in
    ``[1 - strength, 1 + strength]``.

    >>> t = random_time_warp(5, 9, np.random.default_rng(0))
    >>> float(t[0]), float(t[-1]), bool((np.diff(t) > 0).all())
    (0.0, 8.0, True)
    """
    if not 0 <= strength < 1:
        raise ConfigError(f"strength must be in [0, 1), got {strength!r}")
    if m < 2 or n < 2:
        raise ShapeError(f"warp lengths must be >= 2, got m={m}, n={n}")
    a = rng.uniform(-1, 1, n_terms)
    a *= strength / max(np.abs(a).sum(), 1e-12)
    s = np.linspace(0.0, 1.0, m)
    k = np.arange(1, n_terms + 1)[:, None]
    w = s + (a[:, None] * np.sin(k * np.pi * s) / (k * np.pi)).sum(0)
    w[0], w[-1] = 0.0, 1.0
    return w * (n - 1)


def true_path_from_warp(times: np.ndarray, n: int) -> np.ndarray:
    """Ground-truth path (n, 2) between a reference of length ``n`` and the
    sequence sampled at ``times`` (increasing): frame ``i`` of the reference is
    paired with the nearest (rounded) fractional output frame showing time ``i``."""
    j = np.interp(np.arange(n), times, np.arange(len(times)))
    return np.stack([np.arange(n), np.rint(j)], axis=1).astype(np.int64)


@dataclass
class AlignmentProblem:
    """Sequences to align: ``sequences[0]`` is the reference (unwarped);
    ``true_paths[i - 1]`` is the true path (n0, 2) from it to ``sequences[i]``."""

    sequences: list[np.ndarray]
    true_paths: list[np.ndarray]
    name: str = ""


def _zscore(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(0)) / np.maximum(a.std(0), 1e-8)


def make_problem(reference: np.ndarray, others: list[np.ndarray], rng: np.random.Generator, *,
                 noise_dims: int = 2, noise: float = 1.0, strength: float = 0.7,
                 length_ratio: tuple[float, float] = (0.8, 1.25), name: str = "") -> AlignmentProblem:
    """Build a problem from synchronised recordings (T, d_i): the reference is
    z-scored and padded with ``noise_dims`` Gaussian noise dimensions (std
    ``noise``); every other recording is z-scored, resampled by linear
    interpolation at a :func:`random_time_warp` of random length
    ``T * U(length_ratio)``, padded with noise dimensions and multiplied by a
    random Gaussian matrix (d_i + noise_dims, d_i + noise_dims)."""
    ref = _zscore(np.asarray(reference, dtype=np.float64))
    n = len(ref)
    seqs = [np.hstack([ref, noise * rng.normal(size=(n, noise_dims))])]
    paths = []
    for o in others:
        o = _zscore(np.asarray(o, dtype=np.float64))
        if len(o) != n:
            raise ShapeError(f"recordings must be synchronised (length {n}), got length {len(o)}")
        m = int(round(n * rng.uniform(*length_ratio)))
        t = random_time_warp(m, n, rng, strength)
        warped = np.stack([np.interp(t, np.arange(n), c) for c in o.T], axis=1)
        z = np.hstack([warped, noise * rng.normal(size=(m, noise_dims))])
        A = rng.normal(size=(z.shape[1], z.shape[1])) / np.sqrt(z.shape[1])
        seqs.append(z @ A)
        paths.append(true_path_from_warp(t, n))
    return AlignmentProblem(seqs, paths, name)


# -- methods --------------------------------------------------------------------------
def _dtw_raw(x, y, seed):
    from polymodal.alignment import dtw

    return dtw(x, y, return_path=True).path


def _pca_dtw(x, y, seed, k: int = 3):
    """DTW between each sequence's own k leading principal components (unit
    variance); PCA signs are arbitrary, so the sign pattern of y's components
    with the lowest DTW cost is used (2^k DTWs)."""
    import itertools

    from polymodal.alignment import dtw
    from polymodal.alignment.ctw import _pcs

    px, py = _pcs(x, k), _pcs(y, k)
    runs = [dtw(px, py * np.array(s), return_path=True) for s in itertools.product((1.0, -1.0), repeat=px.shape[1])]
    return min(runs, key=lambda r: r.cost).path


def _ctw(x, y, seed):
    from polymodal.alignment import CTW

    return CTW().fit(x, y).path_


def _deep_ctw(x, y, seed):
    from polymodal.alignment import DeepCTW

    return DeepCTW(random_state=seed).fit([x, y]).path_


def _tslearn_ctw(x, y, seed):
    from tslearn.metrics import ctw_path

    return np.asarray(ctw_path(x, y)[0])


# name -> (pairwise function(x, y, seed) -> path) ; GCTW aligns all sequences jointly
# (None: the value of ``GCTW(warping=...)`` in _GCTW_WARPING)
_GCTW_WARPING = {"GCTW": "gauss_newton", "GCTW (DTW to mean)": "dtw_to_mean"}

METHODS = {
    "DTW (raw features)": _dtw_raw,
    "PCA + DTW": _pca_dtw,
    "CTW": _ctw,
    "GCTW": None,
    "GCTW (DTW to mean)": None,
    "DeepCTW": _deep_ctw,
    "tslearn ctw_path (peer)": _tslearn_ctw,
}


def align_problem(problem: AlignmentProblem, methods=None, seed: int = 0) -> dict[str, dict]:
    """Run each method on a problem: ``{method: {"error": mean alignment error
    over the pairs (reference, i), "seconds": wall time, "paths": [...]}}``."""
    from polymodal.alignment import GCTW, alignment_error

    out = {}
    x0 = problem.sequences[0]
    for name in methods or list(METHODS):
        if name not in METHODS:
            raise ConfigError(f"unknown method {name!r}; known: {list(METHODS)}")
        t = time.perf_counter()
        if METHODS[name] is None:
            g = GCTW(warping=_GCTW_WARPING[name]).fit(problem.sequences)
            paths = [g.pairwise_path(0, i) for i in range(1, len(problem.sequences))]
        else:
            paths = [METHODS[name](x0, y, seed) for y in problem.sequences[1:]]
        seconds = time.perf_counter() - t
        errs = [alignment_error(p, q, len(x0)) for p, q in zip(paths, problem.true_paths)]
        out[name] = {"error": float(np.mean(errs)), "seconds": seconds, "paths": paths}
    return out


# -- the benchmark ----------------------------------------------------------------------
@dataclass
class BenchmarkRecords:
    """One row per (setting, seed, problem, method) and one example problem."""

    rows: list[dict] = field(default_factory=list)
    example: tuple | None = None  # (problem, results) of the first acc->gyro problem


def _settings(bm, daphnet, per_seed, rng):
    X, labels = bm
    active = np.flatnonzero(labels != "Standing")  # standing is nearly constant: no structure to align
    picks = rng.choice(active, size=min(per_seed, len(active)), replace=False)
    for c in picks:
        rec = X[c].T  # (T, 6)
        yield "BasicMotions acc -> gyro", (rec[:, :3], [rec[:, 3:]]), f"case {c} ({labels[c]})"
    for c in picks:
        rec = X[c].T
        yield "BasicMotions acc -> acc", (rec[:, :3], [rec[:, :3]]), f"case {c} ({labels[c]})"
    if daphnet is not None:
        data, win, step = daphnet[0], 384, 4
        starts = [int(rng.integers(0, len(data) - win)) for _ in range(max(1, per_seed // 2))]
        segs = [data[s:s + win].reshape(win // step, step, 9).mean(1) for s in starts]  # 16 Hz, 96 frames
        for s, seg in zip(starts, segs):
            yield ("Daphnet ankle/thigh/trunk (3 seq.)", (seg[:, :3], [seg[:, 3:6], seg[:, 6:]]),
                   f"samples {s}..{s + win}")
        for s, seg in zip(starts, segs):
            yield ("Daphnet ankle x3 (3 seq.)", (seg[:, :3], [seg[:, :3], seg[:, :3]]), f"samples {s}..{s + win}")


def run_alignment_benchmark(basic_motions, daphnet=None, *, seeds=(0, 1, 2, 3, 4), per_seed: int = 6,
                            methods=None, noise_dims: int = 2, strength: float = 0.7, log=print) -> BenchmarkRecords:
    """Run every method on every setting: ``basic_motions`` is
    :func:`load_basic_motions`'s (X, labels), ``daphnet`` :func:`load_daphnet`'s
    output or None (then the three-sequence setting is skipped)."""
    rec = BenchmarkRecords()
    warm = np.sin(np.linspace(0, 6, 30))[:, None] * [1.0, 0.5, -1.0]  # compile numba kernels before timing
    align_problem(make_problem(warm, [warm, warm], np.random.default_rng(0)), methods, 0)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for setting, (ref, others), where in _settings(basic_motions, daphnet, per_seed, rng):
            prob = make_problem(ref, others, rng, noise_dims=noise_dims, strength=strength,
                                name=f"{setting}, {where}")
            res = align_problem(prob, methods, seed)
            if rec.example is None and "gyro" in setting:
                rec.example = (prob, res)
            for name, r in res.items():
                rec.rows.append({"setting": setting, "seed": seed, "problem": where, "method": name,
                                 "error": r["error"], "seconds": r["seconds"]})
        if log:
            log(f"seed {seed} done ({len(rec.rows)} rows)")
    return rec


def _aggregate(rows):
    """{setting: {method: (mean over seeds, std over seeds, seconds/problem, n)}}."""
    out: dict = {}
    for setting in dict.fromkeys(r["setting"] for r in rows):
        out[setting] = {}
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["setting"] == setting and r["method"] == method]
            if not sel:
                continue
            seeds = sorted({r["seed"] for r in sel})
            per_seed = [np.mean([r["error"] for r in sel if r["seed"] == s]) for s in seeds]
            out[setting][method] = (float(np.mean(per_seed)), float(np.std(per_seed)),
                                    float(np.mean([r["seconds"] for r in sel])), len(sel))
    return out


def summary_table(rows) -> str:
    """Markdown table: alignment error in frames (mean +- std over seeds of the
    per-seed mean), ratio to raw-feature DTW, milliseconds per problem."""
    lines = []
    for setting, methods in _aggregate(rows).items():
        base = methods.get("DTW (raw features)", (np.nan,))[0]
        lines += [f"\n### {setting}\n", "| method | alignment error (frames) | / DTW raw | ms per problem | problems |",
                  "|---|---|---|---|---|"]
        for m, (mu, sd, sec, n) in methods.items():
            lines.append(f"| {m} | {mu:.2f} +- {sd:.2f} | {mu / base:.2f} | {1e3 * sec:.1f} | {n} |")
    return "\n".join(lines).lstrip("\n")


def plot_errors(rows):
    """Grouped bars (one group per setting) of the mean error with the std over seeds."""
    from matplotlib.figure import Figure

    agg = _aggregate(rows)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    for k, m in enumerate(methods):
        vals = [agg[s].get(m, (np.nan, 0))[:2] for s in agg]
        ax.bar(np.arange(len(agg)) + k * width, [v[0] for v in vals], width, yerr=[v[1] for v in vals],
               capsize=3, label=m)
    ax.set_xticks(np.arange(len(agg)) + 0.4 - width / 2, [a.replace(" (", "\n(") for a in agg], fontsize=8)
    ax.set_ylabel("alignment error (frames)")
    ax.set_yscale("log")
    ax.set_title("alignment error vs the true warp (mean +- std over seeds)")
    ax.legend(fontsize=7)
    return fig


def plot_example(problem: AlignmentProblem, results: dict, methods=("DTW (raw features)", "CTW")):
    """Cost matrix of the first pair (raw features) with the true path (white)
    and the paths found by ``methods``."""
    from polymodal.alignment import local_cost_matrix, plot_cost_matrix

    x, y = problem.sequences[0], problem.sequences[1]
    fig = plot_cost_matrix(local_cost_matrix(x, y), problem.true_paths[0],
                           title=f"{problem.name}\ntrue path (white) vs found")
    ax = fig.axes[0]
    ax.lines[0].set_label("true")
    for m, color in zip(methods, ("red", "orange", "cyan")):
        if m in results:
            p = results[m]["paths"][0]
            ax.plot(p[:, 1], p[:, 0], color=color, linewidth=1, linestyle="--",
                    label=f"{m} (error {results[m]['error']:.2f})")
    ax.legend(fontsize=7, loc="lower right")
    return fig
