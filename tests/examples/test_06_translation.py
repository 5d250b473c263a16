"""examples/06_translation.py --fast: retrieval and Show-Attend-Tell captions beat the most frequent caption."""


def test_translation_example_fast(tmp_path, run_example):
    r = run_example("06_translation.py", tmp_path, timeout=240)
    for png in ("captions.png", "attention.png"):
        assert (tmp_path / png).stat().st_size > 0
    s = r["scores"]
    floor = s["most frequent caption"]
    for name, scores in s.items():
        assert 0.0 <= scores["bleu_4"] <= scores["bleu_1"] <= 1.0, name
        assert 0.0 <= scores["exact"] <= 1.0
    # model-based: the captioner conditions on the image (CIDEr-D well above the constant caption's)
    assert s["Show-Attend-Tell"]["cider_d"] > 1.5 * floor["cider_d"]
    assert s["Show-Attend-Tell"]["bleu_4"] > floor["bleu_4"] + 0.2
    # example-based: nearest neighbours in the captioner's CNN space name the objects of most test images,
    # far better than nearest neighbours in pixel space
    assert s["retrieval, CNN, k=1"]["exact"] > 0.8
    assert s["retrieval, CNN, k=1"]["exact"] > s["retrieval, pixels, k=1"]["exact"] + 0.2
    assert s["retrieval, pixels, k=1"]["cider_d"] > 2 * floor["cider_d"]
    # the kept weights are those of the best validation epoch
    history = r["show_attend_tell"]["val_history"]
    assert r["show_attend_tell"]["best_val_loss"] == min(history)
