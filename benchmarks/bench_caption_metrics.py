"""Caption metrics: polymodal vs pycocoevalcap 1.2, same process, same captions.

1. tokenizer + BLEU-1..4 + ROUGE-L + CIDEr-D on 5,000 candidates x 5 references
   (pycocoevalcap: PTBTokenizer via a JVM per call + its pure-Python scorers;
   polymodal: pure-Python PTB tokenizer + vectorised numpy scorers);
2. METEOR on --meteor-n candidates: polymodal's warm persistent Java process vs
   pycocoevalcap.meteor.Meteor started cold (JVM + paraphrase table each time).

Run: python benchmarks/bench_caption_metrics.py [--n 5000] [--meteor-n 1000]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

WORDS = ("a an the man woman dog cat person people group of two three some sitting standing on in at with "
         "next to near holding riding skateboard bike surfboard wave ocean street table plate food pizza "
         "red blue green white black large small young old little boy girl kitchen bathroom toilet sink "
         "train bus car truck traffic light sign parked parking lot field grass tennis racket ball frisbee "
         "is are looking playing eating walking flying kite giraffe elephant zebra horse cow sheep bird "
         "umbrella computer laptop phone cell room bed couch living tv window building clock tower city "
         "man's dog's it's isn't t-shirt 3-year-old").split()


def caption(rng: random.Random, core: list[str]) -> str:
    words = list(core)
    for _ in range(rng.randint(0, 4)):
        i = rng.randrange(len(words))
        if rng.random() < 0.5:
            words[i] = rng.choice(WORDS)
        else:
            words.insert(i, rng.choice(WORDS))
    s = " ".join(words)
    if rng.random() < 0.3:
        s = s.replace(" ", ", ", 1)
    return s[0].upper() + s[1:] + ("." if rng.random() < 0.7 else "")


def make_set(n: int, n_refs: int = 5, seed: int = 0) -> tuple[dict, dict]:
    rng = random.Random(seed)
    cands, refs = {}, {}
    for i in range(n):
        core = [rng.choice(WORDS) for _ in range(rng.randint(6, 13))]
        refs[i] = [caption(rng, core) for _ in range(n_refs)]
        cands[i] = caption(rng, core)
    return cands, refs


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--meteor-n", type=int, default=1000)
    ap.add_argument("--no-meteor", action="store_true")
    args = ap.parse_args()

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from polymodal.metrics.captioning import Meteor, ptb_tokenize, score_captions

    cands, refs = make_set(args.n)
    print(f"{args.n} candidates x 5 references")

    def coco_tokenize():
        tk = PTBTokenizer()
        gts = tk.tokenize({i: [{"caption": c} for c in refs[i]] for i in refs})
        res = tk.tokenize({i: [{"caption": cands[i]}] for i in cands})
        return gts, res

    def coco_score(gts, res):
        b, _ = Bleu(4).compute_score(gts, res, verbose=0)
        r, _ = Rouge().compute_score(gts, res)
        c, _ = Cider().compute_score(gts, res)
        return list(b) + [r, c]

    t_ctok, (gts, res) = timed(coco_tokenize)
    t_cscore, coco_vals = timed(lambda: coco_score(gts, res))
    metrics = ("bleu", "rouge_l", "cider_d")

    def ours_all():
        s = score_captions(cands, refs, metrics=metrics)
        return [s.bleu_1, s.bleu_2, s.bleu_3, s.bleu_4, s.rouge_l, s.cider_d]

    t_otok, _ = timed(lambda: (ptb_tokenize([r for i in refs for r in refs[i]]), ptb_tokenize(list(cands.values()))), 3)
    t_oscore, _ = timed(lambda: score_captions({i: res[i][0] for i in res}, gts, metrics=metrics, tokenize=False), 3)
    t_oall, ours_vals = timed(ours_all, 3)
    ours_tok_vals = score_captions({i: res[i][0] for i in res}, gts, metrics=metrics, tokenize=False)
    diff = np.max(np.abs(np.array(ours_vals) - np.array(coco_vals)))
    diff_tok = np.max(np.abs(np.array([ours_tok_vals.as_dict()[k] for k in
                                        ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d")])
                              - np.array(coco_vals)))

    print(f"\n{'step':<34}{'pycocoevalcap s':>16}{'polymodal s':>13}{'ratio':>9}")
    rows = [("PTB tokenisation", t_ctok, t_otok), ("BLEU-1..4 + ROUGE-L + CIDEr-D", t_cscore, t_oscore),
            ("all (tokenizer + 3 scorers)", t_ctok + t_cscore, t_oall)]
    for name, a, b in rows:
        print(f"{name:<34}{a:>16.3f}{b:>13.3f}{a / b:>8.1f}x")
    names = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
    print("\nscores (pycocoevalcap / polymodal):")
    for n, a, b in zip(names, coco_vals, ours_vals):
        print(f"  {n:<8} {a:.10f}  {b:.10f}")
    print(f"max |difference|: raw text {diff:.2e}; on pycocoevalcap's tokenisation {diff_tok:.2e}")
    if max(diff, diff_tok) > 1e-6:
        raise SystemExit("numbers differ from pycocoevalcap by more than 1e-6")

    if args.no_meteor:
        return
    from pycocoevalcap.meteor.meteor import Meteor as CocoMeteor

    ids = list(range(min(args.meteor_n, args.n)))
    g = {i: gts[i] for i in ids}
    r = {i: res[i] for i in ids}

    def coco_meteor_cold():
        m = CocoMeteor()
        out = m.compute_score(g, r)[0]
        del m
        return out

    t_cold, coco_m = timed(coco_meteor_cold)
    def start():
        m = Meteor()
        m.score(["a dog"], [["a dog runs"]])  # returns once the JVM and paraphrase table are loaded
        return m

    t_start, ours_m = timed(start)
    t_warm, (ours_val, _) = timed(lambda: ours_m.score([r[i][0] for i in ids], [g[i] for i in ids]), 2)
    ours_m.close()
    print(f"\nMETEOR on {len(ids)} candidates x 5 references")
    print(f"{'':<34}{'pycocoevalcap s':>16}{'polymodal s':>13}{'ratio':>9}")
    print(f"{'cold (pycoco) vs warm (ours)':<34}{t_cold:>16.3f}{t_warm:>13.3f}{t_cold / t_warm:>8.1f}x")
    print(f"  (our one-off start-up, paid once per Python process: {t_start:.3f} s)")
    print(f"  METEOR pycocoevalcap {coco_m:.10f}  polymodal {ours_val:.10f}  |diff| {abs(coco_m - ours_val):.2e}")


if __name__ == "__main__":
    main()
