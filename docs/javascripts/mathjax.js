// MathJax settings for pymdownx.arithmatex (generic mode). MathJax itself loads
// from docs/javascripts/vendor/mathjax (put there by scripts/fetch_mathjax.py, which
// `make docs` runs) so formulas render offline, or from the CDN without that copy.
window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
document$.subscribe(() => { if (window.MathJax && MathJax.typesetPromise) { MathJax.typesetPromise(); } });
