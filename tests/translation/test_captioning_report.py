"""The Tux Paint captioning report on a small stamps folder in the same layout."""

from collections import Counter

import numpy as np
import pytest

from polymodal.benchmarks.captioning import captioning_report, captioning_report_cli
from polymodal.metrics.captioning import score_captions


def _stamps(root, n=40):
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = {"red": (220, 0, 0), "blue": (0, 0, 220)}
    for i in range(n):
        name = list(colours)[i % 2]
        folder = root / ("shapes" if i % 3 else "other")
        folder.mkdir(parents=True, exist_ok=True)
        im = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
        x = int(rng.integers(0, 8))
        for y in range(4, 16):
            for xx in range(x, x + 10):
                im.putpixel((xx, y), colours[name] + (255,))
        im.save(folder / f"s{i:02d}.png")
        caption = f"A {name} box." if i % 5 else "A big red box."
        (folder / f"s{i:02d}.txt").write_text(caption + "\nfr.utf8=une boite\n", encoding="utf-8")


def test_report_scores_are_the_metrics_of_its_captions(tmp_path):
    _stamps(tmp_path / "stamps")
    rep = captioning_report(tmp_path / "out", image_size=16, max_epochs=2, patience=1, n_examples=2, meteor=False,
                            root=str(tmp_path / "stamps"))
    assert set(rep.scores) == {"most_frequent", "retrieval", "show_and_tell", "show_attend_tell"}
    from polymodal.data.captions import load_tuxpaint_stamps

    test = load_tuxpaint_stamps(tmp_path / "stamps", image_size=16).subset("test")
    refs = test.references()
    for name, caps in rep.captions.items():
        again = score_captions(caps, refs, metrics=("bleu", "rouge_l", "cider_d")).as_dict()
        assert again == pytest.approx(rep.scores[name], abs=1e-12)
    train = load_tuxpaint_stamps(tmp_path / "stamps", image_size=16).subset("train")
    top = Counter(c[0].lower().rstrip(".") for c in train.captions).most_common(1)[0][0]
    assert rep.chosen["most_frequent"]["caption"] == top
    text = rep.path.read_text()
    assert "| show_attend_tell |" in text and "attention_0.png" in text
    assert (tmp_path / "out" / "attention_1.png").stat().st_size > 0
    assert rep.attention_beats_baseline() == (rep.scores["show_attend_tell"]["cider_d"]
                                              > rep.scores["most_frequent"]["cider_d"])


def test_cli_reports_missing_stamps(tmp_path, capsys):
    assert captioning_report_cli([str(tmp_path / "out"), "--stamps", str(tmp_path / "none"), "--no-meteor"]) == 2
    assert "Tux Paint stamps not found" in capsys.readouterr().err
