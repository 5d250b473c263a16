"""examples/coordinated_retrieval_mfeat.py --fast: every coordinated space retrieves far above chance."""


def test_coordinated_retrieval_example_fast(tmp_path, run_example):
    r = run_example("coordinated_retrieval_mfeat.py", tmp_path, timeout=240)
    assert (tmp_path / "recall_at_k.png").stat().st_size > 0 and (tmp_path / "cca_scatter.png").stat().st_size > 0
    assert r["fast"] and r["n_test"] == 400
    methods = r["methods"]
    assert set(methods) == {"CCA", "KCCA (rbf, Nystroem)", "DCCA", "DCCAE", "contrastive (CLIP loss)"}
    for name, m in methods.items():
        for direction in ("pix_to_fou", "fou_to_pix"):
            recall = m[direction]
            assert recall["1"] <= recall["5"] <= recall["10"], name
            # one relevant digit among 400: chance R@10 is 2.5 %; every space is > 10x that
            assert recall["10"] > 25.0, (name, direction, recall)
    # linear CCA does not depend on --fast: R@1 is > 20x chance in both directions
    assert methods["CCA"]["pix_to_fou"]["1"] > 20 * r["chance_r1"]
    assert methods["CCA"]["fou_to_pix"]["1"] > 20 * r["chance_r1"]
