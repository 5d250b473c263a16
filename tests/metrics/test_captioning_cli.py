"""``polymodal score-captions`` (score_captions_cli) on the JSON formats it accepts."""

import json
from pathlib import Path

import pytest

from polymodal.commands.score_captions import score_captions_cli
from polymodal.metrics.captioning import score_captions

FIXTURE = Path(__file__).parents[1] / "fixtures" / "captioning" / "coco_scores.json"
METRICS = ["--metrics", "bleu", "rouge_l", "cider_d"]


@pytest.fixture()
def files(tmp_path):
    f = json.loads(FIXTURE.read_text())
    cands, refs = f["candidates"], f["references"]
    p = {"cands": tmp_path / "c.json", "refs": tmp_path / "r.json",
         "coco_cands": tmp_path / "cc.json", "coco_refs": tmp_path / "cr.json"}
    p["cands"].write_text(json.dumps(cands))
    p["refs"].write_text(json.dumps(refs))
    p["coco_cands"].write_text(json.dumps([{"image_id": int(k), "caption": v} for k, v in cands.items()]))
    p["coco_refs"].write_text(json.dumps({"annotations": [
        {"image_id": int(k), "id": j, "caption": c} for k, v in refs.items() for j, c in enumerate(v)]}))
    return p, f


def test_table_and_json_outputs_match_api(files, capsys):
    p, f = files
    expected = score_captions(f["candidates"], f["references"], metrics=("bleu", "rouge_l", "cider_d"))
    assert score_captions_cli([str(p["cands"]), str(p["refs"]), *METRICS, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == pytest.approx(expected.as_dict(), abs=1e-12)
    assert score_captions_cli([str(p["cands"]), str(p["refs"]), *METRICS]) == 0
    out = capsys.readouterr().out
    assert f"CIDEr-D   {expected.cider_d:>8.4f}" in out and "BLEU-4" in out and "(200 images)" in out


def test_coco_style_lists_give_the_same_scores(files, capsys):
    p, f = files
    assert score_captions_cli([str(p["cands"]), str(p["refs"]), *METRICS, "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert score_captions_cli([str(p["coco_cands"]), str(p["coco_refs"]), *METRICS, "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a == pytest.approx(b, abs=1e-12)


def test_errors_return_2_with_a_message(files, tmp_path, capsys):
    p, _ = files
    assert score_captions_cli([str(tmp_path / "missing.json"), str(p["refs"]), *METRICS]) == 2
    assert "cannot read caption file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image": 1, "caption": "x"}]))
    assert score_captions_cli([str(bad), str(p["refs"]), *METRICS]) == 2
    assert "item 0 must be an object with 'image_id' and 'caption'" in capsys.readouterr().err
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"0": "a dog"}))
    assert score_captions_cli([str(one), str(p["refs"]), *METRICS]) == 2
    assert "reference id(s) have no candidate" in capsys.readouterr().err
