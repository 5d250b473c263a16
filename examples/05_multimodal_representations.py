"""Multimodal representations: joint (tensor fusion, multimodal autoencoder) and coordinated (CCA).

Tutorial section "multimodal representations" (Baltrusaitis, Ahuja & Morency,
TPAMI 2019, Sec. 3), the shortest end-to-end use of each family on the bundled
mfeat digits (``polymodal.data.load_dataset("mfeat")``), two weak views:
Fourier coefficients of the contour (``fou``, 76-d) and Zernike moments
(``zer``, 47-d). One 60/20/20 stratified split (the engine's) for everything.

* joint, supervised: :class:`polymodal.representation.TensorFusion` (Zadeh et
  al., EMNLP 2017), ``z = [h_fou; 1] (x) [h_zer; 1]`` over two MLP encoders,
  trained with :func:`polymodal.training.engine.fit` from a config, against the
  same MLP on each view alone;
* joint, unsupervised: :class:`polymodal.representation.MultimodalAutoencoder`
  (Ngiam et al., ICML 2011), trained with one view zeroed in 2/3 of the samples,
  so the shared code can be computed from both views or from either alone;
  a logistic regression on the code;
* coordinated: :class:`polymodal.representation.CCA` (Hotelling 1936), one
  projection per view into a 10-d space of maximal correlation; cross-modal
  retrieval fou -> zer and back (:func:`polymodal.metrics.retrieval.evaluate_retrieval`:
  R@K of the same digit image, one relevant item among the 400 test items, and
  of any digit of the same class), and the two views in the first two canonical
  components.

    python examples/05_multimodal_representations.py [--fast] [--out reports/examples/multimodal_representations]

Writes ``joint_accuracy.png``, ``cca_scatter.png``, ``recall_at_k.png`` and ``results.json``.

Full run measured here (2 CPU cores shared with other jobs, one torch thread:
6 to 27 s inside the script, 11 to 42 s wall with the imports, depending on the
load; 10 to 15 s CPU), test accuracy on
400 digits: fou alone 0.800, zer alone 0.820, tensor fusion 0.858; multimodal
AE code + logistic regression: from both views 0.865, from fou only 0.780, from
zer only 0.782. CCA (10-d; test canonical correlations 0.93, 0.86, 0.79, ...):
same digit image R@1/5/10 fou -> zer 7.8/29.2/42.5 %, zer -> fou 6.0/27.0/44.2 %
(chance R@1 0.25 %); same class R@1 78.5 % and 76.8 %.
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
from sklearn.linear_model import LogisticRegression  # noqa: E402

from polymodal.metrics.retrieval import evaluate_retrieval, plot_recall_curve  # noqa: E402
from polymodal.representation import CCA, MultimodalAutoencoder  # noqa: E402  (also registers "tensor")
from polymodal.training.engine import fit  # noqa: E402

VIEWS = ("fou", "zer")


def joint_supervised(runs: Path, epochs: int) -> tuple[dict, object]:
    """Each view alone and tensor fusion of both, same encoders and head, through engine.fit."""
    accuracy, datamodule = {}, None
    for label, views, fusion in (("fou alone", ["fou"], "concat"), ("zer alone", ["zer"], "concat"),
                                 ("tensor fusion", list(VIEWS), "tensor")):
        config = {"name": label.replace(" ", "_"), "seed": 0, "output_dir": str(runs),
                  "data": {"name": "mfeat", "modalities": views, "batch_size": 64},
                  "model": {"encoder": {"name": "mlp", "hidden": [64, 16]}, "fusion": {"name": fusion},
                            "head": {"name": "mlp", "hidden": [64]}},
                  "trainer": {"max_epochs": epochs, "patience": 8, "progress": False}}
        result = fit(config, overwrite=True)
        accuracy[label] = result.test_metrics["accuracy"]
        datamodule = result.datamodule  # the same split for every view set (seed 0, stratified)
    return accuracy, datamodule


def joint_autoencoder(train, test, epochs: int) -> dict:
    """Ngiam's bimodal autoencoder; logistic regression on its shared code from both / one view."""
    ae = MultimodalAutoencoder(hidden=64, shared=16, max_epochs=epochs, batch_size=64, random_state=0)
    ae.fit([train.modalities[m] for m in VIEWS])
    accuracy = {}
    for given in (VIEWS, ("fou",), ("zer",)):  # a view left out is given as None
        code_tr = ae.transform([train.modalities[m] if m in given else None for m in VIEWS])
        code_te = ae.transform([test.modalities[m] if m in given else None for m in VIEWS])
        clf = LogisticRegression(max_iter=3000).fit(code_tr, train.target)
        accuracy["code from " + " + ".join(given)] = float(clf.score(code_te, test.target))
    return {"accuracy": accuracy, "final_loss": float(ae.loss_curve_[-1])}


def coordinated(train, test, out: Path, k: int) -> dict:
    """CCA: one projection per view; cross-modal retrieval in the shared space; scatter."""
    cca = CCA(n_components=k, reg=1e-3).fit(train.modalities["fou"], train.modalities["zer"])
    z_fou, z_zer = cca.transform(test.modalities["fou"], test.modalities["zer"])
    corr = [float(np.corrcoef(z_fou[:, i], z_zer[:, i])[0, 1]) for i in range(k)]
    same_item = evaluate_retrieval(z_fou, z_zer, np.arange(len(z_fou)))
    same_class = evaluate_retrieval(z_fou, z_zer, [np.nonzero(test.target == t)[0] for t in test.target], ks=(1, 5))
    plot_recall_curve({"CCA fou -> zer": same_item.query_to_gallery, "CCA zer -> fou": same_item.gallery_to_query},
                      max_k=100, path=str(out / "recall_at_k.png"),
                      title=f"mfeat fou <-> zer, CCA ({k}-d): Recall@K of the same digit image")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), sharex=True, sharey=True)
    for ax, z, view in zip(axes, (z_fou, z_zer), VIEWS):
        sc = ax.scatter(z[:, 0], z[:, 1], c=test.target, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{view} in the CCA space (test set)", fontsize=10)
        ax.set_xlabel(f"canonical component 1 (test corr {corr[0]:.2f})")
    axes[0].set_ylabel(f"canonical component 2 (test corr {corr[1]:.2f})")
    fig.colorbar(sc, ax=axes, label="digit", ticks=range(10))
    fig.savefig(out / "cca_scatter.png", dpi=110)
    plt.close(fig)
    rec = lambda r: {str(key): v for key, v in r.recall.items()}  # noqa: E731
    return {"n_components": k, "train_correlations": [float(c) for c in cca.canonical_correlations_],
            "test_correlations": corr,
            "n_test": len(z_fou),
            "same_item": {"fou_to_zer": rec(same_item.query_to_gallery), "zer_to_fou": rec(same_item.gallery_to_query),
                          "median_rank_fou_to_zer": float(same_item.query_to_gallery.median_rank)},
            "same_class": {"fou_to_zer": rec(same_class.query_to_gallery),
                           "zer_to_fou": rec(same_class.gallery_to_query)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer epochs (a few seconds)")
    parser.add_argument("--out", type=Path, default=Path("reports/examples/multimodal_representations"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        supervised, datamodule = joint_supervised(Path(runs), 10 if args.fast else 40)
    train, test = datamodule.train_set, datamodule.test_set  # standardised on the training split
    unsupervised = joint_autoencoder(train, test, 6 if args.fast else 40)
    coord = coordinated(train, test, args.out, k=10)
    results = {"fast": args.fast, "views": list(VIEWS), "n_train": len(train.target), "n_test": len(test.target),
               "joint_supervised_accuracy": supervised, "joint_autoencoder": unsupervised, "coordinated_cca": coord,
               "chance_accuracy": 0.1, "chance_same_item_r1": 100.0 / len(test.target)}

    labels = list(supervised) + list(unsupervised["accuracy"])
    values = list(supervised.values()) + list(unsupervised["accuracy"].values())
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.barh(labels[::-1], values[::-1], color=["tab:orange"] * 3 + ["tab:blue"] * 3)
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.axvline(0.1, color="grey", ls=":", label="chance")
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"test accuracy ({len(test.target)} digits)")
    ax.set_title("joint representations, mfeat fou + zer\nblue: MLP encoders + head (engine.fit), one view or "
                 "tensor fusion; orange: multimodal AE code + logistic regression", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / "joint_accuracy.png", dpi=110)
    plt.close(fig)

    results["seconds"] = time.perf_counter() - start
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"mfeat, views {' + '.join(VIEWS)}, {len(train.target)} train / {len(test.target)} test digits")
    print("joint representations (test accuracy, chance 0.100)")
    for label, value in {**supervised, **unsupervised["accuracy"]}.items():
        print(f"  {label:<28}{value:.3f}")
    si, sc_ = coord["same_item"], coord["same_class"]
    print(f"coordinated: CCA, {coord['n_components']}-d; test canonical correlations "
          + " ".join(f"{c:.2f}" for c in coord["test_correlations"][:4]) + " ...")
    print(f"  {'direction':<12}{'same digit image R@1/5/10':>28}{'same class R@1/5':>20}")
    for key in ("fou_to_zer", "zer_to_fou"):
        a, b = si[key], sc_[key]
        print(f"  {key.replace('_to_', ' -> '):<12}{a['1']:>12.1f}{a['5']:>8.1f}{a['10']:>8.1f}{b['1']:>12.1f}{b['5']:>8.1f}")
    print(f"  (chance R@1 same image {results['chance_same_item_r1']:.2f} %, same class ~10 %)")
    print(f"{results['seconds']:.1f} s; figures and results.json in {args.out}")


if __name__ == "__main__":
    main()
