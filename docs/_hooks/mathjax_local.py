"""Load MathJax from the docs when ``scripts/fetch_mathjax.py`` put it there, else from the CDN.

mkdocs.yml lists the CDN address; when ``docs/javascripts/vendor/mathjax/tex-mml-chtml.js``
exists this hook swaps it for the local copy, so the built site renders formulas offline.
"""

from __future__ import annotations

import logging
from pathlib import Path

CDN = "https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"
LOCAL = "javascripts/vendor/mathjax/tex-mml-chtml.js"
log = logging.getLogger("mkdocs.hooks.mathjax_local")


def on_config(config):
    if not (Path(config["docs_dir"]) / LOCAL).is_file():
        log.info("MathJax loads from the CDN (run scripts/fetch_mathjax.py for an offline copy)")
        return config
    scripts = config["extra_javascript"]
    for i, entry in enumerate(scripts):
        if str(entry) == CDN:
            scripts[i] = type(entry)(LOCAL)  # a str, or MkDocs' ExtraScriptValue
    return config
