"""Generate the caption-metric test fixtures by running pycocoevalcap 1.2 (needs Java 8+).

Writes, under tests/fixtures/captioning/:
  ptb_tokenizer.json  sentences and pycocoevalcap's PTBTokenizer output for them
                      (hand-picked hard cases + seeded caption-like sentences);
  coco_scores.json    a seeded synthetic set (200 images x 5 references, candidates
                      partially overlapping the references), its PTB tokenisation and
                      pycocoevalcap's Bleu(4) / Rouge / Cider / Meteor scores.

Run once: python scripts/make_caption_fixture.py   (about a minute, mostly METEOR start-up)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "captioning"

HARD_CASES = [
    "A man's dog doesn't like \"cats\" (or dogs).",
    "Mr. Smith went to Washington D.C. yesterday, e.g. at 5 p.m.",
    "It's a 3-year-old girl's toy; she can't find it... really?!",
    "A cat & a dog -- sitting on a couch at 10:30 with $5.00 and 50% off.",
    "The U.S. flag waves over St. Louis etc.",
    "I'm gonna go; you'll see. We've been there. They'd come!",
    "'Single quotes' and `backticks' and ''double''",
    "1,000 people, 3.5 miles, 1/2 cup, 2nd place",
    "Don't WON'T cannot Can't isn't ain't",
    "a man riding a skate-board down a hill .",
    "A   plate  with   food.",
    "New-York's finest {braces} [brackets]",
    "The dog's bowl is the dogs' bowl.",
    "A kid in a red shirt.A ball.",
    "\u201ccurly quotes\u201d and \u2018single\u2019 \u2014 em dash \u2013 en dash",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "gotta wanna lemme gimme gonna dunno Cannot CANNOT",
    "the letter a.",
    "Mr. Jones and mr. jones and MR. JONES and dr. who",
    "in the U.S. The dog sits",
    "A man etc. The end",
    "ok etc.  ok",
    "the dog\u2019s \u201cball\u201d \u2018toy\u2019 don\u2019t",
    "rock'n'roll o'clock y'all",
    "a 1 1/2 cup 3/4 ratio 555-123-4567",
    "a man --- a woman ---- b ----- c",
    "a . . . b .... c ..... d ...... e",
    "what?? no!! ?!?",
    "his/her and/or A/B 4x4 5x",
    "lol :) ;) :D :P",
    "no.1 no. 1 No. 1",
    "tv's 80's '80s the '90s",
    "it is 4:30pm, 4.5 lbs; 1st.",
    "a b-52 and f-16s and mp3 2x3 3d 100m 1.5m 5ft 6'2",
    "(a) [b] {c} ( d ) <e>",
    "a 5 -5 +5 -5.5 .5 5. 5.5.5 1,2,3",
    "a man&woman AT&T at & t R&B",
    "A European coin of 1 euro (1 \u20ac) and 5\u00a2 and \u00a33.",
    "x \u00bd y and a \u2026 b",
    "a ... b\u2026c",
    "he said,\"hi\"",
    "a #hashtag @user _under_",
    "a \u263a b \u2605 c \u2022 d \u00b0 e \u00d7 f",
    "'tis 'em",
    "#1 # 1 @ home a@b me@x.com http://x.com/a www.x.com x.org",
    "Man's sheep (--) at, tv.",
]

WORDS = ("a an the man woman dog cat person people group of two three some sitting standing on in at with "
         "next to near holding riding skateboard bike surfboard wave ocean street table plate food pizza "
         "red blue green white black large small young old little boy girl kitchen bathroom toilet sink "
         "train bus car truck traffic light sign parked parking lot field grass tennis racket ball frisbee "
         "is are looking playing eating walking flying kite giraffe elephant zebra horse cow sheep bird "
         "umbrella computer laptop phone cell room bed couch living tv window building clock tower city").split()
TRICKY = ["man's", "dogs'", "don't", "can't", "won't", "it's", "they're", "we've", "i'm", "you'll", "she'd",
          "isn't", "cannot", "gonna", "t-shirt", "3-year-old", "hot-dog", "self-serve", "2", "10", "1,000", "3.5",
          "$5", "50%", "4:30", "1/2", "u.s.", "U.S.", "Mr.", "Dr.", "St.", "etc.", "e.g.", "vs.", "a.m.", "p.m.",
          "&", "A&W", "(", ")", "[", "]", "{", "}", "\"", "'", "`", "--", "-", "...", "!", "?", "?!", ";", ":",
          "O'Neil", "o'clock", "rock'n'roll", "#1", "No.", "no.", "x", "y'all", "'80s", "80's", "TV's", "DVDs",
          "wi-fi", "e-mail", "b&w", "and/or", "w/", "@", "*", "+", "=", "<", ">", "~", "caf\u00e9", "\u2013",
          "\u2014", "\u2019s", "\u201c", "\u201d", "\u2018", "\u2019", "\u2026", "10-year-old", "5'", "6\"",
          "1st", "2nd", "3rd", "4x4", "mp3", "ok.", "okay.", "Ltd.", "Inc.", "Co.", "Jr.", "Ave.", "Mt.", "jan.",
          "ft.", "lbs."]


def tricky_caption(rng: random.Random) -> str:
    toks = []
    for _ in range(rng.randint(3, 16)):
        w = rng.choice(TRICKY) if rng.random() < 0.25 else rng.choice(WORDS)
        r = rng.random()
        if r < 0.06:
            w += ","
        elif r < 0.09:
            w += "."
        elif r < 0.11:
            w = '"' + w + '"'
        elif r < 0.13:
            w = "(" + w + ")"
        elif r < 0.15:
            w += "'s"
        elif r < 0.17:
            w = w.upper()
        elif r < 0.20:
            w = w.capitalize()
        toks.append(w)
    s = " ".join(toks)
    if rng.random() < 0.7:
        s = s[0].upper() + s[1:]
    r = rng.random()
    s += "." if r < 0.5 else (" ." if r < 0.6 else ("!" if r < 0.65 else ""))
    if rng.random() < 0.05:
        s = s.replace(" ", "  ", 1)
    return s


SOUP = ["a", "dog", "The", "U.S.", "etc.", "Mr.", "'s", "n't", "'", "\"", "(", ")", ".", ",", "!", "?", "-", "--",
        "...", "1", "2.5", "10", "$", "%", "&", "#", "@", ":", ";", "/", "x", "I", "'re", "cat's", "don't", "A",
        "b.", "e.g.", "no.", "*", "+", "=", "<", ">", "[", "]", "{", "}", "~", "\u00e9", "\u2019", "\u201c",
        "\u201d", "\u2014", "\u2026", "'80s", "3-d", "well-known", "co.", "Inc.", "St.", "p.m.", "o'clock"]


def soup(rng: random.Random) -> str:
    """Adversarial text: tricky pieces glued together with or without spaces."""
    s = ""
    for _ in range(rng.randint(1, 10)):
        s += rng.choice(SOUP) + (" " if rng.random() < 0.6 else "")
    return s.strip()


def caption_like(rng: random.Random, base: list[str] | None = None) -> str:
    """A plain caption, or a perturbation of ``base`` (drop / swap / replace words)."""
    if base is None:
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
    else:
        words = list(base)
        for _ in range(rng.randint(0, 4)):
            op = rng.random()
            i = rng.randrange(len(words))
            if op < 0.3 and len(words) > 2:
                del words[i]
            elif op < 0.6:
                words[i] = rng.choice(WORDS)
            elif op < 0.8:
                j = rng.randrange(len(words))
                words[i], words[j] = words[j], words[i]
            else:
                words.insert(i, rng.choice(WORDS))
    s = " ".join(words)
    if rng.random() < 0.3:
        s = s.replace(" ", ", ", 1)
    if rng.random() < 0.6:
        s = s[0].upper() + s[1:]
    return s + ("." if rng.random() < 0.6 else "")


def synthetic_set(seed: int = 0, n_images: int = 200, n_refs: int = 5) -> tuple[dict, dict]:
    rng = random.Random(seed)
    refs, cands = {}, {}
    for i in range(n_images):
        core = [rng.choice(WORDS) for _ in range(rng.randint(5, 12))]
        refs[i] = [caption_like(rng, core) for _ in range(n_refs)]
        u = rng.random()
        if u < 0.15:
            cands[i] = rng.choice(refs[i])                                # exact copy of a reference
        elif u < 0.75:
            cands[i] = caption_like(rng, core)                            # overlapping
        elif u < 0.9:
            cands[i] = caption_like(rng)                                  # unrelated
        else:
            cands[i] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))  # shorter than n
    return cands, refs


def main() -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1234)
    sentences = HARD_CASES + [tricky_caption(rng) for _ in range(1500)] + [soup(rng) for _ in range(500)]
    tok = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(sentences)})
    expected = [tok[i][0] for i in range(len(sentences))]
    (OUT / "ptb_tokenizer.json").write_text(json.dumps(
        {"source": "pycocoevalcap 1.2 PTBTokenizer (Stanford CoreNLP 3.4.1), all sentences as one text",
         "sentences": sentences, "tokenized": expected}, ensure_ascii=False, indent=0))

    cands, refs = synthetic_set()
    tk = PTBTokenizer()
    gts = tk.tokenize({i: [{"caption": c} for c in refs[i]] for i in refs})
    res = tk.tokenize({i: [{"caption": cands[i]}] for i in cands})
    bleu, bleu_per = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_per = Rouge().compute_score(gts, res)
    cider, cider_per = Cider().compute_score(gts, res)
    meteor, meteor_per = Meteor().compute_score(gts, res)
    (OUT / "coco_scores.json").write_text(json.dumps({
        "source": "scripts/make_caption_fixture.py: pycocoevalcap 1.2 Bleu(4), Rouge, Cider, Meteor",
        "candidates": {str(i): c for i, c in cands.items()},
        "references": {str(i): r for i, r in refs.items()},
        "tokenized_candidates": {str(i): res[i][0] for i in res},
        "tokenized_references": {str(i): gts[i] for i in gts},
        "scores": {"bleu": list(map(float, bleu)), "rouge_l": float(rouge), "cider_d": float(cider),
                   "meteor": float(meteor)},
        "per_image": {"bleu": [list(map(float, b)) for b in bleu_per], "rouge_l": list(map(float, rouge_per)),
                      "cider_d": list(map(float, cider_per)), "meteor": list(map(float, meteor_per))},
    }, indent=0))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
