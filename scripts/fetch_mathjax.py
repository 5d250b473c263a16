"""Fetch MathJax 3 from the npm registry into the docs, so formulas render offline.

The docs load MathJax from ``docs/javascripts/vendor/mathjax/`` when this script
has put it there (``make docs`` runs it), and from a CDN otherwise
(``docs/_hooks/mathjax_local.py`` chooses). ``npm pack`` checks the tarball's
integrity against the registry; only the ES5 bundle and its web fonts (about
1.5 MB) are kept, and the folder is git-ignored.

Usage: ``python scripts/fetch_mathjax.py [--version 3.2.2]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "docs" / "javascripts" / "vendor" / "mathjax"
KEEP = ("package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/")


def fetch(version: str, dest: Path = DEST) -> Path:
    """Download ``mathjax@version`` with ``npm pack`` and unpack the kept files into ``dest``."""
    if shutil.which("npm") is None:
        raise SystemExit("error: npm is not installed; MathJax will load from the CDN instead")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"mathjax@{version}", "--pack-destination", tmp, "--silent"],
                       check=True, stdout=subprocess.DEVNULL)
        (tarball,) = Path(tmp).glob("mathjax-*.tgz")
        staged = Path(tmp) / "mathjax"
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(KEEP)]
            for m in members:
                target = staged / Path(m.name).relative_to("package/es5")
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as out:  # no links, no absolute paths
                    shutil.copyfileobj(src, out)
        if not (staged / "tex-mml-chtml.js").is_file():
            raise SystemExit(f"error: mathjax@{version} has no es5/tex-mml-chtml.js")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="3.2.2", help="MathJax version on npm (default: 3.2.2)")
    args = parser.parse_args(argv)
    if (DEST / "tex-mml-chtml.js").is_file():
        print(f"MathJax already in {DEST.relative_to(ROOT)}")
        return 0
    path = fetch(args.version)
    print(f"MathJax {args.version} -> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
