"""AV-digits: unimodal vs fused models on synthetic and real speech, accuracy vs SNR, augmentation.

Data: a built AV-digits folder (``polymodal datasets build av-digits`` or
``python scripts/build_av_digits.py``): MNIST images with 75% of their PCA
energy removed, paired **by class** with spoken digits; training/validation
speech is synthetic (espeak-ng, flite) with augmentation (speed, band limits,
reverberation, shift, noise), test speech is (a) held-out synthetic speakers
and (b) 20 human English recordings from Tux Paint (2 speakers x 10 digits,
each paired with ``pairs_per_recording`` MNIST test images).

Models (one seed unless ``--seeds``; Adam 2e-3, batch 128, ``--epochs``
epochs, the epoch with the best validation accuracy is kept):

* image only: LeNet (16, 32 channels, 64 hidden) -> linear;
* audio only: AudioCNN (16, 32, 64 channels) on the 112 x 112 log-mel image
  average-pooled 4x to 28 x 28 (CPU budget) -> linear;
* early: raw pixels of both (784 + 784) concatenated -> MLP (256) (identity encoders + concat);
* late: mean of the two unimodal models' class probabilities (sum rule);
* concat: LeNet + AudioCNN features (64 each) concatenated -> MLP (64);
* tensor: TensorFusion of 16-d encoder outputs (17 x 17 = 289) -> MLP (64);
* low_rank: LowRankFusion (out 64, rank 8) of 64-d encoder outputs -> MLP (64).

Augmentation effect: audio only and concat trained again on the same pairs
without audio augmentation (``variants/train_noaug``).

Run: ``python benchmarks/bench_av_digits.py [--data DIR] [--epochs 6] [--seeds 1]``

Measured (seed 0 build, 8000 + 1000 pairs, ``--epochs 6``, one seed; 2-core
shared CPU: 822 s CPU, 2018 s wall under load average 6-14), test accuracy:

| model | synthetic | real_en | real_other | real_en at 0 dB |
|---|---|---|---|---|
| image only | 0.939 | 0.942 | 0.944 | 0.942 |
| audio only | 0.945 | 0.721 | 0.158 | 0.486 |
| late (mean prob.) | 0.988 | 0.944 | 0.805 | 0.953 |
| early (raw pixels, MLP) | 0.825 | 0.696 | 0.238 | 0.265 |
| concat | 0.997 | 0.985 | 0.521 | 0.907 |
| tensor | 0.904 | 0.853 | 0.170 | 0.196 |
| low_rank | 0.986 | 0.957 | 0.442 | 0.745 |
| audio only, no aug. | 0.991 | 0.615 | 0.130 | 0.100 |
| concat, no aug. | 0.991 | 0.721 | 0.267 | 0.135 |

real_en has only 20 distinct recordings (each paired with 50 images), so its
audio-only accuracy moves in steps of 0.05. Fusion helps on English speech
(concat 0.985 > image 0.942 > audio 0.721) and hurts where the audio is
out of distribution: other languages (concat 0.521 < image 0.944) and, without
augmentation, real English (concat 0.721 < image 0.942).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from polymodal.data.av_digits import av_digits_dir, av_digits_variants, load_av_digits
from polymodal.encoders.audio import AudioCNN
from polymodal.encoders.image import LeNet
from polymodal.encoders.mlp import MLP, Identity
from polymodal.fusion.intermediate import ConcatFusion
from polymodal.representation import LowRankFusion, TensorFusion
from polymodal.training.model import MultimodalModel

POOL = 4  # 112 x 112 spectrogram -> 28 x 28


def tensors(dataset) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    image = torch.as_tensor(np.asarray(dataset.modalities["image"]), dtype=torch.float32)
    audio = torch.as_tensor(np.asarray(dataset.modalities["audio"]), dtype=torch.float32)
    audio = F.avg_pool2d(audio, POOL)
    return {"image": image, "audio": audio}, torch.as_tensor(dataset.target)


def unimodal(modality: str, width: int = 64) -> MultimodalModel:
    encoder = LeNet(784, channels=(16, 32), hidden=(width,)) if modality == "image" else \
        AudioCNN(28 * 28, channels=(16, 32, 64), out_features=width)
    fusion = ConcatFusion({modality: width})
    return MultimodalModel({modality: encoder}, fusion, MLP(width, 10, hidden=()))


def fused(kind: str) -> MultimodalModel:
    if kind == "early":
        encoders = {"image": Identity(784), "audio": Identity(784)}
        return MultimodalModel(encoders, ConcatFusion({"image": 784, "audio": 784}), MLP(1568, 10, hidden=(256,)))
    width = 16 if kind == "tensor" else 64
    encoders = {"image": LeNet(784, channels=(16, 32), hidden=(width,)),
                "audio": AudioCNN(28 * 28, channels=(16, 32, 64), out_features=width)}
    sizes = {"image": width, "audio": width}
    fusion = {"concat": lambda: ConcatFusion(sizes), "tensor": lambda: TensorFusion(sizes),
              "low_rank": lambda: LowRankFusion(sizes, out_features=64, rank=8)}[kind]()
    return MultimodalModel(encoders, fusion, MLP(fusion.out_features, 10, hidden=(64,)))


def select(inputs: dict[str, torch.Tensor], model: MultimodalModel) -> dict[str, torch.Tensor]:
    return {m: inputs[m] for m in model.encoders}


@torch.no_grad()
def probabilities(model: MultimodalModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    x = select(inputs, model)
    n = len(next(iter(x.values())))
    out = [torch.softmax(model({m: v[i:i + 512] for m, v in x.items()}).logits, -1) for i in range(0, n, 512)]
    return torch.cat(out)


def train(model: MultimodalModel, train_set, valid_set, epochs: int, seed: int) -> tuple[MultimodalModel, float]:
    torch.manual_seed(seed)
    (x, y), (vx, vy) = train_set, valid_set
    x = select(x, model)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    best, best_state, start = -1.0, None, time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=generator).split(128):
            loss = F.cross_entropy(model({m: v[idx] for m, v in x.items()}).logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        accuracy = float((probabilities(model, vx).argmax(1) == vy).float().mean())
        if accuracy > best:
            best, best_state = accuracy, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    print(f"  trained {type(model.fusion).__name__} on {sorted(model.encoders)}: best valid acc {best:.3f}, "
          f"{seconds:.0f} s", flush=True)
    return model, seconds


def confusion(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (target.numpy(), pred.numpy()), 1)
    return matrix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=av_digits_dir())
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None, help="use only the first N training pairs")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = parser.parse_args(argv)
    if not (args.data / "manifest.json").is_file():
        print(f"no AV-digits build at {args.data}: run `python scripts/build_av_digits.py --out {args.data}`")
        return 1
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    variants = av_digits_variants(args.data)
    train_set = tensors(load_av_digits(args.data, split="train", mmap=False))
    if args.train_limit:
        train_set = ({m: v[: args.train_limit] for m, v in train_set[0].items()}, train_set[1][: args.train_limit])
    valid_set = tensors(load_av_digits(args.data, split="valid", mmap=False))
    tests = {"real_en": tensors(load_av_digits(args.data, split="test", mmap=False))}
    for name, info in variants.items():
        if info["part"] == "test":
            tests[name] = tensors(load_av_digits(args.data, split="test", variant=name, mmap=False))
    noaug = None
    if "train_noaug" in variants:
        noaug = tensors(load_av_digits(args.data, split="train", variant="train_noaug", mmap=False))
        if args.train_limit:
            noaug = ({m: v[: args.train_limit] for m, v in noaug[0].items()}, noaug[1][: args.train_limit])
    print(f"train {len(train_set[1])}, valid {len(valid_set[1])}, tests: "
          + ", ".join(f"{k} {len(v[1])}" for k, v in tests.items()))

    results: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, float] = {}
    params: dict[str, int] = {}
    confusions: dict[str, np.ndarray] = {}

    def record(name, probs_by_test):
        for test, probs in probs_by_test.items():
            pred = probs.argmax(1)
            results.setdefault(name, {}).setdefault(test, []).append(float((pred == tests[test][1]).float().mean()))
            if test == "real_en":
                confusions[name] = confusions.get(name, 0) + confusion(pred, tests[test][1])

    for seed in range(args.seeds):
        uni = {}
        for modality in ("image", "audio"):
            model, secs = train(unimodal(modality), train_set, valid_set, args.epochs, seed)
            uni[modality] = {t: probabilities(model, v[0]) for t, v in tests.items()}
            record(f"{modality} only", uni[modality])
            seconds[f"{modality} only"] = seconds.get(f"{modality} only", 0) + secs
            params[f"{modality} only"] = model.n_parameters()
        record("late (mean prob.)", {t: (uni["image"][t] + uni["audio"][t]) / 2 for t in tests})
        params["late (mean prob.)"] = params["image only"] + params["audio only"]
        seconds["late (mean prob.)"] = seconds["image only"] + seconds["audio only"]
        for kind in ("early", "concat", "tensor", "low_rank"):
            model, secs = train(fused(kind), train_set, valid_set, args.epochs, seed)
            record(kind, {t: probabilities(model, v[0]) for t, v in tests.items()})
            seconds[kind] = seconds.get(kind, 0) + secs
            params[kind] = model.n_parameters()
        if noaug is not None:
            for name, factory in (("audio only, no aug.", lambda: unimodal("audio")), ("concat, no aug.",
                                                                                     lambda: fused("concat"))):
                model, secs = train(factory(), noaug, valid_set, args.epochs, seed)
                record(name, {t: probabilities(model, v[0]) for t, v in tests.items()})
                seconds[name] = seconds.get(name, 0) + secs
        print(f"seed {seed} done", flush=True)

    def cell(values):
        return f"{np.mean(values):.3f}" + (f" +- {np.std(values):.3f}" if len(values) > 1 else "")

    main_tests = ["synthetic", "real_en", "real_other"]
    print("\n## Test accuracy (synthetic = held-out synthetic speakers; real_en = Tux Paint English; "
          "real_other = Tux Paint, 20 other languages)\n")
    print("| model | " + " | ".join(main_tests) + " | params | train s |")
    print("|---" * (len(main_tests) + 3) + "|")
    for name, by_test in results.items():
        row = " | ".join(cell(by_test[t]) for t in main_tests if t in by_test)
        print(f"| {name} | {row} | {params.get(name, params.get(name.split(',')[0], 0)):,} | "
              f"{seconds[name] / args.seeds:.0f} |")
    snrs = sorted({float(k.split("snr")[1].replace("m", "-")) for k in tests if "snr" in k}, reverse=True)
    for source in ("real_en", "synthetic"):
        print(f"\n## Accuracy vs audio SNR ({source}, pink noise; 'clean' = no added noise)\n")
        cols = ["clean"] + [f"{s:g} dB" for s in snrs]
        keys = [source] + [f"{source}_snr{s:g}".replace("-", "m") for s in snrs]
        print("| model | " + " | ".join(cols) + " |")
        print("|---" * (len(cols) + 1) + "|")
        for name, by_test in results.items():
            print(f"| {name} | " + " | ".join(cell(by_test[k]) for k in keys) + " |")
    for name in ("audio only", "late (mean prob.)", "concat"):
        print(f"\n## Confusion matrix, {name}, real_en (rows: true digit, columns: predicted)\n")
        print("    " + " ".join(f"{d:>4}" for d in range(10)))
        for d, row in enumerate(confusions[name]):
            print(f"{d:>3} " + " ".join(f"{v:>4}" for v in row))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "seconds": seconds, "params": params,
                                         "confusions": {k: v.tolist() for k, v in confusions.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
