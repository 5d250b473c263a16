"""METEOR through one persistent Java process; clear errors when Java is missing."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from polymodal.metrics.captioning import JavaNotFoundError, Meteor, score_captions
from polymodal.metrics.captioning import meteor as meteor_mod

FIXTURE = Path(__file__).parents[1] / "fixtures" / "captioning" / "coco_scores.json"


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(meteor_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(meteor_mod, "_SHARED", None)
    with pytest.raises(JavaNotFoundError, match=r"^METEOR needs a Java runtime to run meteor-1\.5\.jar, and "
                                                r"'java' is not on PATH\. .*leave 'meteor' out of metrics\.$"):
        score_captions({1: "a dog"}, {1: ["a dog"]}, metrics=("meteor",))


def test_missing_jar_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(meteor_mod.shutil, "which", lambda name: "/usr/bin/java")
    with pytest.raises(JavaNotFoundError, match="METEOR jar not found"):
        Meteor(jar=str(tmp_path / "nope.jar"))


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java")
def test_meteor_equals_pycocoevalcap_and_process_is_reused():
    """Default run: ~15 s on one idle core, nearly all of it the jar loading its
    paraphrase table once (the price of checking METEOR against pycocoevalcap)."""
    f = json.loads(FIXTURE.read_text())
    with Meteor() as m:
        pid = m._proc.pid
        s = score_captions(f["tokenized_candidates"], f["tokenized_references"], metrics=("meteor",),
                           tokenize=False, meteor=m)
        assert s.meteor == pytest.approx(f["scores"]["meteor"], abs=1e-9)
        np.testing.assert_allclose(s.per_image["meteor"], f["per_image"]["meteor"], atol=1e-9)
        s2 = score_captions({1: "a dog runs"}, {1: ["a dog runs", "the dog"]}, metrics=("meteor",), meteor=m)
        assert m._proc.pid == pid and s2.meteor > 0.9
    assert m._proc is None
