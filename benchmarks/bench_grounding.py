"""Concept grounding on real data: GloVe 6B 50-d text vectors grounded in the
Tux Paint stamps (an image and an English caption each), scored on the
word-similarity sets gensim ships (WordSim-353, SimLex-999).

    python benchmarks/bench_grounding.py [--image-size 64] [--aggregate mean]

Visual word vectors (Bruni et al. JAIR 2014; Kiela & Bottou EMNLP 2014): the
mean (or max) over the stamps whose caption contains the word of image
features — here, offline and without a pretrained CNN, Bruni et al.'s kind of
hand-made features: an HSV colour histogram (8 x 4 x 4 bins) and a HOG
descriptor, each block L2-normalised. Reported: Spearman's rho of the text-only,
visual-only and fused similarities over the pairs both spaces cover (the
papers' protocol), for feature-level and scoring-level fusion at several
alpha, with and without latent mixing (rank-r SVD). Few pairs are covered (the
stamps name a few hundred concrete words), so rho moves by about
1/sqrt(n_covered); the table prints the count next to every number.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from polymodal.colearning.grounding import (GroundedWordVectors, colour_hog_features, read_word_similarity,
                                            visual_word_vectors, word_similarity)
from polymodal.data.captions import load_tuxpaint_stamps
from polymodal.encoders.text import load_glove_wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64, help="stamp side in pixels (default: 64)")
    parser.add_argument("--aggregate", choices=["mean", "max"], default="mean",
                        help="visual vector of a word: mean or max of its images' features (default: mean)")
    args = parser.parse_args()
    from gensim.test.utils import datapath

    start = time.perf_counter()
    stamps = load_tuxpaint_stamps(image_size=args.image_size)
    captions = [refs[0] for refs in stamps.captions]
    glove = load_glove_wheel()
    visual = visual_word_vectors(captions, colour_hog_features(stamps.images), aggregate=args.aggregate,
                                 vocabulary=[w for w in glove.index])
    sets = {name: read_word_similarity(datapath(f)) for name, f in
            (("WordSim-353", "wordsim353.tsv"), ("SimLex-999", "simlex999.txt"))}
    print(f"{len(stamps)} stamps, {len(visual)} grounded words, features {visual.dim}-d, "
          f"{time.perf_counter() - start:.1f} s to build\n")
    rows = [("text only (GloVe 50d)", dict(fusion="text")), ("visual only (stamps)", dict(fusion="visual"))]
    rows += [(f"feature fusion, alpha={a}", dict(fusion="feature", alpha=a)) for a in (0.3, 0.5, 0.7)]
    rows += [(f"score fusion, alpha={a}", dict(fusion="score", alpha=a)) for a in (0.3, 0.5, 0.7)]
    rows += [("feature fusion, alpha=0.5, mixing r=20", dict(fusion="feature", alpha=0.5, mixing_rank=20))]
    print("| model | " + " | ".join(f"{name} rho (pairs)" for name in sets) + " |")
    print("|---|" + "---|" * len(sets))
    for label, kwargs in rows:
        model = GroundedWordVectors(glove, visual, **kwargs)
        cells = []
        for pairs in sets.values():
            r = word_similarity(model.similarity, pairs)
            cells.append(f"{r.spearman:.3f} ({r.n_covered})")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
