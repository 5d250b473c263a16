"""Multimodal deep Boltzmann machine (Srivastava & Salakhutdinov 2012) on mfeat,
next to the greedy multimodal DBN, and its mean-field inference against exact
enumeration on a tiny model.

1. Tiny model (Gaussian 3 + Bernoulli 3 visible, 2 + 2 hidden per pathway,
   2 joint; weights N(0, s^2)): the mean-field ELBO vs the exact log-likelihood
   (log Z and the posterior by enumerating the 2^10 hidden states), and the
   largest error of the mean-field marginals, for s in {0.2, 0.5, 1, 2}.
2. mfeat, two views: ``fou`` (76 Fourier coefficients, z-scored: Gaussian
   visible units) and ``pix`` (240 pixel averages / 6 in [0, 1]: Bernoulli
   visible units); stratified 60/20/20 split per seed (the validation part
   unused), pathways fou 128-128, pix 256-128, joint 128. Missing-view
   inference on the test split (MSE, in the z-scored units for fou and the
   [0, 1] units for pix) by mean-field and by Gibbs sampling (mean of
   E[v | h1] over 100 sweeps after 20), against mean imputation (training
   mean) and against the DBM after pretraining only; logistic regression
   on the joint representation (both views given; and joint + the two
   penultimate layers, the paper's features) vs the multimodal DBN
   (``MultimodalDBN``, same layer sizes, pix z-scored for its
   Gaussian-Bernoulli bottom layer) and vs the raw concatenated views.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_dbm.py [--seeds 3] [--epochs 30] [--quick]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from polymodal.data import load_dataset
from polymodal.data.splits import stratified_split
from polymodal.representation import MultimodalDBM, MultimodalDBMNetwork, MultimodalDBN


def tiny_mean_field() -> None:
    print("\n### Mean-field vs exact enumeration (tiny DBM, 6 rows; nats)\n")
    print("| weight std | exact log p(v) | ELBO | gap | max marginal error |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    X = {"a": rng.normal(size=(6, 3)), "b": rng.integers(0, 2, (6, 3)).astype(float)}
    for scale in (0.2, 0.5, 1.0, 2.0):
        dbm = MultimodalDBMNetwork({"a": 3, "b": 3}, visible={"a": "gaussian", "b": "bernoulli"}, hidden=[2, 2],
                                   joint=2, dtype=torch.float64)
        g = torch.Generator().manual_seed(1)
        for p in [*dbm.W, *dbm.b]:
            p.data = torch.randn(p.shape, generator=g, dtype=torch.float64) * scale
        mu = dbm.mean_field(X, n_iter=200)
        log_z = dbm.log_partition()
        exact = float(dbm.exact_log_likelihood(X).mean())
        elbo = float((-dbm.mean_field_free_energy(mu)).mean()) - log_z
        err = max(float((e - m).abs().max()) for e, m in zip(dbm.exact_posterior_marginals(X), mu) if e is not None)
        print(f"| {scale} | {exact:.4f} | {elbo:.4f} | {exact - elbo:.4f} | {err:.4f} |")


def mfeat(seeds: list[int], epochs: int, quick: bool) -> None:
    ds = load_dataset("mfeat")
    y = ds.target
    rows = {k: [] for k in ("mean_fou", "pre_fou", "mf_fou", "gibbs_fou", "dbn_fou", "cls_fou", "mean_pix", "pre_pix",
                            "mf_pix", "gibbs_pix", "dbn_pix", "cls_pix", "acc_joint", "acc_pen", "acc_dbn", "acc_raw", "t_dbm", "t_dbn")}
    hidden = {"fou": [64, 64], "pix": [128, 64]} if quick else {"fou": [128, 128], "pix": [256, 128]}
    joint = 64 if quick else 128
    for seed in seeds:
        sp = stratified_split(y, val_size=0.2, test_size=0.2, seed=seed)
        tr, te = sp.train, sp.test
        fou = np.asarray(ds.modalities["fou"])
        fou = (fou - fou[tr].mean(0)) / fou[tr].std(0)
        pix = np.asarray(ds.modalities["pix"]) / 6.0
        train, test = {"fou": fou[tr], "pix": pix[tr]}, {"fou": fou[te], "pix": pix[te]}
        kw = dict(visible={"fou": "gaussian", "pix": "bernoulli"}, hidden=hidden, joint=joint,
                  pretrain_epochs=epochs, lr=0.005, n_chains=100, random_state=seed)
        pre = MultimodalDBM(max_epochs=0, **kw).fit(train)
        t0 = time.perf_counter()
        dbm = MultimodalDBM(max_epochs=epochs, **kw).fit(train)
        rows["t_dbm"].append(time.perf_counter() - t0)
        clf = lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))  # noqa: E731
        m, s = pix[tr].mean(0), pix[tr].std(0) + 1e-8
        ztr, zte = {"fou": fou[tr], "pix": (pix[tr] - m) / s}, {"fou": fou[te], "pix": (pix[te] - m) / s}
        t0 = time.perf_counter()
        dbn = MultimodalDBN(hidden=hidden, joint=joint, max_epochs=epochs, random_state=seed).fit(ztr)
        rows["t_dbn"].append(time.perf_counter() - t0)
        for target, source in (("fou", "pix"), ("pix", "fou")):
            mse = lambda G: float(((G - test[target]) ** 2).mean())  # noqa: E731
            rows[f"mean_{target}"].append(mse(train[target].mean(0)))
            rows[f"pre_{target}"].append(mse(pre.generate({source: test[source]}, target)))
            rows[f"mf_{target}"].append(mse(dbm.generate({source: test[source]}, target)))
            gibbs = dbm.generate({source: test[source]}, target, method="gibbs", n_gibbs=100, burn_in=20,
                                 random_state=seed)
            rows[f"gibbs_{target}"].append(mse(gibbs))
            G = dbn.generate({source: zte[source]}, target)
            rows[f"dbn_{target}"].append(mse(G * s + m if target == "pix" else G))
            # does the generated view carry the digit? a classifier of real views of that kind, on generated ones
            rows[f"cls_{target}"].append(clf().fit(train[target], y[tr]).score(gibbs, y[te]))
        rows["acc_joint"].append(clf().fit(dbm.transform(train), y[tr]).score(dbm.transform(test), y[te]))
        rows["acc_pen"].append(clf().fit(dbm.transform(train, "joint+penultimate"), y[tr])
                               .score(dbm.transform(test, "joint+penultimate"), y[te]))
        rows["acc_dbn"].append(clf().fit(dbn.transform(ztr), y[tr]).score(dbn.transform(zte), y[te]))
        rows["acc_raw"].append(clf().fit(np.c_[fou[tr], pix[tr]], y[tr]).score(np.c_[fou[te], pix[te]], y[te]))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items()), flush=True)
    f = lambda k: f"{np.mean(rows[k]):.4f} +- {np.std(rows[k]):.4f}"  # noqa: E731
    print(f"\n### Missing-view inference on mfeat test split (MSE, {len(seeds)} seeds, {epochs} epochs)\n")
    print("| inferred view | from | mean imputation | DBM pretrained only (mean-field) | DBM mean-field | DBM Gibbs | "
          "multimodal DBN | accuracy of a real-view classifier on the DBM Gibbs view |")
    print("|---|---|---|---|---|---|---|---|")
    for target, source in (("fou", "pix"), ("pix", "fou")):
        print(f"| {target} | {source} | {f('mean_' + target)} | {f('pre_' + target)} | {f('mf_' + target)} | "
              f"{f('gibbs_' + target)} | {f('dbn_' + target)} | {f('cls_' + target)} |")
    print("\n### Joint representation -> logistic regression (test accuracy)\n")
    print("| DBM joint | DBM joint + penultimate | multimodal DBN joint | raw fou + pix | DBM fit s | DBN fit s |")
    print("|---|---|---|---|---|---|")
    print(f"| {f('acc_joint')} | {f('acc_pen')} | {f('acc_dbn')} | {f('acc_raw')} | {np.mean(rows['t_dbm']):.1f} | "
          f"{np.mean(rows['t_dbn']):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="smaller layers")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tiny_mean_field()
    mfeat(list(range(args.seeds)), args.epochs, args.quick)


if __name__ == "__main__":
    main()
