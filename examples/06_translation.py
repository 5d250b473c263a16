"""Translation: example-based (retrieval) and model-based (Show, Attend and Tell) image captioning.

Tutorial section "translation" (Baltrusaitis, Ahuja & Morency, TPAMI 2019,
Sec. 4): image -> text, on images of coloured shapes generated offline with
:func:`polymodal.data.vqa_shapes.make_vqa_shapes` (the VQA shapes scenes, 1-2
objects on a 3x3 grid, 36 px). Each image gets three reference captions
written from its scene: "a red circle and two blue squares", the same in
reverse order, and "there are three objects : ...".

* example-based: :class:`polymodal.translation.RetrievalCaptioner` (Devlin et
  al., arXiv 2015; Farhadi et al., ECCV 2010): the caption of the nearest
  training image (k = 1), or the consensus caption (CIDEr-D) among the captions
  of the k = 10 nearest, in two feature spaces: raw pixels, and the CNN of the
  trained captioner below (mean of its feature grid);
* model-based: :class:`polymodal.translation.ShowAttendTell` (Xu et al., ICML
  2015), a CNN grid + soft attention + LSTM, trained by teacher forcing with
  :func:`polymodal.translation.fit_generator` (best validation epoch kept),
  greedy decoding;
* the most frequent training caption as the floor.

Scores on the test images: BLEU-1/4 and CIDEr-D
(:func:`polymodal.metrics.score_captions`, COCO conventions, 3 references) and
the share of captions that name exactly the objects of the image (equal to a
reference after PTB tokenisation).

    python examples/06_translation.py [--fast] [--out reports/examples/translation]

Writes ``captions.png`` (test images with the reference and generated
captions), ``attention.png`` (where the captioner looks at each word) and
``results.json``.

Full run measured here (1000 images, 700/150/150; Show-Attend-Tell 8 epochs at
lr 1e-3 with BatchNorm statistics recomputed before each validation; 2 CPU
cores shared with other jobs, one torch thread: 20 to 38 s inside the script,
25 to 48 s wall with the imports, depending on the load), test scores
(BLEU-1 / BLEU-4 / CIDEr-D / exact):

    most frequent caption            0.287 / 0.005 / 0.901 / 0.040
    Show-Attend-Tell (greedy)        0.911 / 0.863 / 6.211 / 0.853
    retrieval, pixels, k=1           0.708 / 0.530 / 4.754 / 0.487
    retrieval, CNN, k=1              0.991 / 0.987 / 6.896 / 0.987
    retrieval, CNN, k=10 consensus   0.907 / 0.842 / 6.095 / 0.800

Example-based translation is as good as its feature space: nearest neighbours
in pixel space often pick an image with the same shapes elsewhere or in another
colour, while in the captioner's CNN space they name the objects of 98.7 % of
the test images, more than the captioner's own decoder (85 %).

Why ``--precise-bn 20`` (``fit_generator(precise_bn_batches=20)``): in so short
a run the CNN's BatchNorm running averages lag behind the weights, so the
eval-mode validation loss that picks the epoch is erratic. Measured (seed 0,
validation loss per epoch, then Show-Attend-Tell CIDEr-D / exact):

    lr 1e-3, running averages   1.11 0.77 0.70 0.42 0.71 0.37 0.24 1.84   5.925 / 0.780
    lr 1e-3, recomputed         1.09 0.55 0.41 0.33 0.28 0.25 0.24 0.23   6.211 / 0.853
    lr 3e-3, running averages   2.18 1.29 3.98 1.22 1.54 1.21 3.24 1.81   3.409 / 0.033
    lr 3e-3, recomputed         0.63 0.41 0.32 0.27 0.24 0.24 0.25 0.22   6.343 / 0.907

The same comparison on real drawings with one human caption each (Tux Paint
stamps, with Show-and-Tell, beam search and METEOR): ``polymodal
captioning-report OUT_DIR`` (:mod:`polymodal.benchmarks.captioning`).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from polymodal.data.vocab import Vocabulary  # noqa: E402
from polymodal.data.vqa_shapes import make_vqa_shapes  # noqa: E402
from polymodal.metrics.captioning import ptb_tokenize, score_captions  # noqa: E402
from polymodal.translation import (  # noqa: E402
    GridImageEncoder,
    RetrievalCaptioner,
    ShowAttendTell,
    fit_generator,
)
from polymodal.alignment import plot_attention  # noqa: E402

NUMBERS = ("no", "one", "two", "three", "four")


def scene_captions(objects) -> list[str]:
    """Three references: objects grouped by (colour, shape) in reading order, reversed, and with the count."""
    groups = Counter((o.colour, o.shape) for o in sorted(objects, key=lambda o: (o.row, o.col)))
    parts = [f"a {c} {s}" if n == 1 else f"{NUMBERS[n]} {c} {s}s" for (c, s), n in groups.items()]
    n = len(objects)
    return [" and ".join(parts), " and ".join(parts[::-1]),
            f"there {'is' if n == 1 else 'are'} {NUMBERS[n]} object{'' if n == 1 else 's'} : " + " and ".join(parts)]


def tokens(captions: list[str]) -> list[list[str]]:
    return [t.split() for t in ptb_tokenize(captions)]


def evaluate(candidates: dict, references: dict) -> dict:
    scores = score_captions(candidates, references, metrics=("bleu", "cider_d")).as_dict()
    refs = {k: {" ".join(t) for t in tokens(v)} for k, v in references.items()}
    cands = dict(zip(candidates, (" ".join(t) for t in tokens(list(candidates.values())))))
    scores["exact"] = float(np.mean([cands[k] in refs[k] for k in candidates]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer images and epochs (a few seconds)")
    parser.add_argument("--out", type=Path, default=Path("reports/examples/translation"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="captioner epochs (8; 4 with --fast)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--precise-bn", type=int, default=20,
                        help="recompute BatchNorm statistics on N training batches before each validation (0: off)")
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 4 if args.fast else 8
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()

    data = make_vqa_shapes(500 if args.fast else 1000, max_objects=2, seed=args.seed)
    split = data.extra["image_split"]  # 70/15/15 of the images
    idx = {s: np.nonzero(split == s)[0] for s in ("train", "val", "test")}
    refs = [scene_captions(scene) for scene in data.scenes]
    images = torch.tensor(data.images).permute(0, 3, 1, 2).float() / 255
    test_refs = {int(i): refs[i] for i in idx["test"]}
    vocab = Vocabulary.build([t for i in idx["train"] for t in tokens(refs[i])])

    def pairs(part: str):  # every (image, reference) pair, <bos> ... <eos> padded
        ids, _ = vocab.encode_batch([t for i in idx[part] for t in tokens(refs[i])], max_len=24)
        return images[np.repeat(idx[part], 3)], torch.tensor(ids)

    # model-based: Show, Attend and Tell
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    model = ShowAttendTell(len(vocab), encoder=GridImageEncoder(36, widths=(16, 32), grid=3), embed_dim=32,
                           hidden=64, attention_dim=32, dropout=0.1)
    fit = fit_generator(model, pairs("train"), pairs("val"), max_epochs=args.epochs, batch_size=32,
                        lr=args.lr, n_iter_no_change=10, random_state=args.seed, precise_bn_batches=args.precise_bn)
    decoded = model.generate(images[idx["test"]], max_len=24).sequences()
    captions = {"Show-Attend-Tell": {int(i): " ".join(vocab.decode(s)) for i, s in zip(idx["test"], decoded)}}
    train_seconds = time.perf_counter() - t0

    # example-based: retrieval in pixel space and in the captioner's CNN space
    with torch.no_grad():
        cnn = model.encoder(images).mean(1).numpy()
    pixels = images.flatten(1).numpy()
    train_refs = [refs[i] for i in idx["train"]]
    for name, feats, k in (("retrieval, pixels, k=1", pixels, 1), ("retrieval, CNN, k=1", cnn, 1),
                           ("retrieval, CNN, k=10 consensus", cnn, 10)):
        captioner = RetrievalCaptioner(k=k, consensus="cider_d").fit(feats[idx["train"]], train_refs)
        captions[name] = dict(zip(test_refs, captioner.predict(feats[idx["test"]])))
    most = Counter(" ".join(t) for i in idx["train"] for t in tokens(refs[i])).most_common(1)[0][0]
    captions = {"most frequent caption": {k: most for k in test_refs}, **captions}
    scores = {name: evaluate(c, test_refs) for name, c in captions.items()}

    # figures: test images with captions; attention over the grid for two of them
    show = idx["test"][:8]
    fig, axes = plt.subplots(2, 4, figsize=(13, 7.2))
    for ax, i in zip(axes.flat, show):
        ax.imshow(data.images[i])
        ax.set_title(f"ref: {refs[i][0]}\nretrieval (CNN): {captions['retrieval, CNN, k=1'][int(i)]}\n"
                     f"SAT: {captions['Show-Attend-Tell'][int(i)]}", fontsize=7.5, loc="left")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("test images: reference, example-based (retrieval) and model-based (Show-Attend-Tell) captions")
    fig.tight_layout()
    fig.savefig(args.out / "captions.png", dpi=100)
    plt.close(fig)
    right = [int(j) for j in idx["test"] if len(data.scenes[j]) == 2
             and captions["Show-Attend-Tell"][int(j)] in {" ".join(t) for t in tokens(refs[j])}]
    i = right[0] if right else int(show[0])  # a two-object image the captioner gets right, if there is one
    ids = vocab.encode(captions["Show-Attend-Tell"][i].split(), add_bos=False, add_eos=False)
    maps = model.attention_maps(images[[i]], [ids])[0].numpy()
    fig = plot_attention(maps, image=data.images[i], query_labels=vocab.decode(ids) + ["<eos>"],
                         path=args.out / "attention.png", columns=6, title=f"Show-Attend-Tell attention: {captions['Show-Attend-Tell'][i]}")
    plt.close(fig)

    results = {"fast": args.fast, "n_images": {s: int(len(v)) for s, v in idx.items()}, "vocabulary": len(vocab),
               "scores": scores, "show_attend_tell": {"epochs": fit.n_epochs, "best_epoch": fit.best_epoch,
                                                      "best_val_loss": fit.best_val_loss, "val_history": fit.val_loss,
                                                      "train_seconds": train_seconds},
               "examples": {str(i): {"references": refs[i], **{n: c[int(i)] for n, c in captions.items()}}
                            for i in show},
               "seconds": time.perf_counter() - start}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"shapes captioning: {len(idx['train'])}/{len(idx['val'])}/{len(idx['test'])} train/val/test images, "
          f"3 references each, vocabulary {len(vocab)}")
    print(f"{'method':<34}{'BLEU-1':>8}{'BLEU-4':>8}{'CIDEr-D':>9}{'exact':>8}")
    for name, s in scores.items():
        print(f"{name:<34}{s['bleu_1']:>8.3f}{s['bleu_4']:>8.3f}{s['cider_d']:>9.3f}{s['exact']:>8.3f}")
    print(f"Show-Attend-Tell: best epoch {fit.best_epoch + 1} of {fit.n_epochs}, {train_seconds:.1f} s; "
          f"{results['seconds']:.1f} s in all; figures and results.json in {args.out}")


if __name__ == "__main__":
    main()
