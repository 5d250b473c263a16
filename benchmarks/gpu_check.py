"""A short GPU check: MOSEI-scale sequence models, soft-DTW and CCA on CUDA.

    python benchmarks/gpu_check.py                    # CUDA; about 2-4 minutes, <= 5
    python benchmarks/gpu_check.py --device cpu --quick   # the same code, tiny, on CPU

Needs only ``pip install -e .`` (torch, numpy, numba come with polymodal).
Without a CUDA device and with the default ``--device cuda`` it prints one SKIP
line and exits 0. Rows, each caught and reported on failure (never fatal):

* ``mosei ...``: :func:`bench_mosei_scale.run_row` in this process: EF-LSTM,
  MV-LSTM, MFN and MulT trained briefly on :class:`polymodal.data.MoseiSynthetic`
  (text 300-d, audio 74-d, vision 35-d) aligned at 50 and 500 steps, and MulT
  on the unaligned 50 / 500 / 500 variant; training samples/s, test accuracy.
* ``soft-DTW``: :class:`polymodal.alignment.SoftDTW` (soft_dtw_loss's
  function) forward + backward on the device, i.e. the torch anti-diagonal
  wavefront kernel (run directly on CPU), checked against the compiled CPU
  kernel on the same cost matrices (float64; max abs difference of values and
  of gradients).
* ``CCA``: :func:`polymodal.representation.dcca_loss.cca_correlation` (the
  torch CCA, sum of canonical correlations) on the device, checked against the
  closed-form numpy :class:`polymodal.representation.CCA`.

Every row reports wall seconds and ``torch.cuda.max_memory_allocated`` (reset
per row) in one table; the device name heads it.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import bench_mosei_scale as mosei  # noqa: E402

FULL = {
    # (model, text steps, aligned, training samples per epoch, epochs)
    "mosei": [("EF-LSTM", 50, True, 4096, 2), ("MV-LSTM", 50, True, 4096, 2), ("MFN", 50, True, 4096, 2),
              ("MulT", 50, True, 4096, 2), ("EF-LSTM", 500, True, 1024, 1), ("MV-LSTM", 500, True, 1024, 1),
              ("MFN", 500, True, 1024, 1), ("MulT", 500, True, 1024, 1), ("MulT", 50, False, 1024, 1)],
    "test_samples": 512, "batch_size": 32, "dims": None,
    "soft_dtw": (64, 256, 256, 16), "cca": (200_000, 64, 48),
}
QUICK = {
    "mosei": [("EF-LSTM", 8, True, 32, 1), ("MV-LSTM", 8, True, 32, 1), ("MFN", 8, True, 32, 1),
              ("MulT", 8, True, 32, 1), ("MulT", 2, False, 32, 1)],
    "test_samples": 32, "batch_size": 16, "dims": {"text": 30, "audio": 12, "vision": 6},
    "soft_dtw": (4, 20, 24, 3), "cca": (500, 6, 5),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f}" if device.type == "cuda" else "-"


def check_mosei(device, model, length, aligned, samples, epochs, settings) -> tuple[str, str, str]:
    r = mosei.run_row(model, length, aligned, epochs=epochs, train_samples=samples,
                      test_samples=settings["test_samples"], batch_size=settings["batch_size"],
                      device=str(device), threads=torch.get_num_threads(), dims=settings["dims"])
    setting = (f"{'/'.join(map(str, r['steps']))} steps, {samples} samples x {epochs} epoch(s), "
               f"batch {settings['batch_size']}")
    return setting, f"{r['samples_per_s']:.0f} samples/s", f"test acc {r['accuracy']:.3f}"


def check_soft_dtw(device, batch, n, m, d) -> tuple[str, str, str]:
    from polymodal.alignment import SoftDTW
    from polymodal.alignment.dtw.soft_torch import _sq_dists, soft_dtw_torch_wavefront

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, n, d, generator=g, dtype=torch.float64), torch.randn(batch, m, d, generator=g,
                                                                                   dtype=torch.float64)
    C_cpu = _sq_dists(x, y).requires_grad_(True)
    ref = SoftDTW.apply(C_cpu, 1.0)
    ref.sum().backward()
    C = _sq_dists(x.to(device), y.to(device)).detach().requires_grad_(True)
    _reset(device)
    start = time.perf_counter()
    if device.type == "cpu":  # SoftDTW would run the CPU kernel itself: run the GPU path's code instead
        values, grad = soft_dtw_torch_wavefront(C.detach(), 1.0)
    else:
        values = SoftDTW.apply(C, 1.0)
        values.sum().backward()
        grad = C.grad
    _sync(device)
    seconds = time.perf_counter() - start
    dv = float((values.detach().cpu() - ref.detach()).abs().max())
    dg = float((grad.cpu() - C_cpu.grad).abs().max())
    ok = dv < 1e-8 * max(1.0, float(ref.detach().abs().max())) and dg < 1e-8
    return (f"B={batch}, {n}x{m}, d={d}, float64, fwd+bwd", f"{batch * n * m / seconds / 1e6:.1f} Mcells/s",
            f"{'OK' if ok else 'MISMATCH'} vs CPU: |dvalue| {dv:.1e}, |dgrad| {dg:.1e}")


def check_cca(device, n, p, q) -> tuple[str, str, str]:
    from polymodal.representation import CCA
    from polymodal.representation.dcca_loss import cca_correlation

    rng = np.random.default_rng(0)
    r = min(8, p // 2, q // 2)  # shared latent dimensions
    z = rng.normal(size=(n, r))
    X = np.hstack([z, rng.normal(size=(n, p - r))]) @ rng.normal(size=(p, p))
    Y = np.hstack([z + 0.5 * rng.normal(size=(n, r)), rng.normal(size=(n, q - r))]) @ rng.normal(size=(q, q))
    k = min(p, q)
    expected = float(CCA(n_components=k).fit(X, Y).canonical_correlations_.sum())
    Xd, Yd = torch.as_tensor(X, device=device), torch.as_tensor(Y, device=device)
    _reset(device)
    start = time.perf_counter()
    got = float(cca_correlation(Xd, Yd, reg=0.0, eps=1e-30))
    _sync(device)
    seconds = time.perf_counter() - start
    ok = abs(got - expected) < 1e-6 * k
    return (f"n={n}, p={p}, q={q}, float64, {k} components", f"{n / seconds / 1e6:.2f} M samples/s",
            f"{'OK' if ok else 'MISMATCH'}: sum corr {got:.6f} vs numpy CCA {expected:.6f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds): a smoke run, e.g. on CPU")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"SKIP gpu_check: no CUDA device (torch {torch.__version__}, built for CUDA "
              f"{torch.version.cuda or 'none'}); run `python benchmarks/gpu_check.py --device cpu --quick` "
              "for the CPU smoke run")
        return 0
    settings = QUICK if args.quick else FULL
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        total = torch.cuda.get_device_properties(device).total_memory / 2**30
        print(f"device: {name} ({total:.0f} GiB), torch {torch.__version__}, CUDA {torch.version.cuda}")
    else:
        print(f"device: cpu, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    checks = []
    for row in settings["mosei"]:
        name = f"mosei {row[0]} {'aligned' if row[2] else 'unaligned'}"
        checks.append((name, lambda row=row: check_mosei(device, *row, settings)))
    checks += [("soft-DTW", lambda: check_soft_dtw(device, *settings["soft_dtw"])),
               ("CCA", lambda: check_cca(device, *settings["cca"]))]
    mosei._warm_imports()  # keep import time out of the first row
    import polymodal.alignment  # noqa: F401
    import polymodal.representation  # noqa: F401

    rows, failures, begin = [], 0, time.perf_counter()
    for name, run in checks:
        _reset(device)
        start = time.perf_counter()
        try:
            setting, rate, outcome = run()
            status = "FAIL" if "MISMATCH" in outcome else "ok"
        except Exception as error:  # noqa: BLE001  (reported in the table)
            traceback.print_exc(file=sys.stderr)
            setting, rate, outcome, status = "-", "-", f"{type(error).__name__}: {str(error)[:160]}", "FAIL"
        failures += status != "ok"
        rows.append((name, setting, f"{time.perf_counter() - start:.1f}", rate, _peak(device), outcome, status))
        print(f"  {name}: {status} ({time.perf_counter() - begin:.0f} s)", file=sys.stderr, flush=True)
    head = ("check", "setting", "wall s", "throughput", "CUDA peak MiB", "result", "status")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"{len(rows) - failures}/{len(rows)} ok, total {time.perf_counter() - begin:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
