"""examples/11_fragment_alignment.py --fast: the inferred word-to-region alignment beats chance by a wide
margin and retrieval beats random scores; figures and results.json are written."""


def test_fragment_alignment_example(tmp_path, run_example):
    res = run_example("11_fragment_alignment.py", tmp_path, timeout=300)
    full = res["configs"]["C_F (MIL) + C_G"]
    assert full["alignment_accuracy"] > full["chance_accuracy"] + 0.4
    assert res["configs"]["C_F (MIL) + C_G, word fragments"]["alignment_accuracy"] > 0.8
    chance = res["chance_recall"]
    for direction in ("image_to_text", "text_to_image"):
        assert full["both"][direction]["R@5"] > chance[direction]["R@5"] + 40.0
    # unordered words cannot bind colour to shape: pair fragments retrieve better than word fragments
    words = res["configs"]["C_F (MIL) + C_G, word fragments"]["both"]["text_to_image"]["R@1"]
    assert full["both"]["text_to_image"]["R@1"] > words
    for name in ("alignment.png", "fragment_scores.png"):
        assert (tmp_path / name).stat().st_size > 10_000
