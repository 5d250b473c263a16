"""Multimodal DBN: clamped inference, and a generated missing view that carries its class (mfeat)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from polymodal.data import load_dataset
from polymodal.data.splits import stratified_split
from polymodal.errors import ModalityError, ShapeError
from sklearn.exceptions import NotFittedError

from polymodal.representation.rbm_dbn import MultimodalDBN


def test_full_input_is_the_joint_rbm_of_the_stacked_tops():
    rng = np.random.default_rng(0)
    data = {"a": rng.normal(size=(50, 4)), "b": rng.normal(size=(50, 3))}
    est = MultimodalDBN(hidden={"a": [6, 5], "b": [4]}, joint=3, max_epochs=2, random_state=0).fit(data)
    dbn = est.network_
    top_a = torch.sigmoid(torch.sigmoid(torch.as_tensor(data["a"], dtype=torch.float32) @ dbn.stacks["a"][0].W
                                        + dbn.stacks["a"][0].c) @ dbn.stacks["a"][1].W + dbn.stacks["a"][1].c)
    torch.testing.assert_close(dbn.up("a", data["a"]), top_a)
    ref = dbn.joint.hidden_probs(torch.cat([top_a, dbn.up("b", data["b"])], 1)).numpy()
    np.testing.assert_allclose(est.transform(data), ref, rtol=1e-6)
    # the list form names the views view0, view1: same network, same output
    est_list = MultimodalDBN(hidden=[4], joint=3, max_epochs=2, random_state=0).fit([data["a"], data["b"]])
    est_dict = MultimodalDBN(hidden=[4], joint=3, max_epochs=2, random_state=0).fit(data)
    np.testing.assert_array_equal(est_list.transform([data["a"], data["b"]]), est_dict.transform(data))
    np.testing.assert_array_equal(est_list.generate([data["a"], None], 1), est_dict.generate({"a": data["a"]}, "b"))
    with pytest.raises(NotFittedError):
        MultimodalDBN().transform(data)
    with pytest.raises(ModalityError, match="'b' is given"):
        dbn.generate(data, "b")
    with pytest.raises(ShapeError, match=r"'a': expected shape \(n, 4\), got \(50, 5\)"):
        est.transform({"a": np.zeros((50, 5))})


def test_generated_missing_view_beats_chance_on_mfeat():
    ds = load_dataset("mfeat")
    sp = stratified_split(ds.target, val_size=0.2, test_size=0.2, seed=0)
    d = {}
    for v in ("fac", "pix"):
        X = np.asarray(ds.modalities[v])
        m, s = X[sp.train].mean(0), X[sp.train].std(0)
        s[s == 0] = 1
        d[v] = ((X[sp.train] - m) / s, (X[sp.test] - m) / s)
    ytr, yte = ds.target[sp.train], ds.target[sp.test]
    dbn = MultimodalDBN(hidden=[64], joint=64, max_epochs=20, random_state=0).fit([d["fac"][0], d["pix"][0]])
    generated = dbn.generate([d["fac"][1], None], 1, n_gibbs=50)
    clf = LogisticRegression(max_iter=2000).fit(d["pix"][0], ytr)  # a classifier of real pix views
    acc = clf.score(generated, yte)
    mse, mean_mse = float(((generated - d["pix"][1]) ** 2).mean()), float((d["pix"][1] ** 2).mean())
    print(f"pix generated from fac: class accuracy {acc:.3f} (chance 0.1); MSE {mse:.3f} vs mean imputation {mean_mse:.3f}")
    assert acc > 0.5
    assert mse < mean_mse
