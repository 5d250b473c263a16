"""How good must an English-vs-foreign detector be for the AV-digits fusion target? (issue 18)

The target asks the best fusion model to stay within 0.005 of the better modality in every cell of the
robustness grid. On the "other language" row the audio is real speech of another language, which a
digit classifier answers confidently and wrongly; the contaminated product of experts
(:class:`~polymodal.fusion.ContaminatedProductOfExperts`) discounts it by an outlier probability ``eps``
read from the audio expert's confidence, and the confidence separates real English from real foreign
speech with an AUROC of only about 0.95.

This script replays a ``bench_av_digits.py --dump FILE`` run with a *simulated* detector score added to
``eps``: ``d ~ N(delta, 1)`` on foreign speech, ``N(0, 1)`` on English (AUROC ``Phi(delta / sqrt 2)``),
independent of the expert's confidence given the language (optimistic: a real detector's errors
correlate with the classifier's). For each ``delta`` the contamination ``(a, b, w)`` is refitted per seed
exactly as the benchmark fits it (maximum likelihood on its fit set: held-out voices and held-out
languages, each with a clean and a noisy validation image, the groups weighing the same), and the whole
test grid is scored. The row "none" is the benchmark's contaminated PoE from the confidence alone, refitted:
it reproduces the benchmark's numbers of a ``--contamination-scores none`` run (the default before session
20, which added Whisper's digit log-probability as a real detector score).

    python benchmarks/bench_av_digits.py --contamination-scores none --dump /tmp/av.pt
    python benchmarks/av_digits_detection_ceiling.py /tmp/av.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm

from polymodal.fusion import ContaminatedProductOfExperts


def accuracy(log_p: torch.Tensor, target: torch.Tensor) -> float:
    return float((log_p.argmax(1) == target).float().mean())


def simulated_scores(audio: torch.Tensor, foreign: torch.Tensor, delta: float, gen: torch.Generator) -> torch.Tensor:
    """``(N, 1)`` detector scores: ``N(delta, 1)`` where ``foreign``, ``N(0, 1)`` elsewhere, one draw per
    recording (rows with the same ``audio`` logits get the same score, as a real detector would give them:
    the grid pairs each recording with many images)."""
    _, inverse = torch.unique(audio, dim=0, return_inverse=True)
    draw = torch.randn(int(inverse.max()) + 1, generator=gen, dtype=torch.float64)[inverse]
    return (draw + delta * foreign.double())[:, None]


def replay_seed(run: dict, delta: float | None, seed: int) -> tuple[dict[str, float], float]:
    """Margins ``{cell: accuracy - max(image only, audio only)}`` of the contaminated PoE refitted with a
    simulated detector of separation ``delta`` (None: no detector), and the detector's AUROC on clean real
    English vs other language (image clean cells)."""
    gen = torch.Generator().manual_seed(seed)
    scored = delta is not None
    pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"],
                                      detector_scores={"audio": 1} if scored else None)
    pe.log_temperature.copy_(torch.log(torch.tensor([run["temperatures"][m] for m in pe.modalities])))
    fit = run["contamination fit"]
    scores = {"audio": simulated_scores(fit["logits"]["audio"], fit["foreign"], delta, gen)} if scored else None
    pe.fit_contamination(fit["logits"], fit["target"], sample_weight=fit["weight"], scores=scores)
    margins, detector = {}, {}
    for cell, c in run["grid"].items():
        y, present = c["target"], {"image": c["image present"], "audio": c["audio present"]}
        logits = {"image": c["image"], "audio": c["audio"]}
        d = simulated_scores(c["audio"], c["foreign"], delta, gen) if scored else None
        fused = pe(logits, present, scores={"audio": d} if scored else None)
        best = max(accuracy(c["image"], y) if bool(c["image present"].any()) else 0.1,
                   accuracy(c["audio"], y) if bool(c["audio present"].any()) else 0.1)
        margins[cell] = accuracy(fused, y) - best
        if cell in ("clean | clean", "other language | clean"):
            # higher = more likely foreign: the simulated score, or the expert's own outlier probability
            detector[cell] = d[:, 0].numpy() if scored else pe.contamination(logits)["audio"].double().numpy()
    english, foreign = detector["clean | clean"], detector["other language | clean"]
    # AUROC = P(a foreign score exceeds an English one), ties half
    auroc = float((foreign[:, None] > english[None, :]).mean() + 0.5 * (foreign[:, None] == english[None, :]).mean())
    return margins, auroc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path, help="a bench_av_digits.py --dump FILE")
    parser.add_argument("--deltas", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0, 5.0],
                        help="separations of the simulated detector (foreign mean, English 0, unit variance)")
    parser.add_argument("--repeats", type=int, default=10,
                        help="independent detector draws per seed, averaged (the grid has 20 English recordings: one "
                             "draw's margins are noisy, and the worst cell of noisy margins is biased low)")
    parser.add_argument("--tolerance", type=float, default=0.005)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if not args.dump.is_file():
        parser.error(f"no dump at {args.dump}: run bench_av_digits.py --dump {args.dump} first")
    runs = torch.load(args.dump, weights_only=True)
    seeds = sorted(runs)
    print(f"{len(seeds)} seeds from {args.dump}; each simulated detector drawn {args.repeats} times per seed, "
          "margins averaged over seeds and draws\n")
    print("| detector | AUROC foreign vs English (Tux Paint, simulated: Phi(delta / sqrt 2)) | cells within "
          f"{args.tolerance} | worst cell | other language, clean / noisy image | clean audio, noisy image |")
    print("|---|---|---|---|---|---|")
    for delta in [None, *args.deltas]:
        draws = 1 if delta is None else args.repeats
        per_seed = [replay_seed(runs[s], delta, 1000 * r + s) for s in seeds for r in range(draws)]
        cells = list(per_seed[0][0])
        mean = {c: float(np.mean([m[c] for m, _ in per_seed])) for c in cells}
        worst = min(mean, key=mean.get)
        name = "none (the expert's confidence only)" if delta is None else \
            f"simulated, delta {delta:g} (AUROC {norm.cdf(delta / np.sqrt(2)):.4f})"
        print(f"| {name} | {np.mean([a for _, a in per_seed]):.4f} | "
              f"{sum(v >= -args.tolerance for v in mean.values())} of {len(cells)} | {mean[worst]:+.3f} ({worst}) | "
              f"{mean['other language | clean']:+.3f} / {mean['other language | noisy']:+.3f} | "
              f"{mean['clean | noisy']:+.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
