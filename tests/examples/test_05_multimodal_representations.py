"""examples/05_multimodal_representations.py --fast: joint beats one view; CCA retrieval far above chance."""


def test_multimodal_representations_example_fast(tmp_path, run_example):
    r = run_example("05_multimodal_representations.py", tmp_path, timeout=240)
    for png in ("joint_accuracy.png", "cca_scatter.png", "recall_at_k.png"):
        assert (tmp_path / png).stat().st_size > 0
    assert r["n_test"] == 400  # 20 % of mfeat's 2000 digits

    # joint, supervised: tensor fusion of two weak views beats the better view alone, all far above chance
    sup = r["joint_supervised_accuracy"]
    assert min(sup.values()) > 0.6
    assert sup["tensor fusion"] > max(sup["fou alone"], sup["zer alone"])
    # joint, unsupervised: the shared code from both views beats the code from either one alone
    ae = r["joint_autoencoder"]["accuracy"]
    assert min(ae.values()) > 0.5
    assert ae["code from fou + zer"] > max(ae["code from fou"], ae["code from zer"])

    cca = r["coordinated_cca"]
    # canonical correlations on the training data are sorted, in (0, 1]; held-out ones stay high
    train_corr = cca["train_correlations"]
    assert all(1.0 >= a >= b > 0 for a, b in zip(train_corr, train_corr[1:]))
    assert cca["test_correlations"][0] > 0.8
    # instance retrieval: R@10 of the one relevant digit among 400 is > 10x chance (2.5 %); class R@1 >> 10 %
    for direction in ("fou_to_zer", "zer_to_fou"):
        recall = cca["same_item"][direction]
        assert recall["1"] <= recall["5"] <= recall["10"]
        assert recall["10"] > 25.0
        assert cca["same_class"][direction]["1"] > 50.0
