"""Captioning report on the Tux Paint stamps: most-frequent baseline, retrieval, Show-and-Tell, Show-Attend-Tell.

Trains on the train split, picks settings on val (CIDEr-D), scores test with
:func:`polymodal.metrics.score_captions` and writes a Markdown report with example
captions, their images and the attention maps.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


logger = logging.getLogger("polymodal")

__all__ = ["CaptioningReport", "captioning_report", "captioning_report_cli"]

METRIC_NAMES = {"bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4",
                "meteor": "METEOR", "rouge_l": "ROUGE-L", "cider_d": "CIDEr-D"}


@dataclass
class CaptioningReport:
    """Test scores per method, the settings picked on val, example captions, timings and the report path."""

    scores: dict[str, dict[str, float]]
    chosen: dict[str, dict]
    val_cider: dict[str, dict[str, float]]
    captions: dict[str, dict[str, str]]
    seconds: dict[str, float] = field(default_factory=dict)
    path: Path | None = None

    def attention_beats_baseline(self) -> bool:
        """Whether Show-Attend-Tell's test CIDEr-D is above the most-frequent-caption baseline's."""
        return self.scores["show_attend_tell"]["cider_d"] > self.scores["most_frequent"]["cider_d"]


def _tokens(captions: list[str]) -> list[list[str]]:
    from polymodal.metrics.captioning import ptb_tokenize

    return [t.split() for t in ptb_tokenize(captions)]


def _score(cands: dict[str, str], refs: dict[str, list[str]], metrics) -> dict[str, float]:
    from polymodal.metrics.captioning import score_captions

    return score_captions(cands, refs, metrics=metrics).as_dict()


def _pixel_features(images: np.ndarray, mean: np.ndarray | None = None, basis: np.ndarray | None = None,
                    n_components: int = 64):
    """Downsampled (16x16) colour pixels, centred and projected on the training PCA basis."""
    x = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(images).permute(0, 3, 1, 2).float() / 255, 16)
    x = x.flatten(1).numpy().astype(np.float64)
    if mean is None:
        mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        basis = vt[:n_components].T
    return (x - mean) @ basis, mean, basis


@torch.no_grad()
def _cnn_features(model, images: torch.Tensor) -> np.ndarray:
    model.eval()
    return torch.cat([model.encoder(images[i:i + 128]).mean(1) for i in range(0, len(images), 128)]).numpy()


def captioning_report(out_dir: str | Path, image_size: int = 32, seed: int = 0, max_epochs: int = 30,
                      patience: int = 5, threads: int = 1, n_examples: int = 8, meteor: bool | None = None,
                      root: str | None = None, precise_bn_batches: int = 0) -> CaptioningReport:
    """Run the Tux Paint captioning comparison and write ``report.md``, ``scores.json`` and PNGs to ``out_dir``.

    Parameters
    ----------
    out_dir : folder for the report
    image_size : stamp side in pixels
    seed : split and training seed
    max_epochs, patience : training length and early stopping on val loss
    threads : torch CPU threads (1 by default: on a shared, loaded machine two OpenMP threads
        made a training step 20x slower here)
    n_examples : test images shown with their captions and attention maps
    meteor : compute METEOR (default: when Java is installed)
    root : the Tux Paint stamps folder (default the Debian install)
    precise_bn_batches : recompute the CNN's BatchNorm statistics on this many training batches
        before each validation (``fit_generator``'s option; 0 = running averages)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(out, image_size, seed, max_epochs, patience, n_examples, meteor, root, threads,
                    precise_bn_batches)
    finally:
        torch.set_num_threads(previous_threads)


def _run(out: Path, image_size: int, seed: int, max_epochs: int, patience: int, n_examples: int,
         meteor: bool | None, root: str | None, threads: int, precise_bn_batches: int = 0) -> CaptioningReport:
    from polymodal.data.captions import TUXPAINT_STAMPS, load_tuxpaint_stamps
    from polymodal.data.vocab import Vocabulary
    from polymodal.alignment import plot_attention
    from polymodal.translation import GridImageEncoder, RetrievalCaptioner, ShowAndTell, ShowAttendTell, fit_generator

    t_all = time.perf_counter()
    metrics = ["bleu", "rouge_l", "cider_d"]
    if meteor is None:
        meteor = shutil.which("java") is not None
    if meteor:
        metrics.append("meteor")
    data = load_tuxpaint_stamps(root or TUXPAINT_STAMPS, image_size=image_size, seed=seed)
    parts = {s: data.subset(s) for s in ("train", "val", "test")}
    refs = {s: p.references() for s, p in parts.items()}
    tensors = {s: torch.tensor(p.images).permute(0, 3, 1, 2).float() / 255 for s, p in parts.items()}
    train_tok = _tokens([c[0] for c in parts["train"].captions])
    vocab = Vocabulary.build(train_tok, min_count=1)
    max_len = 16

    def encode(split: str) -> torch.Tensor:
        ids, _ = vocab.encode_batch(_tokens([c[0] for c in parts[split].captions]), max_len=max_len + 2)
        return torch.tensor(ids)

    def decode(split: str, res) -> dict[str, str]:
        return {k: " ".join(vocab.decode(s, strip_special=False)) for k, s in zip(parts[split].ids, res.sequences())}

    tokens = {s: encode(s) for s in ("train", "val")}
    scores, chosen, val_cider, captions, seconds = {}, {}, {}, {}, {}

    # 1. most frequent training caption (tokenised, so "A flower." and "a flower" count together)
    counts = Counter(" ".join(t) for t in train_tok)
    best = counts.most_common(1)[0][0]
    captions["most_frequent"] = {k: best for k in parts["test"].ids}
    chosen["most_frequent"] = {"caption": best, "count": counts[best]}

    # 2. Show-and-Tell and Show-Attend-Tell, decoding picked on val CIDEr-D
    models = {}
    for name, cls, kw in (("show_and_tell", ShowAndTell, {}), ("show_attend_tell", ShowAttendTell,
                                                                 {"attention_dim": 64, "doubly_stochastic": 0.1})):
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        model = cls(len(vocab), encoder=GridImageEncoder(image_size, widths=(16, 32, 64), grid=8),
                    embed_dim=64, hidden=128, dropout=0.3, **kw)
        fit = fit_generator(model, (tensors["train"], tokens["train"]), (tensors["val"], tokens["val"]),
                            max_epochs=max_epochs, batch_size=32, lr=2e-3, n_iter_no_change=patience, random_state=seed,
                            precise_bn_batches=precise_bn_batches, progress=name)
        best_setting, best_c = None, -1.0
        val_cider[name] = {}
        for beam in (1, 3, 5):
            for alpha in ((0.0,) if beam == 1 else (0.0, 0.7)):
                res = model.generate(tensors["val"], max_len=max_len, beam_size=beam, length_penalty=alpha)
                c = _score(decode("val", res), refs["val"], ("cider_d",))["cider_d"]
                val_cider[name][f"beam={beam},alpha={alpha}"] = c
                if c > best_c:
                    best_setting, best_c = (beam, alpha), c
        res = model.generate(tensors["test"], max_len=max_len, beam_size=best_setting[0], length_penalty=best_setting[1])
        captions[name] = decode("test", res)
        chosen[name] = {"beam_size": best_setting[0], "length_penalty": best_setting[1], "val_cider_d": best_c,
                        "best_epoch": fit.best_epoch, "epochs": fit.n_epochs, "best_val_loss": fit.best_val_loss,
                        "parameters": sum(p.numel() for p in model.parameters())}
        models[name] = (model, res)
        seconds[name] = time.perf_counter() - t0
        logger.info("%s: %d epochs (best %d, val loss %.3f), val CIDEr-D %.3f with beam %s, %.0f s", name, fit.n_epochs,
                    fit.best_epoch, fit.best_val_loss, best_c, best_setting, seconds[name])

    # 3. retrieval: feature space (PCA of pixels, or the attention captioner's CNN) and k picked on val
    t0 = time.perf_counter()
    feats = {}
    ptr, mean, basis = _pixel_features(parts["train"].images)
    feats["pixels_pca64"] = {"train": ptr, "val": _pixel_features(parts["val"].images, mean, basis)[0],
                             "test": _pixel_features(parts["test"].images, mean, basis)[0]}
    sat = models["show_attend_tell"][0]
    feats["sat_cnn"] = {s: _cnn_features(sat, tensors[s]) for s in ("train", "val", "test")}
    val_cider["retrieval"] = {}
    best_setting, best_c, best_r = None, -1.0, None
    for space, f in feats.items():
        for k in (1, 5, 10, 20):
            r = RetrievalCaptioner(k=k, metric="cosine", consensus="cider_d").fit(f["train"], parts["train"].captions)
            cands = dict(zip(parts["val"].ids, r.predict(f["val"])))
            c = _score(cands, refs["val"], ("cider_d",))["cider_d"]
            val_cider["retrieval"][f"{space},k={k}"] = c
            if c > best_c:
                best_setting, best_c, best_r = (space, k), c, r
    space, k = best_setting
    captions["retrieval"] = dict(zip(parts["test"].ids, best_r.predict(feats[space]["test"])))
    chosen["retrieval"] = {"features": space, "k": k, "val_cider_d": best_c}
    seconds["retrieval"] = time.perf_counter() - t0

    order = ["most_frequent", "retrieval", "show_and_tell", "show_attend_tell"]
    for name in order:
        scores[name] = _score(captions[name], refs["test"], metrics)

    # examples: images, captions, attention maps
    sat, sat_res = models["show_attend_tell"]
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(len(parts["test"].ids), size=min(n_examples, len(parts["test"].ids)), replace=False))
    seqs = [sat_res.sequences()[i] for i in idx]
    maps = sat.attention_maps(tensors["test"][idx], seqs)
    examples = []
    for j, i in enumerate(idx):
        key = parts["test"].ids[i]
        words = vocab.decode(seqs[j], strip_special=False) + ["<eos>"]
        png = out / f"attention_{j}.png"
        fig = plot_attention(maps[j].numpy(), image=parts["test"].images[i], query_labels=words, path=png,
                             columns=6, title=f"{key}: {parts['test'].captions[i][0]}")
        import matplotlib.pyplot as plt

        plt.close(fig)
        examples.append((key, png.name))
    seconds["total"] = time.perf_counter() - t_all
    report = CaptioningReport(scores, chosen, val_cider, captions, seconds)
    report.path = _write(report, out, order, examples, refs["test"], metrics, len(vocab),
                         {s: len(p) for s, p in parts.items()}, image_size, threads)
    return report


def _write(report: CaptioningReport, out: Path, order, examples, refs, metrics, vocab_size, sizes, image_size,
           threads) -> Path:
    cols = [m for m in METRIC_NAMES if m in report.scores[order[0]]]
    lines = ["# Captioning on the Tux Paint stamps", "",
             f"Data: Debian `tuxpaint-stamps-default`, PNG stamps with their English caption (one reference each), "
             f"{image_size}x{image_size} RGB; seeded split train/val/test = {sizes['train']}/{sizes['val']}/"
             f"{sizes['test']}; vocabulary {vocab_size} tokens (train, PTB-tokenised). Settings picked on val "
             f"CIDEr-D, test scored once with `polymodal.metrics.score_captions` (COCO conventions"
             f"{'' if 'meteor' in metrics else '; METEOR skipped: no Java'}). {threads} CPU threads, "
             f"{report.seconds['total']:.0f} s in all.", "",
             "| method | " + " | ".join(METRIC_NAMES[c] for c in cols) + " | chosen on val |",
             "|---|" + "---|" * (len(cols) + 1)]
    for name in order:
        s = report.scores[name]
        ch = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in report.chosen[name].items())
        lines.append(f"| {name} | " + " | ".join(f"{s[c]:.4f}" for c in cols) + f" | {ch} |")
    beats = report.attention_beats_baseline()
    lines += ["", f"**Show-Attend-Tell {'beats' if beats else 'does not beat'} the most-frequent-caption baseline on "
              f"test CIDEr-D** ({report.scores['show_attend_tell']['cider_d']:.4f} vs "
              f"{report.scores['most_frequent']['cider_d']:.4f}).", "",
              "Val CIDEr-D of every setting tried:", ""]
    for name, d in report.val_cider.items():
        lines.append(f"- {name}: " + ", ".join(f"{k}: {v:.4f}" for k, v in d.items()))
    lines += ["", "Training/selection seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in report.seconds.items()), "",
              "## Examples (test images)", ""]
    for key, png in examples:
        lines.append(f"**{key}** - reference: *{refs[key][0]}*  ")
        for name in order:
            lines.append(f"{name}: {report.captions[name][key]}  ")
        lines += ["", f"![attention maps of {key}]({png})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "scores.json").write_text(json.dumps({"scores": report.scores, "chosen": report.chosen,
                                                 "val_cider_d": report.val_cider, "seconds": report.seconds},
                                                indent=2), encoding="utf-8")
    return path


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``polymodal captioning-report``'s arguments."""
    from polymodal._cli import HelpFormatter, nonnegative_int, positive_int
    from polymodal.data.captions import TUXPAINT_STAMPS

    parser = subparsers.add_parser("captioning-report", formatter_class=HelpFormatter,
                                   help="train and score captioners on Tux Paint stamps, with a report",
                                   description="Tux Paint captioning: most-frequent baseline, retrieval, "
                                                 "Show-and-Tell, Show-Attend-Tell (BLEU, METEOR, ROUGE-L, CIDEr-D).")
    parser.add_argument("out_dir", help="folder for report.md, scores.json and the attention PNGs")
    parser.add_argument("--image-size", type=positive_int, default=32, help="image side in pixels")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="split and training seed")
    parser.add_argument("--max-epochs", type=positive_int, default=30, help="epoch limit")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR even when Java is installed")
    parser.add_argument("--stamps", default=None, help=f"Tux Paint stamps folder (default {TUXPAINT_STAMPS})")
    parser.add_argument("--precise-bn", type=nonnegative_int, default=0, metavar="N",
                        help="recompute BatchNorm statistics on N training batches before each validation (0: off)")
    return parser


def captioning_report_cli(argv: list[str]) -> int:
    """``polymodal captioning-report ARGV`` from Python; returns the exit status."""
    from polymodal._cli import run_command

    return run_command(add_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    """``polymodal captioning-report OUT_DIR``: train and compare the captioners on Tux Paint; write the report."""
    from polymodal._cli import check_output_dir

    check_output_dir(args.out_dir, "out_dir")
    rep = captioning_report(args.out_dir, image_size=args.image_size, seed=args.seed, max_epochs=args.max_epochs,
                            threads=args.threads, meteor=False if args.no_meteor else None, root=args.stamps,
                            precise_bn_batches=args.precise_bn)
    cols = [m for m in METRIC_NAMES if m in rep.scores["most_frequent"]]
    print(f"{'method':<18}" + "".join(f"{METRIC_NAMES[c]:>9}" for c in cols))
    for name, s in rep.scores.items():
        print(f"{name:<18}" + "".join(f"{s[c]:>9.4f}" for c in cols))
    print(f"report: {rep.path} ({rep.seconds['total']:.0f} s)")
    return 0
