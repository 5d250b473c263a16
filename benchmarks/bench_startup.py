"""Start-up time and memory of the training engine: what a user waits for before training starts.

    python benchmarks/bench_startup.py [--repeats 3] [--no-train] [--cold-split] [--demo]
                                       [--config examples/configs/mfeat_intermediate.yaml]

Each number is measured in fresh processes (imports cached on disk: the first repeat warms
them, the report shows every repeat):

- ``import engine``: ``python -X importtime -c "import polymodal.training.engine"``, the
  cumulative import time of ``polymodal.training.engine`` (microseconds as printed by
  ``-X importtime``, shown in seconds) and which heavy libraries it loaded;
- ``first step``: wall seconds from launching ``python -c <polymodal train CONFIG>`` (the
  ``polymodal`` command's own ``main``; a global ``torch.optim`` step hook is installed first)
  until the first optimiser step has finished, measured with ``time.time()`` in the parent
  before the launch and in the hook; the child exits there. Also reported: the child's CPU
  seconds (user + system) by then (less sensitive than wall time to a loaded machine), the
  heavy libraries in ``sys.modules`` at that moment and the child's peak RSS. Every run draws its
  split with numpy (``polymodal.data.splits``, scikit-learn's split without scikit-learn), so a
  data/seed seen before and a new one start alike. ``--cold-split`` gives every repeat an empty
  ``POLYMODAL_CACHE`` folder: it changes nothing now, and measures a checkout from before issue 20
  (whose on-disk split cache made only a new data/seed import scikit-learn) on a new data/seed;
- ``train``: a whole ``polymodal train CONFIG`` run, wall seconds and peak RSS
  (``ru_maxrss`` of the child from ``os.wait4``, as ``/usr/bin/time -v`` reports it);
- ``demo`` (``--demo``): ``polymodal demo`` (55 trainings, 5 seeds, 2 worker processes), wall
  seconds and peak RSS (the largest process of the tree, as ``/usr/bin/time -v`` reports it).

The 1-minute load average is printed with every row: on a shared machine it explains the spread.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("lightning", "torchmetrics", "transformers", "numba", "matplotlib", "sklearn", "scipy", "pandas",
         "torch._dynamo")

_FIRST_STEP = r"""
import os, sys, time
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

def _hook(optimizer, args, kwargs):
    import resource
    loaded = [m for m in {heavy!r} if m in sys.modules]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"FIRST_STEP {{time.time():.6f}} {{usage.ru_maxrss / 1024:.1f}} {{usage.ru_utime + usage.ru_stime:.3f}} "
          f"{{','.join(loaded) or '-'}}", flush=True)
    os._exit(0)

register_optimizer_step_post_hook(_hook)
from polymodal.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _run_rusage(argv: list[str], env: dict | None = None) -> tuple[float, float, int, str]:
    """Run ``argv``: (wall seconds, peak RSS MiB of the largest process of its tree (``os.wait4``), status, output)."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        return wall, usage.ru_maxrss / 1024, proc.returncode, log.read()


def import_time(python: str) -> tuple[float, list[str]]:
    """Cumulative seconds of ``import polymodal.training.engine`` and the heavy packages it loaded."""
    proc = subprocess.run([python, "-X", "importtime", "-c", "import polymodal.training.engine"],
                          capture_output=True, text=True, check=True)
    cumulative, loaded = 0.0, set()
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if not match:
            continue
        name = match.group(4)
        if name == "polymodal.training.engine":
            cumulative = int(match.group(2)) / 1e6
        loaded |= {h for h in HEAVY if name == h}
    return cumulative, sorted(loaded)


def first_step(python: str, config: str, out_dir: str, cache: str | None = None) -> tuple[float, float, float, str]:
    """(seconds from launch to the end of the first optimiser step, peak RSS MiB then, CPU seconds then,
    heavy modules loaded); ``cache``: a ``POLYMODAL_CACHE`` folder (read only by checkouts before issue 20)."""
    code = _FIRST_STEP.format(heavy=HEAVY)
    env = dict(os.environ, OMP_NUM_THREADS="1", **({"POLYMODAL_CACHE": cache} if cache else {}))
    start = time.time()
    proc = subprocess.run([python, "-c", code, "train", config, f"output_dir={out_dir}", "--overwrite"],
                          capture_output=True, text=True, env=env)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("FIRST_STEP ")), None)
    if line is None:
        raise RuntimeError(f"no optimiser step: {proc.stderr.strip()[-2000:]}")
    _, stamp, rss, cpu, loaded = line.split(" ")
    return float(stamp) - start, float(rss), float(cpu), loaded


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "examples" / "configs" / "mfeat_intermediate.yaml"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--demo", action="store_true", help="also time `polymodal demo` (about a minute on 2 cores)")
    p.add_argument("--no-train", action="store_true", help="skip the whole training run")
    p.add_argument("--cold-split", action="store_true",
                   help="an empty POLYMODAL_CACHE for every first-step repeat (no effect since the split is drawn "
                        "with numpy; for checkouts that kept splits in that cache: a new data/seed)")
    args = p.parse_args(argv)
    python = sys.executable
    bindir = Path(python).parent
    polymodal = str(bindir / "polymodal") if (bindir / "polymodal").exists() else None
    print(f"# python {python}, {os.cpu_count()} CPUs, config {args.config}")
    for i in range(args.repeats):
        seconds, loaded = import_time(python)
        print(f"import engine   repeat {i}: {seconds:6.2f} s cumulative (-X importtime)  heavy: "
              f"{','.join(loaded) or '-'}  {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            cache = f"{tmp}/cache{i}" if args.cold_split else None
            seconds, rss, cpu, loaded = first_step(python, args.config, tmp, cache)
            print(f"first step{' (cold split)' if cache else ''} repeat {i}: {seconds:6.2f} s from launch ({cpu:5.2f} "
                  f"CPU s)  peak RSS {rss:6.0f} MiB  heavy: {loaded}  {_load()}", flush=True)
        if not args.no_train:
            argv_train = [python, "-m", "polymodal", "train", args.config, f"output_dir={tmp}", "--overwrite",
                          "trainer.progress=false"]
            wall, rss, code, log = _run_rusage(argv_train, env=dict(os.environ, OMP_NUM_THREADS="1"))
            if code:
                raise RuntimeError(log[-2000:])
            print(f"train (whole)           : {wall:6.2f} s wall  peak RSS {rss:6.0f} MiB  {_load()}", flush=True)
        if args.demo:
            cmd = [polymodal or python, *([] if polymodal else ["-m", "polymodal"]), "demo", "--out", f"{tmp}/demo"]
            wall, rss, code, log = _run_rusage(cmd)
            if code:
                raise RuntimeError(log[-2000:])
            print(f"demo                    : {wall:6.2f} s wall  peak RSS {rss:6.0f} MiB  {_load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
