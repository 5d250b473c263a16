"""Copy the figures shown in the docs from the examples' and the demo's reports into ``docs/img/``.

Each figure is re-encoded as a palette PNG at most 1000 px wide (a few tens of kB),
so the site shows them without the repository growing much.

Usage::

    python scripts/refresh_docs_figures.py          # copy from reports/ as it is
    python scripts/refresh_docs_figures.py --run    # first run every example (full) and `polymodal demo`

``--run`` takes about 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
DEST = ROOT / "docs" / "img"
MAX_WIDTH = 1000

#: report file (under reports/) -> name under docs/img/
FIGURES: dict[str, str] = {
    "examples/basic_concepts/loss_curves.png": "basic_concepts_loss_curves.png",
    "examples/neural_networks/activations.png": "neural_networks_activations.png",
    "examples/recurrent_networks/bptt_gradient_norms.png": "recurrent_networks_bptt.png",
    "examples/unimodal/autoencoders.png": "unimodal_autoencoders.png",
    "examples/multimodal_representations/cca_scatter.png": "multimodal_representations_cca.png",
    "examples/translation/captions.png": "translation_captions.png",
    "examples/alignment/dtw_cost_matrix.png": "alignment_dtw_path.png",
    "examples/fusion/missing_modality.png": "fusion_missing.png",
    "examples/colearning/colearning.png": "colearning.png",
    "examples/visual_descriptors/descriptors.png": "visual_descriptors.png",
    "examples/fragment_alignment/alignment.png": "fragment_alignment.png",
    "examples/vector_space_arithmetic/arithmetic.png": "vector_space_arithmetic.png",
    "demo/accuracy.png": "demo_accuracy.png",
    "demo/missing_views.png": "demo_missing_views.png",
    "demo/noise.png": "demo_noise.png",
}


MAX_BYTES = 100_000


def shrink(src: Path, dest: Path) -> int:
    """Write ``src`` as a palette PNG no wider than MAX_WIDTH (fewer colours if it
    would pass MAX_BYTES, e.g. noisy image grids); return its size in bytes."""
    with Image.open(src) as im:
        im = im.convert("RGB")
        if im.width > MAX_WIDTH:
            im = im.resize((MAX_WIDTH, round(im.height * MAX_WIDTH / im.width)), Image.LANCZOS)
        for colors in (128, 32, 16):
            im.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
            if dest.stat().st_size <= MAX_BYTES:
                break
    return dest.stat().st_size


def run_sources() -> None:
    for script in sorted((ROOT / "examples").glob("[0-9][0-9]_*.py")):
        print(f"running {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "polymodal.cli", "demo"], check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the examples and the demo first")
    args = parser.parse_args(argv)
    if args.run:
        run_sources()
    missing = [src for src in FIGURES if not (REPORTS / src).is_file()]
    if missing:
        raise SystemExit("error: not found under reports/ (run with --run): " + ", ".join(missing))
    DEST.mkdir(parents=True, exist_ok=True)
    for src, name in FIGURES.items():
        size = shrink(REPORTS / src, DEST / name)
        print(f"{src} -> docs/img/{name} ({size / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
