"""Fusion methods on mfeat (UCI Multiple Features): accuracy, parameters,
training time and robustness, 5 seeds, one command.

Every neural model trains through the engine (``polymodal.training.fit``) on
the stratified 60/20/20 split of each seed (MultiBench's protocol), per-view
z-scoring with training statistics, per-view MLP encoders (128 -> 32) and an
MLP head (128) unless the row says otherwise, Adam 1e-3, batch 128, <= 30
epochs with early stopping on validation accuracy (patience 5).
MKL (EasyMKL over 5 kernels per view) and the single-kernel SVMs fit on the
training split; the SVM's kernel is chosen on the validation split. The
multimodal autoencoder (Ngiam et al. 2011) is fitted unsupervised on the
training split, then a logistic regression on its shared code.

TensorFusion runs on 2 and 3 views only: with six 32-dimensional encoders its
output would have 33^6 = 1.29e9 features per sample (and the head as many
weights per hidden unit), so it cannot run on all 6 views; LowRankFusion is
its factorised version on all 6.

Robustness (``polymodal.benchmarks.robustness``) on the test split: accuracy
vs Gaussian noise sigma in {0, 0.5, 1, 1.5, 2} (units of the training std of
each feature) on all views at once -> normalised AUC; and accuracy with each
view missing (zeros = training mean, present=False), mean and worst.

MultiBench (the peer) is not installable (no setup, hard-coded paths); its
numbers on the same protocol, measured on a machine like this one, are
printed from ANCHORS.md for comparison, not rerun here.

Run: ``python benchmarks/bench_fusion_mfeat.py [--seeds 5] [--out DIR]``
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

VIEWS = ["fou", "fac", "kar", "pix", "zer", "mor"]
LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0)
ENC = {"name": "mlp", "hidden": [128, 32]}
HEAD = {"name": "mlp", "hidden": [128]}
IDENT = {"name": "identity"}

# name -> (views, model config)
NEURAL = {
    "early (concat raw)": (VIEWS, {"encoder": IDENT, "fusion": {"name": "concat"}, "head": HEAD}),
    "late (mean)": (VIEWS, {"encoder": IDENT, "fusion": {"name": "late", "combine": "mean", "head": HEAD}, "head": None}),
    "hybrid": (VIEWS, {"encoder": IDENT, "fusion": {"name": "hybrid", "combine": "mean", "head": HEAD}, "head": None}),
    "concat": (VIEWS, {"encoder": ENC, "fusion": {"name": "concat"}, "head": HEAD}),
    "sum": (VIEWS, {"encoder": ENC, "fusion": {"name": "sum", "out_features": 64}, "head": HEAD}),
    "product": (VIEWS, {"encoder": ENC, "fusion": {"name": "product", "out_features": 64}, "head": HEAD}),
    "mlp joint": (VIEWS, {"encoder": ENC, "fusion": {"name": "mlp", "hidden": [128]}, "head": HEAD}),
    "low-rank (r=8)": (VIEWS, {"encoder": ENC, "fusion": {"name": "low_rank", "out_features": 64, "rank": 8}, "head": HEAD}),
    "multiplicative": (VIEWS, {"encoder": ENC, "fusion": {"name": "multiplicative", "out_features": 64, "primary": "pix"}, "head": HEAD}),
    "concat fou+pix": (["fou", "pix"], {"encoder": ENC, "fusion": {"name": "concat"}, "head": HEAD}),
    "tensor fou+pix": (["fou", "pix"], {"encoder": ENC, "fusion": {"name": "tensor"}, "head": HEAD}),
    "low-rank fou+pix (r=8)": (["fou", "pix"], {"encoder": ENC, "fusion": {"name": "low_rank", "out_features": 64, "rank": 8}, "head": HEAD}),
    "low-rank (r=8), modality dropout 0.3": (VIEWS, {"encoder": ENC, "fusion": {"name": "low_rank", "out_features": 64, "rank": 8, "modality_dropout": 0.3}, "head": HEAD}),
    "tensor fou+pix, modality dropout 0.3": (["fou", "pix"], {"encoder": ENC, "fusion": {"name": "tensor", "modality_dropout": 0.3}, "head": HEAD}),
    "tensor fou+kar+pix (enc 16)": (["fou", "kar", "pix"], {"encoder": {"name": "mlp", "hidden": [128, 16]}, "fusion": {"name": "tensor"}, "head": HEAD}),
}
MULTIBENCH = {  # ANCHORS.md, same protocol, 5 seeds (not rerun: not installable)
    "concat": 0.9815, "concat fou+pix": 0.9725, "tensor fou+pix": 0.9635, "low-rank fou+pix (r=8)": 0.9605,
}


def _quiet():
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_neural(name, views, model, seed, out_dir, max_epochs):
    from polymodal.benchmarks.robustness import robustness_curves
    from polymodal.training.engine import fit

    slug = "".join(c if c.isalnum() else "_" for c in name)
    config = {
        "name": f"{slug}-s{seed}", "seed": seed,
        "data": {"name": "mfeat", "modalities": views, "batch_size": 128},
        "model": model, "optim": {"name": "adam", "lr": 1e-3},
        "trainer": {"max_epochs": max_epochs, "patience": 5, "progress": False},
        "output_dir": str(out_dir / "runs"),
    }
    cpu = time.process_time()
    res = fit(config, overwrite=True)
    cpu = time.process_time() - cpu
    rob = robustness_curves(res.model, res.task, res.datamodule.test_dataloader(), noise_levels=LEVELS,
                            per_modality=False, relative=False, seed=seed)
    return dict(acc=res.test_metrics["accuracy"], params=res.n_parameters, seconds=res.train_seconds, cpu=cpu, rob=rob)


class _ArrayModel:
    """Score a numpy classifier on standardised views under the robustness protocol."""

    def __init__(self, predict, views):
        self.predict, self.views = predict, views

    def robustness(self, Xs, y, seed):
        from polymodal.benchmarks.robustness import RobustnessResult, curve_auc

        acc = lambda Z: float(np.mean(self.predict(Z) == y))  # noqa: E731
        clean = acc(Xs)
        curve = []
        for s in LEVELS:
            if s == 0:
                curve.append(clean)
                continue
            rng = np.random.default_rng(seed)
            curve.append(acc({v: x + s * rng.standard_normal(x.shape) for v, x in Xs.items()}))
        missing = {v: acc(dict(Xs, **{v: np.zeros_like(Xs[v])})) for v in self.views}
        return RobustnessResult("accuracy", list(LEVELS), clean, {"all": curve}, missing,
                                {"all": curve_auc(LEVELS, curve)}, relative=False)


def run_kernel_and_ae(seed):
    """MKL, best single-kernel SVM (chosen on validation), multimodal AE + logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    from polymodal.data import MultimodalDataModule
    from polymodal.fusion.mkl import MKLClassifier
    from polymodal.representation.joint import MultimodalAutoencoder

    dm = MultimodalDataModule("mfeat", modalities=VIEWS, seed=seed)
    tr, va, te = ({v: np.asarray(s.modalities[v], dtype=np.float64) for v in VIEWS} for s in (dm.train_set, dm.val_set, dm.test_set))
    ytr, yva, yte = dm.train_set.target, dm.val_set.target, dm.test_set.target
    out = {}

    t0, c0 = time.perf_counter(), time.process_time()
    mkl = MKLClassifier(standardize=False).fit([tr[v] for v in VIEWS], ytr)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    model = _ArrayModel(lambda Z: mkl.predict([Z[v] for v in VIEWS]), VIEWS)
    rob = model.robustness(te, yte, seed)
    out["MKL (EasyMKL, 30 kernels)"] = dict(acc=rob.clean, params=int(mkl.svc_.support_.size), seconds=secs, cpu=cpu, rob=rob,
                                            weights=dict(zip(mkl.kernel_names_, mkl.kernel_weights_)))

    # every base kernel alone: SVC on it, pick by validation accuracy
    Ktr = mkl.base_kernels([tr[v] for v in VIEWS])
    Kva = mkl.base_kernels([va[v] for v in VIEWS])
    Kte = mkl.base_kernels([te[v] for v in VIEWS])
    best = None
    t0, c0 = time.perf_counter(), time.process_time()
    for r, name in enumerate(mkl.kernel_names_):
        svc = SVC(kernel="precomputed", C=1.0).fit(Ktr[r], ytr)
        val, test = float(np.mean(svc.predict(Kva[r]) == yva)), float(np.mean(svc.predict(Kte[r]) == yte))
        if best is None or val > best[0]:
            best = (val, test, name, int(svc.support_.size))
    secs, cpu = (time.perf_counter() - t0) / len(mkl.kernel_names_), (time.process_time() - c0) / len(mkl.kernel_names_)
    view = VIEWS[int(best[2].split(":")[0].removeprefix("view"))]
    out["best single-kernel SVM"] = dict(acc=best[1], params=best[3], seconds=secs, cpu=cpu, rob=None,
                                         kernel=best[2].replace(best[2].split(":")[0], view))

    t0, c0 = time.perf_counter(), time.process_time()
    ae = MultimodalAutoencoder(hidden=64, shared=64, max_epochs=20, random_state=seed).fit(tr)  # {view: array} form
    clf = LogisticRegression(max_iter=2000).fit(ae.transform(tr), ytr)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    model = _ArrayModel(lambda Z: clf.predict(ae.transform(Z)), VIEWS)
    rob = model.robustness(te, yte, seed)
    n_params = sum(p.numel() for p in ae.network_.parameters()) + clf.coef_.size + clf.intercept_.size
    out["multimodal AE + logreg"] = dict(acc=rob.clean, params=n_params, seconds=secs, cpu=cpu, rob=rob)
    # cross-view reconstruction of the removed pix view, vs mean imputation
    rec = ae.reconstruct({v: te[v] for v in VIEWS if v != "pix"})["pix"]
    out["multimodal AE + logreg"]["recon"] = (float(np.mean((rec - te["pix"]) ** 2)), float(np.mean(te["pix"] ** 2)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--out", default="reports/bench_fusion_mfeat")
    parser.add_argument("--only", nargs="*", help="subset of row names")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import polymodal.encoders  # noqa: F401  (registers the parts)
    import polymodal.fusion  # noqa: F401
    import polymodal.training.engine  # noqa: F401  (imports lightning, which sets its log levels)
    from polymodal.benchmarks.robustness import plot_robustness

    _quiet()

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {}
    views_of: dict[str, list[str]] = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    for seed in range(args.seeds):
        for name, (views, model) in NEURAL.items():
            if args.only and name not in args.only:
                continue
            runs.setdefault(name, []).append(run_neural(name, views, model, seed, out_dir, args.max_epochs))
            views_of[name] = views
        if not args.only or any("MKL" in o or "AE" in o for o in args.only):
            for name, r in run_kernel_and_ae(seed).items():
                runs.setdefault(name, []).append(r)
                views_of[name] = VIEWS
        print(f"seed {seed} done, {time.perf_counter() - start:.0f} s", flush=True)

    header = ("| model | views | test accuracy (mean ± std) | params | train s (wall) | train CPU s | noise AUC (all views) "
              "| one view missing: mean / worst | MultiBench (ANCHORS) | ratio |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rs in runs.items():
        acc = np.array([r["acc"] for r in rs])
        robs = [r["rob"] for r in rs if r["rob"] is not None]
        auc = f"{np.mean([r.auc['all'] for r in robs]):.4f}" if robs else "-"
        miss = (f"{np.mean([np.mean(list(r.missing.values())) for r in robs]):.4f} / "
                f"{np.mean([min(r.missing.values()) for r in robs]):.4f}") if robs else "-"
        peer = MULTIBENCH.get(name)
        nv = len(views_of[name])
        lines.append(f"| {name} | {nv if nv == 6 else '+'.join(views_of[name])} | {acc.mean():.4f} ± {acc.std():.4f} "
                     f"| {int(np.mean([r['params'] for r in rs])):,} | {np.mean([r['seconds'] for r in rs]):.2f} "
                     f"| {np.mean([r['cpu'] for r in rs]):.2f} | {auc} "
                     f"| {miss} | {peer if peer else '-'} | {f'{acc.mean() / peer:.3f}' if peer else '-'} |")
    table = "\n".join(lines)
    notes = []
    if "best single-kernel SVM" in runs:
        notes.append("best single kernel (chosen on validation) per seed: "
                     + ", ".join(r["kernel"] for r in runs["best single-kernel SVM"]))
        notes.append("params for SVMs/MKL = number of support vectors; the single-kernel SVM's time is per kernel")
    if "multimodal AE + logreg" in runs:
        rec = np.array([r["recon"] for r in runs["multimodal AE + logreg"]])
        notes.append(f"AE reconstruction of the removed pix view from the other 5: MSE {rec[:, 0].mean():.4f} "
                     f"vs mean imputation {rec[:, 1].mean():.4f} (standardised units, 5 seeds)")
    if "MKL (EasyMKL, 30 kernels)" in runs:
        w = runs["MKL (EasyMKL, 30 kernels)"][0]["weights"]
        per_view = {v: sum(x for k, x in w.items() if k.startswith(f"view{i}:")) for i, v in enumerate(VIEWS)}
        notes.append("MKL kernel weight per view (seed 0): " + ", ".join(f"{v} {x:.3f}" for v, x in per_view.items()))
    plot = plot_robustness({n: rs[0]["rob"] for n, rs in runs.items() if rs[0]["rob"] is not None},
                           out_dir / "robustness_seed0.png", title="mfeat, seed 0: accuracy under noise / missing views")
    report = (f"{table}\n\n" + "\n".join(f"- {n}" for n in notes) + f"\n\nrobustness plot: {plot}\n"
              f"wall time: {time.perf_counter() - start:.0f} s, "
              f"CPU time of this process: {time.process_time() - cpu_start:.0f} s (one thread)\n")
    (out_dir / "table.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
