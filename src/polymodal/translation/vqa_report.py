"""One command: generate the shapes VQA data, train the baseline (product and concat fusion), report per-type accuracy."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import torch

from polymodal._cli import HelpFormatter, nonnegative_int, positive_int, run_command
from polymodal.translation.vqa import FUSIONS, VQABaseline, VQAScores, vqa_accuracy, vqa_tensors

__all__ = ["VQAReport", "vqa_report", "vqa_report_cli"]


@dataclass
class VQAReport:
    """Test scores per fusion, epochs trained and seconds."""

    scores: dict[str, VQAScores]
    epochs: dict[str, int]
    seconds: dict[str, float]
    n_questions: dict[str, int]

    def table(self) -> str:
        """Markdown table: accuracy per question type per fusion, and the majority-answer baseline."""
        first = next(iter(self.scores.values()))
        types = list(first.per_type)
        lines = ["| model | all | " + " | ".join(types) + " |", "|---|---|" + "---|" * len(types)]
        for name, s in self.scores.items():
            lines.append(f"| {name} | {s.accuracy:.3f} | " + " | ".join(f"{s.per_type[t]:.3f}" for t in types) + " |")
        n = sum(first.n_per_type.values())
        overall = sum(first.majority_per_type[t] * first.n_per_type[t] for t in types) / n
        lines.append(f"| majority answer per type | {overall:.3f} | "
                     + " | ".join(f"{first.majority_per_type[t]:.3f}" for t in types) + " |")
        return "\n".join(lines)


def vqa_report(n_images: int = 4000, seed: int = 0, fusions=FUSIONS, max_epochs: int = 20, patience: int = 8,
               image_size: int = 36, threads: int = 1) -> VQAReport:
    """Generate :func:`~polymodal.data.vqa_shapes.make_vqa_shapes` (``n_images``, seeded), train
    :class:`VQABaseline` per fusion on train (early stopping on val loss), score test per question type."""
    from polymodal.data.vocab import Vocabulary
    from polymodal.data.vqa_shapes import make_vqa_shapes
    from polymodal.translation.training import fit_generator

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = make_vqa_shapes(n_images, image_size=image_size, seed=seed)
        vocab = Vocabulary.build([data.questions[i] for i in data.indices("train")])
        parts = {s: vqa_tensors(data, s, vocab) for s in ("train", "val", "test")}
        tr, te = data.indices("train"), data.indices("test")
        scores, epochs, seconds = {}, {}, {}
        for fusion in fusions:
            torch.manual_seed(seed)
            model = VQABaseline(len(vocab), len(data.answer_vocab), image_size=image_size, fusion=fusion,
                                fused=128, dropout=0.3)
            t0 = time.perf_counter()
            fit = fit_generator(model, parts["train"], parts["val"], max_epochs=max_epochs, batch_size=64, lr=2e-3,
                                n_iter_no_change=patience, random_state=seed, progress=f"vqa {fusion}")
            seconds[fusion] = time.perf_counter() - t0
            epochs[fusion] = fit.n_epochs
            scores[fusion] = vqa_accuracy(model, parts["test"][0], parts["test"][1], data.question_type[te],
                                          data.answers[tr], data.question_type[tr])
        return VQAReport(scores, epochs, seconds, {s: len(data.indices(s)) for s in ("train", "val", "test")})
    finally:
        torch.set_num_threads(previous)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``polymodal vqa-shapes``'s arguments."""
    p = subparsers.add_parser("vqa-shapes", formatter_class=HelpFormatter,
                              help="the VQA baseline on generated shape scenes, accuracy per question type",
                              description="VQA baseline on generated coloured shapes.")
    p.add_argument("--images", type=positive_int, default=4000, help="scenes to generate")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="data and training seed")
    p.add_argument("--max-epochs", type=positive_int, default=20, help="epoch limit")
    p.add_argument("--fusion", nargs="+", default=list(FUSIONS), choices=list(FUSIONS),
                   help=f"fusions to train (default: all of {list(FUSIONS)})")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    return p


def vqa_report_cli(argv: list[str]) -> int:
    """``polymodal vqa-shapes ARGV`` from Python; returns the exit status."""
    return run_command(add_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    """``polymodal vqa-shapes``: train the VQA baseline on the generated shapes data and print per-type accuracy."""
    rep = vqa_report(args.images, args.seed, args.fusion, args.max_epochs, threads=args.threads)
    print(rep.table())
    print(f"questions train/val/test: {rep.n_questions}; epochs {rep.epochs}; seconds "
          + ", ".join(f"{k} {v:.0f}" for k, v in rep.seconds.items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(vqa_report_cli(sys.argv[1:]))
