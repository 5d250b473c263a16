// MathJax settings for pymdownx.arithmatex (generic mode); MathJax itself is
// loaded from a CDN by mkdocs.yml, so formulas render when the reader is online
// and stay readable LaTeX otherwise.
window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
document$.subscribe(() => { if (window.MathJax && MathJax.typesetPromise) { MathJax.typesetPromise(); } });
