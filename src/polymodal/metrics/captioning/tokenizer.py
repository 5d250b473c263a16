"""PTB-style caption tokenisation equivalent to pycocoevalcap's ``PTBTokenizer``.

pycocoevalcap 1.2 pipes every caption, one per line, through Stanford CoreNLP
3.4.1's ``edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase`` (a
JFlex lexer, run in a fresh JVM per call) and then drops the tokens of a fixed
punctuation list. This module re-implements that lexer's rules for the text that
captions contain (words, hyphenated words, contractions and possessives, numbers,
quotes, brackets, dashes, ellipses, abbreviations and acronyms, emoticons,
hashtags) as a longest-match lexer in pure Python, cached per whitespace-separated
chunk so a corpus of 30,000 captions tokenises in well under a second.

Checked against the jar (``tests/fixtures/captioning/ptb_tokenizer.json``, made by
``scripts/make_caption_fixture.py``, 2,046 sentences; ``ptb_adversarial.json``, made
by ``scripts/make_ptb_adversarial_fixture.py``, 400 sentences) and, where Java is
installed, on the whole 3,000-sentence adversarial corpus of that script (fractions,
phone numbers, numbers with spaces, abbreviations, URLs, e-mail addresses, unicode
quotes, dashes, spaces and letters, soft hyphens, glued punctuation) in one jar call:
identical output on every sentence (0 of 3,000 differ for seeds 1, 2, 3, 14 and
2026; 0-3 of 3,000 for other seeds). Not emulated: unicode spaces or text glued to
URLs, e-mail addresses and domain names (the jar's address rules take them into the
address), characters outside the punctuation and symbol blocks that the jar deletes
as untokenizable (letters newer than its Unicode tables), line-break characters
other than LF (pycocoevalcap mis-assigns the captions after them), and a few
glued forms such as ``1U.S.A.`` and ``3D.C.``.

Tokens may hold U+00A0 (``1 1/2`` -> ``1`` U+00A0 ``1/2`` as one token, phone numbers, SGML tags), as
in the jar's output; pycocoevalcap's BLEU and CIDEr split them again with
``str.split()`` and its ROUGE-L does not (``split(" ")``), and so does
:func:`~polymodal.metrics.captioning.score_captions`.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from polymodal.errors import DatasetError

__all__ = ["PTB_PUNCTUATION", "ptb_tokenize", "ptb_tokenize_raw"]

#: Tokens pycocoevalcap removes after tokenisation (compared after lower-casing
#: the tokenizer output, so ``-lrb-`` and friends survive, as in pycocoevalcap).
PTB_PUNCTUATION = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
     ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

_NOT_LD = r"\u00B2\u00B3\u00B9\u00BC-\u00BE\u2150-\u218F\u2070-\u209F\u2460-\u24FF"  # numeric, not digits
_L = rf"[^\W\d_{_NOT_LD}]"  # a letter
_LD = rf"[^\W_{_NOT_LD}]"    # a letter or digit
_APOS = r"(?:['\u0092\u2019]|&apos;)"
_APOSX = r"(?:['\u0092\u2019\u0091\u2018\u201B]|&apos;)"
_SPACE = r"[ \t\u00A0\u2000-\u200A\u3000]"
_NL = r"(?:\r\n|[\r\n\u2028\u2029\u000B\u000C\u0085])"
_SPACENL = rf"(?:{_SPACE}|{_NL})"
_WORD = rf"\u00AD*{_L}(?:{_L}|\u00AD)*"
_REDAUX = rf"{_APOS}(?:[msdMSD]|[rR][eE]|[vV][eE]|[lL][lL])"
_SREDAUX = rf"[nN]{_APOSX}[tT]"
_NUM = r"(?:\d*(?:[.:,\u00AD\u066B\u066C]\d+)+|\d+)"
_ACRO = r"(?:[A-Za-z](?:\.[A-Za-z])+)"
_HYPH = r"[-_\u058A\u2010\u2011]"
_THINGPART = rf"(?:[dDoOlL]{_APOSX}{_LD})?{_LD}(?:{_LD}|\u00AD)*"  # soft hyphens inside are dropped
_ABMONTH = r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"
_ABDAYS = r"Mon|Tues?|Wed|Thu(?:rs)?|Fri"
_ABSTATE = (r"Ala|Ariz|[A]rk|Calif|Colo|Conn|Dak|Del|Fla|Ga|[I]ll|Ind|Kans?|Ky|La|[M]ass|Md|Mich|"
            r"Minn|[M]iss|Mo|Mont|Neb|Nev|Okla|[O]re|Pa|Penn|Tenn|Tex|Va|Vt|[W]ash|Wisc?|Wyo")
_ABCOMP = r"Inc|Cos?|Corp|Pp?tys?|Ltd|Plc|Bancorp|Dept|Bhd|Assn|Univ|Intl|Sys"
_ABNUM = r"Prop|Ph|tel|est|ext|sq"
_ABPTIT = r"Jr|Sr|Bros|(?:Ed|Ph)\.D|Blvd|Rd|Esq"
_ABTITLE = (r"Mr|Mrs|Ms|[M]iss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|ft|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|"
            r"Cpl|Pvt|Mt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det")
_ABCOMP2 = r"Invt|Elec|Natl|M[ft]g"
_FOLLOWERS = ("About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|It|"
              "Last|Many|More|Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|Then|"
              "There|These|They|This|We|When|While|What|Yet|You")


def _ci(alternation: str) -> str:
    """Make the literal words of an alternation caseless, keep ``[X]`` classes case-sensitive
    (JFlex ``%caseless`` semantics: literals ignore case, character classes do not)."""
    out = []
    i = 0
    while i < len(alternation):
        ch = alternation[i]
        if ch == "[":
            j = alternation.index("]", i)
            out.append(alternation[i:j + 1])
            i = j + 1
        elif ch == "\\":
            out.append(alternation[i:i + 2])
            i += 2
        elif ch.isalpha():
            out.append(f"[{ch.lower()}{ch.upper()}]")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# JFlex %caseless: the first letter is a case-sensitive class ([T]he), the rest literal (caseless)
_FOLLOW_RE = "|".join(w[0] + _ci(w[1:]) for w in _FOLLOWERS.split("|"))
_ABBREV1 = _ci(f"(?:{_ABPTIT}|{_ABMONTH}|{_ABDAYS}|{_ABSTATE}|{_ABCOMP}|{_ABNUM}|etc|al|seq)") + r"\."
_ABBREV2 = _ci(f"(?:{_ABTITLE}|vs|Alex|Wm|Jos|Cie|a\\.k\\.a|cf|TREAS|{_ABCOMP2})") + r"\."
# an abbreviation followed by one letter ("etc.b", "co.a") is not a dotted word
_ABBREV_WORDS = _ABBREV1[:-2]
_APOWORD = "|".join([
    rf"{_APOS}[nN]{_APOS}?", rf"[lLdDjJ]{_APOS}", _ci("Dunkin") + _APOS, _ci("somethin") + _APOS,
    _ci("ol") + _APOS, _APOS + _ci("em"), rf"[A-HJ-XZn]{_APOSX}{_L}{{2}}{_L}*", rf"{_APOS}[2-9]0[sS]",
    _APOS + _ci("till?"), rf"{_L}{_L}*[aeiouyAEIOUY]{_APOSX}[aeiouA-Z]{_L}*", _APOS + _ci("cause"),
    _ci("cont") + r"'" + _ci("d") + r"\.?", "'" + _ci("twas"), _ci("nor") + "'" + _ci("easter"),
    _ci("c") + "'" + _ci("mon"), _ci("e") + "'" + _ci("er"), _ci("s") + "'" + _ci("mores"),
    _ci("ev") + "'" + _ci("ry"), _ci("li") + "'" + _ci("l"), _ci("nat") + "'" + _ci("l"),
])

_LEFT_QUOTES = str.maketrans({"\u0091": "`", "\u2018": "`", "\u201B": "`", "\u2039": "`",
                              "\u0092": "'", "\u2019": "'", "\u203A": "'"})


def _quote(text: str, left: bool) -> str:
    """LaTeX-style quote normalisation of the PTB tokenizer (default options)."""
    if left:
        text = text.replace("&apos;", "`").replace("'", "`").replace('"', "``").replace("&quot;", "``")
    else:
        text = text.replace("&apos;", "'").replace('"', "''").replace("&quot;", "''")
    text = text.translate(_LEFT_QUOTES)
    for ch in "\u0093\u201C\u00AB":
        text = text.replace(ch, "``")
    for ch in "\u0094\u201D\u00BB":
        text = text.replace(ch, "''")
    return text


def _brackets(text: str) -> str:
    return text.replace("(", "-LRB-").replace(")", "-RRB-")


# Each rule: (main regex, trailing-context regex or None, action).
# An action maps the matched main text to (tokens to emit, characters consumed).
_Action = Callable[[str], "tuple[list[str], int]"]


def _keep(m: str) -> "tuple[list[str], int]":
    return [m], len(m)


def _emit(value: str) -> _Action:
    return lambda m: ([value], len(m))


def _first(k: int) -> _Action:
    return lambda m: ([m[:k]], k)


def _repeat_dot(m: str) -> "tuple[list[str], int]":
    # the abbreviation is emitted whole, then its final period is lexed again
    return [m], len(m) - 1


_RULES_SRC: "list[tuple[str, str | None, _Action]]" = [
    (r"[cC][aA][nN][nN][oO][tT]", None, _first(3)),
    (r"[gG][oO][nN][nN][aA]|[gG][oO][tT][tT][aA]|[wW][aA][nN][nN][aA]|[lL][eE][mM][mM][eE]|[gG][iI][mM][mM][eE]",
     None, _first(3)),
    (r"<\/?[A-Za-z!][^>\"'\r\n]*(?:(?:\"[^\"\r\n]*\"|'[^'\r\n]*')[^>\"'\r\n]*)*>", None,
     lambda m: ([re.sub(r"[ \t]", "\u00A0", m)], len(m))),
    (r"&(?:[mM][dD]|[mM][dD][aA][sS][hH]|[nN][dD][aA][sS][hH]);|[\u0096\u0097\u2013\u2014\u2015]", None,
     _emit("--")),
    (r"&[aA][mM][pP];", None, _emit("&")),
    (r"&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);", None, _keep),
    (_WORD, _REDAUX, _keep),
    (r"[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*", _SREDAUX, _keep),
    (_WORD, None, _keep),
    (_APOWORD, None, _keep),
    (rf"{_APOS}[tT]", r"[iI][sS]", lambda m: ([_quote(m, False)], len(m))),
    (rf"[yY]{_APOS}", _L, _keep),
    (r"[hH][tT][tT][pP][sS]?:\/\/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-]", None, _keep),
    # bare domains: "www." caseless; otherwise labels without ASCII capitals (a JFlex class, not caseless)
    (r"(?:(?:[wW][wW][wW]\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})|(?:(?![0-9])"
     r"(?:[^ \t\n\f\r\"`'<>|.!?(){},\-_$@:/=;\[\]A-Z]+\.)+(?:[cC][oO][mM]|[nN][eE][tT]|[oO][rR][gG]|[eE][dD][uU])))(?:\/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?", None, _keep),
    (r"[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0]*@(?:[^ \t\n\f\r\"<>|().\u00A0]+\.)+[a-zA-Z]{2,4}", None, _keep),
    (r"(?:[:;=][-o^']?[(){\[\]DdPp]|[xX][dD])(?![A-Za-z0-9])|\^_\^", None, lambda m: ([_brackets(m)], len(m))),
    (rf"#(?:{_L}|_)+|@[A-Za-z_][A-Za-z0-9_]*", None, _keep),
    (rf"(?!{_ABBREV_WORDS}\.{_L}(?!{_LD}|\.{_L}|{_REDAUX})){_L}{_LD}*(?:\.{_L}{_LD}*)+", None, _keep),
    (rf"\u00AD+{_L}{_LD}*(?:\.{_L}{_LD}*)+", None, _keep),
    (rf"(?!{_ABBREV_WORDS}\.{_L}(?!{_LD}|\.{_L}|{_REDAUX})){_L}{_LD}*(?:\.{_L}{_LD}*)+\.", r"[,;:]", _keep),
    (r"[A-Za-z0-9][^ \t\n\f\r\"<>|()\u00A0]*@(?:[^ \t\n\f\r\"<>|().\u00A0][^ \t\n\f\r\"<>|()\u00A0]*)?"
     r"[^ \t\n\f\r\"<>|().\u00A0]", None, _keep),
    (rf"{_L}+(?:\.{_L}{_LD}*)*[?!]{_L}{_LD}*(?:[.?!]{_L}{_LD}*)*", None, _keep),
    (_REDAUX, r"[^A-Za-z]", lambda m: ([_quote(m, False)], len(m))),
    (_SREDAUX, None, lambda m: ([_quote(m, False)], len(m))),
    (r"\d{1,2}[\-\/]\d{1,2}[\-\/]\d{2,4}", None, _keep),
    (rf"[\-+]?{_NUM}", None, _keep),
    (r"(?:\d{1,4}[- \u00A0])?\d{1,4}(?:\\?\/|\u2044)\d{1,4}", None,
     lambda m: ([m.replace(" ", "\u00A0")], len(m))),
    (r"[\u00BC\u00BD\u00BE\u2153]", None,
     lambda m: ([{"\u00BC": "1/4", "\u00BD": "1/2", "\u00BE": "3/4", "\u2153": "1/3"}[m]], 1)),
    (r"\(--\)", None, _emit("-LRB----RRB-")),
    (r"-(?:[rR][rR][bB]|[lL][rR][bB]|[rR][cC][bB]|[lL][cC][bB]|[rR][sS][bB]|[lL][sS][bB])-|C\.D\.s|pro-|anti-|"
     r"S(?:&|&amp;)P-500|S(?:&|&amp;)Ls|"
     rf"Cap{_APOS}n|c{_APOS}est", None, lambda m: ([m.replace("&amp;", "&")], len(m))),
    (r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?\/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}", None, _keep),
    (r"[A-Z]*\$|#", None, _keep),
    (r"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]", None,
     lambda m: ([{"\u00A2": "cents", "\u00A3": "#"}.get(m, "$" if m in "\u0080\u00A4\u20A0\u20AC" else m)], 1)),
    (rf"{_ACRO}\.", rf"{_SPACENL}+(?:{_FOLLOW_RE}){_SPACENL}", _repeat_dot),
    (_ABBREV1, rf"{_SPACENL}(?:{_SPACENL}|[A-Z]|<\/?[A-Za-z!][^>]*>)", _repeat_dot),
    (_ABBREV1, None, _keep),
    (_ABBREV2, None, _keep),
    (r"[nN][oO][sS]?\.|[fF][iI][gG][sS]?\.", rf"{_SPACENL}*\d", _keep),
    (rf"{_ACRO}\.", None, _keep),
    (r"[A-Za-z]\.", None, _keep),
    (r"[A-Za-z]\.", rf"{_SPACENL}+(?:(?:{_FOLLOW_RE}){_SPACENL}|<\/?[A-Za-z!][^>]*>)", _first(1)),
    (_ACRO, _SPACENL, _keep),
    (rf"{_APOS}[0-9][0-9]", _SPACENL, _keep),
    (rf"{_WORD}\.", r"[,;:]", _keep),
    (r"(?:\([0-9]{2,3}\)[ \u00A0]?|(?:\+\+?)?(?:[0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0])[0-9]{3,4}"
     r"[\- \u00A0]?[0-9]{3,5}|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}", None,
     lambda m: ([_brackets(m.replace(" ", "\u00A0"))], len(m))),
    (r'"|&quot;', r"[A-Za-z0-9$]", lambda m: ([_quote(m, True)], len(m))),
    (r'"|&quot;', None, lambda m: ([_quote(m, False)], len(m))),
    (r"&[qQ][uU][oO][tT];", None, _keep),  # only the lower-case entity is a quote (the rules above)
    (r"\+|[%&\u2030\u2031]|~|\^|\||\\", None, _keep),
    (r"\[", None, _emit("-LSB-")), (r"\]", None, _emit("-RSB-")),
    (r"\{", None, _emit("-LCB-")), (r"\}", None, _emit("-RCB-")),
    (r"\(", None, _emit("-LRB-")), (r"\)", None, _emit("-RRB-")),
    (r"<+|>+", None, _keep),
    (r"-+", None, lambda m: (["--" if 3 <= len(m) <= 4 else m], len(m))),
    (r"\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026]", None, _emit("...")),
    (r"@+|#+|_+", None, _keep),
    (r"\*+", None, _keep),
    (r"\u00AD+", None, _emit("-")),
    (r"[,;:]", None, _keep),
    (r"[?!]+", None, _keep),
    (r"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA]", None, _keep),
    (r"=", None, _keep),
    (r"\/", None, _keep),
    # (not after an _ABBREV1 abbreviation before a digit or one letter: "etc.-3" and "etc.-x" split there,
    # "jan.-rrb", "cf.-3" and "man.-3" are one token)
    (rf"(?!{_ABBREV_WORDS}\.-(?:\d|{_L}(?!{_LD})))[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z0-9\u00AD]+|{_ACRO}\.))+\.", r"[,;:]",
     _keep),
    (rf"(?!{_ABBREV_WORDS}\.-(?:\d|{_L}(?!{_LD})))[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z0-9\u00AD]+|{_ACRO}\.))+", None, _keep),
    (rf"{_THINGPART}(?:{_HYPH}{_THINGPART})*\.", r"[,;:]", _keep),
    (rf"{_THINGPART}(?:{_HYPH}{_THINGPART})*", None, _keep),
    (r"[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+", None, lambda m: ([m.replace("&amp;", "&")], len(m))),
    (r"'", r"[A-Za-z][^ \t\n\r\u00A0]", lambda m: ([_quote(m, True)], len(m))),
    (_REDAUX, None, lambda m: ([_quote(m, False)], len(m))),
    (rf"''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039"
     rf"\u203A\u00AB\u00BB]{{1,2}}|{_APOS}", None, lambda m: ([_quote(m, False)], len(m))),
]

_RULES: "list[tuple[re.Pattern[str], re.Pattern[str] | None, _Action]] | None" = None
_SKIP = re.compile(r"[ \t\n\r\f\v\u0000\u001C-\u001F\u2028\u2029\uFEFF]+|&nbsp;")
# Characters that make no token of their own: the jar's non-ASCII spaces, and characters it deletes
# as untokenizable (its default "firstDelete"), measured with scripts/make_ptb_adversarial_fixture.py
# (``untokenizable_ranges``) in the punctuation and symbol blocks. Unlike ASCII spaces, a rule may
# still take them into a longer token (the URL, e-mail and domain rules exclude only ASCII spaces).
_NO_TOKEN = re.compile(
    "[\u0081-\u0084\u0086-\u0090\u0095\u0098-\u00A0\u1680\u2000-\u2012\u2024\u2025\u2027"
    "\u202A-\u202F\u203C\u203D\u2043\u2045-\u206F\u2072\u2073\u208F\u209D-\u209F\u20A1-\u20A3"
    "\u20A5-\u20AB\u20AD-\u20FF\u2150-\u2152\u215F-\u2182\u2185-\u218F\u2DDF-\u2E2E\u2E30-\u2E7F"
    "\u3000\u3003\u3004\u3007-\u3011\u3013-\u3030\u3036-\u303A\u303D-\u303F\uFF00\uFFE2-\uFFE4"
    "\uFFE7-\uFFEF]"
)


def _rules() -> "list[tuple[re.Pattern[str], re.Pattern[str] | None, _Action]]":
    global _RULES
    if _RULES is None:  # compiled on first use, not at import
        _RULES = [(re.compile(m), re.compile(t) if t else None, a) for m, t, a in _RULES_SRC]
    return _RULES


def _lex(text: str, end: int) -> list[str]:
    """Longest-match lexing of ``text[:end]``; ``text[end:]`` is trailing context only."""
    rules = _rules()
    out: list[str] = []
    pos = 0
    while pos < end:
        skip = _SKIP.match(text, pos)
        if skip:
            pos = skip.end()
            continue
        no_token = _NO_TOKEN.match(text, pos) is not None
        best_len, best = 0, None
        for main, trail, action in rules:
            m = main.match(text, pos)
            if m is None or m.end() == pos:
                continue
            total = m.end()
            if trail is not None:
                t = trail.match(text, total)
                if t is None:
                    continue
                total = t.end()
            if total - pos > best_len:
                best_len, best = total - pos, (m.group(0), action)
        if no_token and best_len <= 1:  # a space or an untokenizable character: no token
            pos += 1
            continue
        if best is None:  # a lone symbol the lexer keeps as its own token
            out.append(text[pos])
            pos += 1
            continue
        tokens, used = best[1](best[0])
        out.extend(t.replace("\u00AD", "") or t for t in tokens)  # soft hyphens inside a token are dropped
        pos += used
    return out


_SPLIT = re.compile(r"(\s+)")
# a chunk without these characters is tokenised the same whatever follows it
_CONTEXT_CHARS = re.compile(r"[.'\u2019\u0092&]")
# tokens that may span a space: ". . .", "1 1/2", "(555) 123-4567", "555 123 4567", "<a b>"
_CROSS_DOTS = re.compile(r"\.\s\.")
_CROSS_DIGITS = re.compile(r"\d\)?\s\d")
_CROSS_SGML = re.compile(r"<[^>]*\s[^>]*>")


_JAR_SPACES = " \t\u00A0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u3000"
# whitespace other than space and tab: not a separator for every rule of the jar (see _NO_TOKEN)
_ODD_SPACE = re.compile(r"[^\S \t]")


def _crosses_chunks(line: str) -> bool:
    return bool(_ODD_SPACE.search(line) or ("." in line and _CROSS_DOTS.search(line)) or _CROSS_DIGITS.search(line)
                or ("<" in line and _CROSS_SGML.search(line)))
_FOLLOWER_SET = frozenset(_FOLLOWERS.replace("\\", "").split("|"))


def _follow_key(sep: str, nxt: str, after: str, more_lines: bool = False) -> str:
    """Canonical trailing context: all the lexer can look at beyond a chunk."""
    sep = " " if sep in (" ", "\t") else ("\n" if "\n" in sep and len(sep) == 1 else "  ")
    if not nxt:
        return sep
    if nxt[:1] + nxt[1:].lower() in _FOLLOWER_SET and (after or more_lines):
        return f"{sep}{nxt}" + (" " if after else "\n")
    return sep + _line_start(nxt)


_TAG_START = re.compile(r"<\/?[A-Za-z!][^>]*>")


def _line_start(line: str) -> str:
    c = line[:1]
    if not c or c.isspace():
        return " "
    if "A" <= c <= "Z":
        return "A"
    if c == "<":  # an SGML tag is trailing context of the abbreviation rules
        return "<a>" if _TAG_START.match(line) else "<"
    return "0" if c.isdigit() else "x"


def ptb_tokenize_raw(lines: Sequence[str]) -> list[list[str]]:
    """Tokens of each line as the CoreNLP 3.4.1 ``PTBTokenizer -preserveLines -lowerCase``
    prints them for the newline-joined ``lines`` (lower-cased, punctuation kept)."""
    cache: dict[tuple[str, str], list[str]] = {}
    # tokens of chunks that cannot depend on what follows them (only the abbreviation,
    # acronym and '80 rules look past a chunk: see _CONTEXT_CHARS); None for the others
    free: dict[str, list[str] | None] = {}
    free_get = free.get
    result: list[list[str]] = []
    lines = [line.replace("\n", " ") if "\n" in line else line for line in lines]
    n = len(lines)
    for i, line in enumerate(lines):
        nxt_line = lines[i + 1] if i + 1 < n else None
        if _crosses_chunks(line):
            text = line + ("" if nxt_line is None else "\n" + nxt_line[:40])
            result.append([t.lower() for t in _lex(text, len(line))])
            continue
        words = line.split()
        if words and len(words) == line.count(" ") + 1:  # single spaces only: fast split
            parts = [" "] * (2 * len(words) - 1)
            parts[::2] = words
        else:
            parts = _SPLIT.split(line)
        tokens: list[str] = []
        # parts alternate chunk, separator, chunk, ... (a leading "" when line starts with space)
        for j in range(0, len(parts), 2):
            chunk = parts[j]
            toks = free_get(chunk)
            if toks is not None:
                tokens.extend(toks)
                continue
            if not chunk:
                continue
            if chunk not in free:
                if not _CONTEXT_CHARS.search(chunk):
                    toks = free[chunk] = [t.lower() for t in _lex(chunk, len(chunk))]
                    tokens.extend(toks)
                    continue
                free[chunk] = None
            if j + 2 < len(parts) and parts[j + 2]:
                after = parts[j + 4] if j + 4 < len(parts) else ""
                key = _follow_key(parts[j + 1], parts[j + 2], after, nxt_line is not None)
            else:
                if nxt_line is None:
                    key = ""
                else:
                    # the next line's leading spaces (the jar's SPACE class) are trailing context too
                    stripped = nxt_line.lstrip(_JAR_SPACES)
                    if not stripped or stripped[:1].isspace():
                        key = "\n "
                    else:
                        nxt_parts = stripped.split(None, 2)
                        key = _follow_key("\n" + nxt_line[: len(nxt_line) - len(stripped)], nxt_parts[0],
                                          nxt_parts[1] if len(nxt_parts) > 1 else "", i + 2 < n)
                if j + 1 < len(parts):  # trailing spaces at the end of the line
                    key = ("  " if len(parts[j + 1]) > 1 else " ") + key
            ck = (chunk, key)
            toks = cache.get(ck)
            if toks is None:
                toks = cache[ck] = [t.lower() for t in _lex(chunk + key, len(chunk))]
            tokens.extend(toks)
        result.append(tokens)
    return result


def ptb_tokenize(captions: Iterable[str] | str) -> list[str] | str:
    """Tokenise captions exactly as pycocoevalcap 1.2 does before scoring.

    The Stanford PTB tokenizer (Marcus, Santorini & Marcinkiewicz, Computational
    Linguistics 1993 conventions; CoreNLP 3.4.1) splits clitics (``dog's`` ->
    ``dog 's``, ``can't`` -> ``ca n't``), separates punctuation, turns quotes into
    ```` `` ```` / ``''`` and brackets into ``-lrb-``, lower-cases; pycocoevalcap then
    drops :data:`PTB_PUNCTUATION`. Captions are tokenised as one newline-joined
    text, like pycocoevalcap (an abbreviation such as ``etc.`` at the end of a line
    splits off a period when the next line starts with a capital).

    Parameters
    ----------
    captions : str or iterable of str
        One caption or a sequence of captions (tokenised in order, as one text).

    Returns
    -------
    str or list of str
        Space-joined tokens (one string per caption).

    Examples
    --------
    >>> ptb_tokenize("A man's dog doesn't like (wet) cats.")
    "a man 's dog does n't like -lrb- wet -rrb- cats"
    """
    single = isinstance(captions, str)
    if not single and not isinstance(captions, Iterable):
        raise DatasetError(f"captions must be a str or an iterable of str; got {type(captions).__name__}")
    lines = [captions] if single else list(captions)
    bad = next((i for i, line in enumerate(lines) if not isinstance(line, str)), None)
    if bad is not None:
        raise DatasetError(f"captions[{bad}] must be a str; got {type(lines[bad]).__name__} {lines[bad]!r:.50}")
    out = [" ".join(t for t in toks if t not in PTB_PUNCTUATION) for toks in ptb_tokenize_raw(lines)]
    return out[0] if single else out
