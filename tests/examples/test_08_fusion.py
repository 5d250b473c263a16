"""examples/08_fusion.py --fast runs and its numbers mean what the tutorial says."""


def test_fusion_example_fast(tmp_path, run_example):
    r = run_example("08_fusion.py", tmp_path, timeout=300)
    m = r["mfeat"]
    best_single = max(m["unimodal"].values())
    assert 0.5 < best_single < 0.9  # weak views: room for fusion to help
    # every fusion rule, and kernel fusion, beats the best single view by a margin
    for label, acc in m["fused"].items():
        assert acc > best_single + 0.03, label
    assert m["mkl"]["accuracy"] > best_single + 0.03
    assert abs(sum(m["mkl"]["kernel_weights"].values()) - 1.0) < 1e-6
    # late fusion degrades gracefully with a view missing; early fusion (zeros in) loses more
    worst = {label: min(v.values()) for label, v in m["missing"].items()}
    assert worst["late (mean)"] > worst["early"] + 0.03
    assert worst["late (mean)"] > best_single
    # the XOR interaction needs both modalities: fused well above chance, each one alone at chance
    for label, s in r["interaction"].items():
        assert s["accuracy"] > 0.8, label
        assert abs(s["without a"] - 0.5) < 0.1 and abs(s["without b"] - 0.5) < 0.1, label
    for png in ("accuracy.png", "missing_modality.png"):
        assert (tmp_path / png).stat().st_size > 5000
