"""Adversarial sentences for the PTB caption tokenizer, and the Stanford jar's tokens for them.

The corpus generator (:func:`adversarial_corpus`) mixes caption words with the
constructs where a re-implementation of CoreNLP 3.4.1's ``PTBTokenizer`` is
most likely to differ from the jar: fractions (``1 1/2``, ``3/4``, ``½``),
numbers with spaces, commas and decimals, phone numbers, abbreviations
(``e.g.``, ``etc.``, ``U.S.``, ``Mr.``), URLs, e-mail addresses, unicode
punctuation and quotes, dashes, ellipses, apostrophes and contractions,
brackets, mixed case, non-ASCII letters, U+00A0 and other unicode spaces,
tabs, and punctuation glued to words (``red?e.g.``, ``etc.i'm``). URLs and
e-mail addresses are kept apart from their neighbours by ASCII spaces: the
jar's URL, e-mail and domain rules take other unicode spaces and glued text
into the address in ways our tokenizer does not reproduce. Characters
the jar treats as line breaks (``\\r``, ``\\v``, ``\\f``, U+2028, U+2029) are
left out: pycocoevalcap splits the jar's output on ``\\n`` only, so they shift
every later caption onto the wrong image there.

:func:`run_ptb_jar` tokenises sentences exactly as pycocoevalcap 1.2's
``PTBTokenizer.tokenize`` does (one newline-joined text, newlines inside a
caption replaced by spaces, ``java -cp stanford-corenlp-3.4.1.jar
edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase <file>``, then
``" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS)``), but
on a temporary file of its own instead of one written into pycocoevalcap's
package folder. It needs Java 8+ and the jar that ships with pycocoevalcap.

Run ``python scripts/make_ptb_adversarial_fixture.py`` (a few seconds) to write
``tests/fixtures/captioning/ptb_adversarial.json``: 400 sentences of the
corpus (seed 2026) and the jar's tokens for them, so that the tests check our
tokenizer against the jar even where Java is not installed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "captioning" / "ptb_adversarial.json"

#: pycocoevalcap 1.2 ``ptbtokenizer.PUNCTUATIONS`` (compared with the lower-cased output, as there).
PUNCTUATIONS = ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                ".", "?", "!", ",", ":", "-", "--", "...", ";"]

WORDS = ("a an the man woman dog cat person people group of two three some sitting standing on in at with next "
         "to near holding riding bike street table plate food pizza red blue green white black large small young "
         "old boy girl kitchen train bus car sign field grass ball kite horse bird umbrella phone room bed tv "
         "window clock tower city inch nail cup mile pound slice").split()
CASED = ["A", "The", "Two", "MAN", "Dog", "iPhone", "McDonald", "NASA", "TV", "Bob", "St", "Co", "Inc", "USA"]
NON_ASCII = ["café", "naïve", "résumé", "Zürich", "São", "niño", "straße", "Øre", "façade", "Ελλάδα", "москва",
             "Dvořák", "İstanbul", "ΟΔΟΣ", "ﬁne", "東京", "Ærø", "coöperate"]
FRACTIONS = ["1 1/2", "3/4", "2 3/4", "1/2", "10/20", "1\u00a01/2", "2\u00a01/4", "½", "¼", "¾", "1½", "3 ½",
             "1⁄2", "12 1/3", "1/2/2010", "12/25/99", "1-1/2", "1234 1/2", "12345 1/2", "1 12345/2"]
NUMBERS = ["1,000", "10,000,000", "3.5", "3,5", "0.25", ".5", "5.", "1.000,50", "1 000", "1 000 000", "10 , 5",
           "2.5.1", "100%", "$5", "$1.50", "5$", "£3", "€20", "20€", "5¢", "-5", "+5", "-3.2", "1e5", "4:30",
           "10:30pm", "2nd", "3rd", "1st", "90s", "'90s", "1990s", "#1", "No. 5", "no.5", "1 - 2", "1-2",
           "555 123 4567", "(555) 123-4567", "555-123-4567", "555.123.4567", "555\u00a0123\u00a04567",
           "(555)\u00a0123-4567", "1 800 555 1234", "12 345", "123 456", "1 23", "3 x 4", "3x4"]
ABBREVIATIONS = ["e.g.", "i.e.", "etc.", "U.S.", "u.s.", "U.S.A.", "Mr.", "Mrs.", "Dr.", "Ms.", "St.", "Jr.",
                 "Inc.", "Co.", "Ltd.", "Corp.", "vs.", "a.m.", "p.m.", "No.", "Jan.", "Sept.", "Calif.", "Mt.",
                 "Ave.", "Prof.", "Gen.", "cf.", "al.", "ft.", "lbs.", "approx.", "Ph.D.", "D.C.", "A.", "x.",
                 "E.U.", "a.k.a.", "Fig.", "sq."]
URLS = ["http://example.com", "https://www.example.org/path?q=1&x=2", "www.coco.org", "cocodataset.org",
        "http://x.com/a_b.html", "ftp.example.net", "example.edu/a", "https://t.co/AbC", "http://a.b/c)",
        "www.example.com.", "google.com,", "bit.ly/xyz"]
EMAILS = ["me@example.com", "first.last@mail.co.uk", "a_b@x.org", "bob@localhost", "x@y.z", "name+tag@ex.com",
          "@user", "@", "a@b", "user@example.com."]
QUOTES = ["\"", "'", "`", "``", "''", "\u201c", "\u201d", "\u2018", "\u2019", "\u201e", "\u201a", "\u00ab",
          "\u00bb", "\u2039", "\u203a", "\u2032", "\u2033", "\u201b", "\u201f", "&quot;"]
DASHES = ["-", "--", "---", "----", "-----", "\u2013", "\u2014", "\u2015", "\u2012", "\u2010", "\u2011", "\u2212",
          "\u00ad", " - ", " -- ", "\u2e3a"]
ELLIPSES = ["...", "..", "....", ".....", "......", ". . .", ".. .", "\u2026", "\u2026\u2026", "!?", "?!", "??",
            "!!!", "?..", "!..", "\u0085"]
CONTRACTIONS = ["can't", "won't", "don't", "I'm", "i'm", "you're", "it's", "they'll", "we've", "he'd", "ain't",
                "cannot", "gonna", "gotta", "wanna", "lemme", "gimme", "y'all", "o'clock", "O'Neil", "rock'n'roll",
                "'tis", "'em", "ma'am", "dog's", "dogs'", "it\u2019s", "don\u2019t", "can\u2019t", "James'",
                "'s", "n't", "'re", "'ll", "'d", "'m", "'ve", "'", "d'Arc", "l'eau", "c'mon", "e'er",
                "shouldn't've", "Y'know", "li'l", "'80s", "80's", "'cause", "'til", "DON'T", "CAN'T", "I'M"]
BRACKETS = ["(", ")", "[", "]", "{", "}", "<", ">", "(a)", "[b]", "{c}", "<d>", "(--)", "()", "( )",
            "-LRB-", "-rrb-", "<br>", "</p>", "<a href>", ":)", ":-(", ";)", ":D", ":P", "xD", "^_^", "<3"]
SYMBOLS = ["&", "&amp;", "AT&T", "R&B", "b&w", "+", "=", "*", "**", "~", "^", "|", "\\", "/", "and/or", "w/",
           "#", "#tag", "_", "__init__", "%", "\u2030", "\u00b0", "\u00d7", "\u2022", "\u00a7", "\u00b6", "\u00a9",
           "\u2122", "\u2605", "\u263a", "\u00bf", "\u00a1", ";", ":", ",", ".", "!", "?"]
SPACES = [" ", " ", " ", " ", " ", "  ", "\t", "\u00a0", "\u2002", "\u2003", "\u2009", "\u202f", "\u3000",
          "\u200b", "\u2007", "\u205f", "\u1680", " \t ", "\u00a0 "]
GLUED = ["red?e.g.", "etc.i'm", "dog.The", "cat,dog", "a.b", "ok.ok", "U.S.is", "Mr.Smith", "e.g.,", "i.e.:",
         "etc.)", "(etc.)", "\"etc.\"", "no.1", "No.1", "wow!!the", "why?no", "end.\"", "said,\"hi\"", "3.5.",
         "1/2.", "1,000.", "ft.a", "co.a", "man.a", "Inc.,", "St.Louis", "a.m.The", "x...y", "well-known",
         "self-made", "e-mail", "3-year-old", "t-shirt", "anti-war", "pro-choice", "X-Men", "co-op", "mid-1990s"]
CATEGORIES = [FRACTIONS, NUMBERS, ABBREVIATIONS, URLS, EMAILS, QUOTES, DASHES, ELLIPSES, CONTRACTIONS, BRACKETS,
              SYMBOLS, GLUED, NON_ASCII, CASED]


_ADDRESSES = {w.lower() for w in URLS + EMAILS}


def _piece(rng: random.Random) -> str:
    u = rng.random()
    if u < 0.45:
        return rng.choice(WORDS)
    return rng.choice(rng.choice(CATEGORIES))


def adversarial_sentence(rng: random.Random) -> str:
    """One sentence: caption words and adversarial pieces, joined by (unicode) spaces or glued."""
    parts = []
    for _ in range(rng.randint(1, 12)):
        p = _piece(rng)
        r = rng.random()
        if r < 0.05:
            p = p.upper()
        elif r < 0.1:
            p = p.capitalize()
        parts.append(p)
    out = parts[0]
    for prev, p in zip(parts, parts[1:]):
        r = rng.random()
        if prev.lower() in _ADDRESSES or p.lower() in _ADDRESSES:
            sep = " "  # see the module docstring: no odd spaces or glue next to addresses
        else:
            sep = "" if r < 0.15 else rng.choice(SPACES) if r < 0.35 else " "
        out += sep + p
    r = rng.random()
    out += rng.choice([".", " .", "!", "?", "...", "", "", "", " etc.", ")", "\u201d", "'"]) if r < 0.5 else ""
    if rng.random() < 0.5 and out[:1].isalpha():
        out = out[0].upper() + out[1:]
    if rng.random() < 0.05:
        out = rng.choice([" ", "\t"] if parts[0].lower() in _ADDRESSES else [" ", "\t", "\u00a0"]) + out
    return out


def adversarial_corpus(n: int = 3000, seed: int = 2026) -> list[str]:
    """``n`` adversarial caption-like sentences (no line-break characters), deterministic in ``seed``."""
    rng = random.Random(seed)
    out = [adversarial_sentence(rng) for _ in range(n)]
    out[:4] = ["a 1 1/2 inch nail", "a 1\u00a01/2 inch nail", "red?e.g. etc.i'm", "call 555 123 4567 today"]
    return out


def jar_path() -> Path | None:
    """The Stanford CoreNLP 3.4.1 jar shipped with pycocoevalcap, or None."""
    try:
        import pycocoevalcap.tokenizer.ptbtokenizer as tok
    except ImportError:
        return None
    p = Path(tok.__file__).parent / "stanford-corenlp-3.4.1.jar"
    return p if p.exists() else None


def java_available() -> bool:
    return shutil.which("java") is not None and jar_path() is not None


def run_ptb_jar(sentences: list[str], raw: bool = False) -> list[str]:
    """pycocoevalcap 1.2's tokenisation of ``sentences`` (one JVM call); ``raw``: before punctuation removal."""
    text = "\n".join(s.replace("\n", " ") for s in sentences)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "captions.txt"
        path.write_bytes(text.encode())
        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        out = subprocess.run(
            ["java", "-cp", str(jar_path()), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines",
             "-lowerCase", str(path)],
            capture_output=True, check=True, env=env,
        ).stdout.decode()
    lines = out.split("\n")
    if len(lines) < len(sentences):
        raise RuntimeError(f"the jar returned {len(lines)} lines for {len(sentences)} sentences")
    if raw:
        return [line.rstrip() for line in lines[: len(sentences)]]
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS) for line in lines[: len(sentences)]]


def main() -> None:
    if not java_available():
        raise SystemExit("needs `java` on PATH and pycocoevalcap (for its stanford-corenlp-3.4.1.jar)")
    corpus = adversarial_corpus(3000, seed=2026)
    rng = random.Random(7)
    picked = corpus[:4] + rng.sample(corpus[4:], 396)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "source": "scripts/make_ptb_adversarial_fixture.py: pycocoevalcap 1.2 PTBTokenizer command line "
                  "(Stanford CoreNLP 3.4.1 jar, -preserveLines -lowerCase) + its punctuation removal, "
                  "all sentences as one text",
        "sentences": picked, "tokenized": run_ptb_jar(picked)}, ensure_ascii=False, indent=0))
    print("wrote", OUT, len(picked), "sentences")


if __name__ == "__main__":
    main()
