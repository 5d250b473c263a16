"""Fusion (tutorial section "fusion"): model-agnostic and model-based fusion,
the shortest end-to-end use of each.

Model-agnostic (Baltrusaitis, Ahuja & Morency, TPAMI 2019, Sec. 6.1), on three
weak views of mfeat (UCI multiple features, handwritten digits: Fourier
coefficients ``fou``, Zernike moments ``zer``, morphology ``mor``), each trained
with :func:`polymodal.training.engine.fit` from a config:

* early fusion: the views concatenated, one MLP;
* late fusion: one MLP per view, probabilities averaged (``combine="mean"``) or
  pooled with weights learned on the validation split (``combine="learned"``);
* hybrid fusion: late fusion plus an early-fusion MLP as one more voter.

The unimodal accuracies are those of late fusion's per-view branches. Each model
is also scored with one view missing at test time (``evaluate(..., drop=(view,))``):
late fusion renormalises over the views present, early fusion sees zeros.

Model-based (Sec. 6.2):

* multiple kernel learning: EasyMKL (Aiolli & Donini, Neurocomputing 2015),
  :class:`polymodal.fusion.MKLClassifier`, a linear and an RBF kernel per view;
* sequential neural fusion on the seeded interaction sequences of
  :mod:`polymodal.data.sequences_synthetic` (label = XOR of the signs of one
  event per modality at unknown, different steps: neither modality alone
  carries information): early-fusion LSTM and MV-LSTM (Rajagopalan, Morency,
  Baltrusaitis & Goecke, ECCV 2016), through ``fit`` with the ``steps`` encoder;
* graphical fusion on the same sequences: the multi-view hidden CRF with
  coupled views (Song, Morency & Davis, CVPR 2012),
  :class:`polymodal.fusion.MultiViewHCRF` (a scikit-learn classifier of the views),
  trained with L-BFGS.

    python examples/08_fusion.py [--fast] [--out reports/examples/fusion]

Writes ``accuracy.png`` (bar chart, unimodal and fused), ``missing_modality.png``
and ``results.json``.

Measured (full run, re-run 2026-12-05; 16 s of work, 23 s wall with imports on 2 CPU cores,
20 s CPU): unimodal fou 0.808, zer 0.800, mor 0.702; early 0.892, late (mean)
0.870, late (learned weights) 0.865, hybrid 0.887, EasyMKL 0.875 (400 test
digits). Worst case with one view missing: early 0.748 (without zer), late
(mean) 0.828, late (learned) 0.843, hybrid 0.835. Interaction sequences (270
test): early-fusion LSTM 0.978, MV-LSTM 0.996, MV-HCRF (coupled) 0.885; with
either modality missing all fall to chance (0.46-0.50).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from polymodal.data import load_dataset, make_interaction_sequences  # noqa: E402
from polymodal.fusion import MKLClassifier, MultiViewHCRF  # noqa: E402  (also registers the fusion models)
from polymodal.training.engine import evaluate, fit, predict  # noqa: E402

VIEWS = ["fou", "zer", "mor"]
MLP = {"name": "mlp", "hidden": [128]}
MODEL_AGNOSTIC = {
    "early": {"encoder": {"name": "identity"}, "fusion": {"name": "concat"}, "head": MLP},
    "late (mean)": {"encoder": {"name": "identity"}, "fusion": {"name": "late", "combine": "mean", "head": MLP},
                    "head": None},
    "late (learned weights)": {"encoder": {"name": "identity"},
                               "fusion": {"name": "late", "combine": "learned", "head": MLP}, "head": None},
    "hybrid": {"encoder": {"name": "identity"}, "fusion": {"name": "hybrid", "combine": "mean", "head": MLP},
               "head": None},
}
SEQUENTIAL = {
    "early-fusion LSTM": {"name": "early_lstm", "hidden": 32},
    "MV-LSTM": {"name": "mv_lstm", "hidden": 24, "topology": "fully_connected"},
}


def run_name(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label)


def model_agnostic(runs: Path, epochs: int) -> tuple[dict, dict, dict, object]:
    """Fit early/late/hybrid on mfeat; accuracies, accuracies with a view missing, unimodal."""
    accuracy, missing, unimodal = {}, {}, {}
    datamodule = None
    for label, model in MODEL_AGNOSTIC.items():
        config = {"name": run_name(label), "seed": 0, "output_dir": str(runs), "model": model,
                  "data": {"name": "mfeat", "modalities": VIEWS, "batch_size": 64},
                  "trainer": {"max_epochs": epochs, "patience": 5, "progress": False}}
        result = fit(config, overwrite=True)
        datamodule = result.datamodule
        test = datamodule.test_dataloader()
        accuracy[label] = result.test_metrics["accuracy"]
        missing[label] = {v: evaluate(result.model, result.task, test, drop=(v,))["accuracy"] for v in VIEWS}
        if label == "late (mean)":  # its branches are the unimodal classifiers
            output, target = predict(result.model, test)
            unimodal = {v: float((output.branch_logits[v].argmax(1) == target).float().mean()) for v in VIEWS}
        if label == "late (learned weights)":
            weights = torch.nn.functional.softplus(result.model.fusion.learned_theta)
            missing["learned weights"] = dict(zip(VIEWS, weights.tolist()))
    return accuracy, missing, unimodal, datamodule


def kernel_fusion(datamodule, max_iter: int) -> dict:
    """EasyMKL on the same train/test split as the neural models."""
    ds = load_dataset("mfeat")
    train, test = datamodule.split.train, datamodule.split.test
    views = [np.asarray(ds.modalities[v], dtype=np.float64) for v in VIEWS]
    start = time.perf_counter()
    mkl = MKLClassifier(rbf_gammas=(1.0,), poly_degrees=(), max_iter=max_iter)
    mkl.fit([x[train] for x in views], ds.target[train])
    return {"accuracy": float(mkl.score([x[test] for x in views], ds.target[test])),
            "kernel_weights": {f"{VIEWS[k.view]}:{n.split(':', 1)[1]}": float(w)
                               for k, n, w in zip(mkl.kernels_, mkl.kernel_names_, mkl.kernel_weights_)},
            "seconds": time.perf_counter() - start}


def sequential(runs: Path, n: int, epochs: int, hcrf_iter: int) -> dict:
    """Early-fusion LSTM, MV-LSTM and a multi-view HCRF on the interaction task, with each modality missing."""
    data = make_interaction_sequences(n, length=16, dim=4, amplitude=3.0, noise=0.5, seed=123)
    out = {}
    for label, fusion in SEQUENTIAL.items():
        config = {"name": run_name(label), "seed": 0, "output_dir": str(runs),
                  "model": {"encoder": {"name": "steps"}, "fusion": fusion, "head": {"name": "mlp", "hidden": [32]}},
                  "data": {"batch_size": 50, "val_size": 0.15, "test_size": 0.3},
                  "optim": {"lr": 1e-2},
                  "trainer": {"max_epochs": epochs, "patience": None, "progress": False, "gradient_clip_val": 1.0}}
        result = fit(config, dataset=data, overwrite=True)
        test = result.datamodule.test_dataloader()
        out[label] = {"accuracy": result.test_metrics["accuracy"], "n_parameters": result.n_parameters,
                      "without a": evaluate(result.model, result.task, test, drop=("a",))["accuracy"],
                      "without b": evaluate(result.model, result.task, test, drop=("b",))["accuracy"]}
    # graphical: multi-view hidden CRF, coupled views, on the same train/test split (raw features)
    split = result.datamodule.split
    views = {m: np.stack([np.asarray(s, dtype=np.float64) for s in data.modalities[m]]) for m in ("a", "b")}
    y = np.asarray(data.target)
    hcrf = MultiViewHCRF(n_hidden=3, topology="coupled", l2=1e-2, max_epochs=hcrf_iter, random_state=0)
    hcrf.fit({m: v[split.train] for m, v in views.items()}, y[split.train])  # views (n, T, d) by name
    test_views, y_test = {m: v[split.test] for m, v in views.items()}, y[split.test]

    def without(m):
        return {**test_views, m: np.zeros_like(test_views[m])}

    out["MV-HCRF (coupled)"] = {
        "accuracy": float(np.mean(hcrf.predict(test_views) == y_test)),
        "n_parameters": sum(p.numel() for p in hcrf.network_.parameters()),
        "without a": float(np.mean(hcrf.predict(without("a")) == y_test)),
        "without b": float(np.mean(hcrf.predict(without("b")) == y_test))}
    return out


def figures(out: Path, r: dict) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    names = [f"{v} alone" for v in VIEWS] + list(r["mfeat"]["fused"]) + ["MKL (EasyMKL)"]
    values = list(r["mfeat"]["unimodal"].values()) + list(r["mfeat"]["fused"].values()) + [r["mfeat"]["mkl"]["accuracy"]]
    colours = ["0.6"] * len(VIEWS) + ["C0"] * len(r["mfeat"]["fused"]) + ["C2"]
    ax1.bar(range(len(names)), values, color=colours)
    for i, v in enumerate(values):
        ax1.text(i, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    ax1.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    ax1.set_ylim(0.5, 1.0)
    ax1.set_ylabel("test accuracy")
    ax1.set_title("mfeat, views " + " + ".join(VIEWS))
    seq = r["interaction"]
    labels = list(seq)
    for k, key in enumerate(["accuracy", "without a", "without b"]):
        ax2.bar(np.arange(len(labels)) + 0.27 * (k - 1), [seq[m][key] for m in labels], 0.27,
                label="both" if key == "accuracy" else key)
    ax2.axhline(0.5, color="grey", linestyle=":", label="chance")
    ax2.set_xticks(range(len(labels)), [name.replace(" ", "\n", 1) for name in labels], fontsize=8)
    ax2.set_ylim(0, 1.05)
    ax2.set_title("interaction sequences (XOR)")
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    fused = list(r["mfeat"]["fused"])
    for k, label in enumerate(fused):
        ax.bar(np.arange(len(VIEWS) + 1) + 0.2 * (k - 1.5),
               [r["mfeat"]["fused"][label]] + [r["mfeat"]["missing"][label][v] for v in VIEWS], 0.2, label=label)
    ax.set_xticks(range(len(VIEWS) + 1), ["all views"] + [f"without {v}" for v in VIEWS])
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("test accuracy")
    ax.set_title("one view missing at test time (mfeat)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "missing_modality.png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer epochs and sequences (tests)")
    parser.add_argument("--out", type=Path, default=Path("reports/examples/fusion"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    start = time.perf_counter()
    # one BLAS thread: the products are small and extra threads only wait on a shared machine
    with tempfile.TemporaryDirectory() as runs, threadpool_limits(1):
        fused, missing, unimodal, datamodule = model_agnostic(Path(runs), 10 if args.fast else 20)
        mkl = kernel_fusion(datamodule, 100 if args.fast else 500)
        seq = sequential(Path(runs), 900, 10 if args.fast else 20, 100)
    weights = missing.pop("learned weights")
    results = {"fast": args.fast,
               "mfeat": {"views": VIEWS, "unimodal": unimodal, "fused": fused, "missing": missing,
                         "late_learned_weights": weights, "mkl": mkl},
               "interaction": seq, "seconds": time.perf_counter() - start}
    figures(args.out, results)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))

    print(f"mfeat, views {' + '.join(VIEWS)} (test accuracy; unimodal = late fusion's branches)\n")
    print("| model | all views | " + " | ".join(f"without {v}" for v in VIEWS) + " |\n|---|---|"
          + "---|" * len(VIEWS))
    for v, acc in unimodal.items():
        print(f"| {v} alone | {acc:.3f} |" + " |" * len(VIEWS))
    for label, acc in fused.items():
        print(f"| {label} | {acc:.3f} | " + " | ".join(f"{missing[label][v]:.3f}" for v in VIEWS) + " |")
    print(f"| MKL (EasyMKL, linear + RBF per view) | {mkl['accuracy']:.3f} |" + " |" * len(VIEWS))
    print("\nlearned late-fusion weights: " + ", ".join(f"{v} {w:.2f}" for v, w in weights.items()))
    top = sorted(mkl["kernel_weights"].items(), key=lambda kv: -kv[1])[:3]
    print("largest MKL kernel weights: " + ", ".join(f"{k} {w:.2f}" for k, w in top))
    print("\ninteraction sequences (XOR of event signs; chance 0.5)\n")
    print("| model | both | without a | without b | parameters |\n|---|---|---|---|---|")
    for label, r in seq.items():
        print(f"| {label} | {r['accuracy']:.3f} | {r['without a']:.3f} | {r['without b']:.3f} | {r['n_parameters']:,} |")
    print(f"\n{results['seconds']:.1f} s; figures and results.json in {args.out}")


if __name__ == "__main__":
    main()
