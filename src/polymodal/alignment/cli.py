"""``polymodal align X.npy Y.npy [Z.npy ...] --method dtw|ctw|gctw``: align
sequences stored as ``.npy`` arrays from the command line.

Input errors (missing file, not an array, wrong shape, NaN, mismatched
features for DTW) are printed as one line ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from polymodal._cli import HelpFormatter, check_output_file, run_command, write_output
from polymodal.alignment._validation import as_sequence
from polymodal.errors import ShapeError

__all__ = ["add_parser", "run", "align_cli", "load_sequence"]

# the formats matplotlib's Agg canvas writes
_PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp", "pgf", "raw", "rgba")


def load_sequence(path: str) -> np.ndarray:
    """Read a (T,) or (T, d) finite numeric sequence from a ``.npy`` file
    (``np.load(allow_pickle=False)``: no code runs from the file); returns a
    float64 (T, d) array.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(f, np.arange(3.0))
    >>> load_sequence(f).shape
    (3, 1)
    """
    p = Path(path)
    if not p.is_file():
        raise ShapeError(f"{path}: no such file")
    try:  # memory-mapped first: a header promising more bytes than the file holds is refused, not allocated
        arr = np.load(p, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise ShapeError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise ShapeError(f"{path}: expected a single .npy array, got an .npz archive")
    arr = np.array(arr)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ShapeError(f"{path}: expected a real numeric array, got dtype {arr.dtype}")
    return as_sequence(arr, path)  # shape, non-empty and finite checks


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``polymodal align``'s arguments."""
    p = subparsers.add_parser(
        "align", help="align two (or more) sequences: DTW, CTW, GCTW, with a plot", formatter_class=HelpFormatter,
        description="Align sequences saved as .npy arrays (T,) or (T, d): DTW (same d), "
                    "canonical time warping (CTW, d may differ) or generalized CTW (2+ sequences).",
    )
    p.add_argument("files", nargs="+", help="X.npy Y.npy (gctw: two or more files)")
    p.add_argument("--method", choices=("dtw", "ctw", "gctw"), default="dtw", help="the alignment method")
    p.add_argument("--warping", choices=("gauss_newton", "dtw_to_mean"), default="gauss_newton",
                   help="gctw: monotone basis warps by Gauss-Newton (the published GCTW) or DTW to the latent mean")
    p.add_argument("--window", type=int, default=None, metavar="R",
                   help="Sakoe-Chiba radius (dtw, ctw): |i - j| <= R plus the length difference")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="save a picture of the alignment")
    p.add_argument("--json", default=None, metavar="OUT.json", help="save the result (path included) as JSON")
    return p


def _plot_pair(x, y, path, title, out):
    from polymodal.alignment.dtw import local_cost_matrix
    from polymodal.alignment.plots import plot_cost_matrix

    fig = plot_cost_matrix(local_cost_matrix(x, y), path, title=title)
    fig.savefig(out, dpi=100)


def _plot_warps(warps, names, out):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for w, name in zip(warps, names):
        ax.plot(np.arange(len(w)), w, label=name)
    ax.set_xlabel("latent time step")
    ax.set_ylabel("frame of the sequence")
    ax.set_title("GCTW warps to the common latent time")
    ax.legend(loc="upper left")
    fig.savefig(out, dpi=100)


def _align(args) -> tuple[dict, list[str]]:
    seqs = [load_sequence(f) for f in args.files]
    if args.method in ("dtw", "ctw") and len(seqs) != 2:
        raise ShapeError(f"--method {args.method} aligns exactly 2 files, got {len(seqs)} (use --method gctw)")
    if args.window is not None and args.window < 0:
        raise ShapeError(f"--window must be >= 0, got {args.window}")
    window = None if args.window is None else ("sakoe_chiba", args.window)
    lines = [f"{f}: T={len(s)}, d={s.shape[1]}" for f, s in zip(args.files, seqs)]
    res: dict = {"method": args.method, "files": list(args.files), "lengths": [len(s) for s in seqs]}
    if args.method == "dtw":
        from polymodal.alignment.dtw import dtw

        x, y = seqs
        r = dtw(x, y, window=window, return_path=True)
        res.update(distance=r.distance, cost=r.cost, path=r.path.tolist())
        lines.append(f"DTW distance {r.distance:.6g} (cost {r.cost:.6g}), path length {len(r.path)}")
        if args.plot:
            _plot_pair(x, y, r.path, "DTW cost matrix and path", args.plot)
    elif args.method == "ctw":
        from polymodal.alignment.ctw import CTW

        x, y = seqs
        m = CTW(window=window).fit(x, y)
        px, py = m.transform(x, y)
        best = float(min(m.objective_history_[1:] or m.objective_history_))
        res.update(cost=best, n_components=m.n_components_, n_iter=m.n_iter_,
                   objective_history=[float(v) for v in m.objective_history_], path=m.path_.tolist())
        lines.append(f"CTW objective {best:.6g} ({m.n_components_} canonical components, "
                     f"{m.n_iter_} iterations), path length {len(m.path_)}")
        if args.plot:
            _plot_pair(px, py, m.path_, "CTW: cost in the canonical space and path", args.plot)
    else:
        if args.window is not None:
            raise ShapeError("--window applies to dtw and ctw only, got --window with --method gctw")
        from polymodal.alignment.gctw import GCTW

        g = GCTW(warping=args.warping).fit(seqs)
        paths = {f"0-{i}": g.pairwise_path(0, i).tolist() for i in range(1, len(seqs))}
        # gauss_newton: the last entry is J of the returned warps (earlier ones are on smoothed levels)
        obj = float(g.objective_history_[-1] if args.warping == "gauss_newton" else min(g.objective_history_))
        res.update(warping=args.warping, cost=obj, n_components=g.n_components_, n_iter=g.n_iter_,
                   latent_length=len(g.warps_[0]),
                   warps=[w.tolist() for w in g.warps_], paths=paths)
        lines.append(f"GCTW ({args.warping}) objective {obj:.6g} ({g.n_components_} components, "
                     f"{g.n_iter_} iterations), "
                     f"latent length {len(g.warps_[0])}")
        lines += [f"path {args.files[0]} -> {f}: length {len(v)}" for f, v in zip(args.files[1:], paths.values())]
        if args.plot:
            _plot_warps(g.warps_, args.files, args.plot)
    return res, lines


def align_cli(argv: list[str]) -> int:
    """``polymodal align ARGV`` from Python; returns the exit status (0, or 2 on
    bad input with one line ``error: ...`` on stderr)."""
    return run_command(add_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    """Run ``polymodal align``; print the distance/objective, the path length
    and where the plot and JSON went. Nothing is printed until the alignment
    is computed and the plot and JSON are written."""
    if args.plot is not None:
        check_output_file(args.plot, "--plot", _PLOT_FORMATS)
    if args.json is not None:
        check_output_file(args.json, "--json")
    res, lines = _align(args)
    if args.json:
        write_output(args.json, json.dumps(res))
    print("\n".join(lines))
    if args.plot:
        print(f"plot: {Path(args.plot).resolve()}")
    if args.json:
        print(f"json: {Path(args.json).resolve()}")
    return 0
