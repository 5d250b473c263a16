"""Importing one polymodal package loads only what it uses (PEP 562 lazy exports,
parts resolved on demand by the registry); ``__all__`` and ``dir()`` stay right."""

import importlib
import json
import os
import subprocess
import sys

import pytest

PACKAGES = ["core", "data", "metrics", "encoders", "representation", "alignment", "fusion", "translation",
            "colearning", "training", "benchmarks"]
HEAVY = ["lightning", "numba", "transformers"]


def _loaded(code: str) -> set[str]:
    """The modules in sys.modules after running ``code`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def _packages(modules: set[str]) -> set[str]:
    return {".".join(m.split(".")[:2]) for m in modules if m.startswith("polymodal.")}


def test_importing_a_package_loads_no_other_package_nor_heavy_libraries():
    code = "; ".join(f"import polymodal.{p}" for p in PACKAGES)
    loaded = _loaded(code)
    assert _packages(loaded) <= {f"polymodal.{p}" for p in PACKAGES} | {"polymodal.errors"}
    assert not [m for m in loaded if m.startswith("polymodal.") and m.count(".") >= 2 and not m.startswith(
        "polymodal.core.")], "a package __init__ imported one of its modules"
    assert not {"torch", *HEAVY} & loaded


def test_metrics_imports_neither_engine_nor_data_nor_heavy_libraries():
    loaded = _loaded("import polymodal.metrics as m; m.accuracy; m.score_captions; m.retrieval_recall_at_k")
    assert not {"polymodal.training", "polymodal.data", "polymodal.encoders", *HEAVY} & loaded


def test_encoders_import_neither_config_nor_datasets_nor_caption_metrics():
    loaded = _loaded("import polymodal.encoders as e; e.MLP; e.LSTMEncoder; e.BagOfWords")
    assert not {"polymodal.training.config", "polymodal.data.catalog", "polymodal.data.mfeat",
                "polymodal.metrics.captioning", "pydantic", *HEAVY} & loaded
    assert not _packages(loaded) - {"polymodal.core", "polymodal.encoders", "polymodal.errors"}


def test_cli_help_imports_no_engine():
    loaded = _loaded("import sys; from polymodal.cli import main\n"
                     "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert not {"lightning", "torch", "numba", "polymodal.training.engine"} & loaded


@pytest.mark.parametrize("package", PACKAGES)
def test_all_and_dir_list_every_public_name(package):
    module = importlib.import_module(f"polymodal.{package}")
    names = list(module.__all__)
    assert len(names) == len(set(names)), "a name is listed twice in __all__"
    assert set(names) <= set(dir(module))
    for name in names:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_alignment_dtw_stays_the_function_after_its_subpackage_loads():
    code = ("import polymodal.alignment.dtw.soft; import polymodal.alignment as a; from polymodal.alignment import dtw; "
            "assert callable(dtw) and a.dtw is dtw and dtw.__module__.startswith('polymodal.alignment.dtw')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_function_named_like_its_module_stays_the_function():
    code = ("import polymodal.data.collate; import polymodal.data as d; from polymodal.data import collate; "
            "assert callable(collate) and d.collate is collate and not isinstance(collate, type(d))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_fast_loop_training_imports_neither_lightning_nor_numba(tmp_path):
    """``polymodal train`` of a one-process CPU run trains on the fast loop, whose path never imports
    Lightning (nor torchmetrics, nor the transformers that torchmetrics pulls in) nor numba."""
    config = tmp_path / "run.yaml"
    config.write_text(f"name: t\ndata: {{name: mfeat, modalities: [fou, kar]}}\n"
                      f"model: {{encoder: {{name: mlp, hidden: [8]}}}}\n"
                      f"trainer: {{max_epochs: 1, progress: false}}\noutput_dir: {tmp_path}\n")
    best = tmp_path / "t" / "checkpoints" / "best.ckpt"
    loaded = _loaded(f"from polymodal.cli import main\nassert main(['train', {str(config)!r}]) == 0\n"
                     f"import pathlib; assert pathlib.Path({str(best)!r}).is_file()")
    assert "polymodal.training.fast_loop" in loaded
    assert not {"lightning", "pytorch_lightning", "torchmetrics", "transformers", "numba"} & loaded


def test_a_fast_loop_run_reaches_its_first_step_without_scikit_learn_or_dynamo(tmp_path):
    """Up to the first optimiser step (and to the end of the run) ``polymodal train`` on the fast loop
    imports no scikit-learn, scipy or pandas (standardisation is numpy, and so is the split, also for a
    data/seed never split before), no ``torch._dynamo`` (the lean optimisers) and no Lightning."""
    config = tmp_path / "run.yaml"
    config.write_text(f"name: t\ndata: {{name: mfeat, modalities: [fou, kar]}}\n"
                      f"model: {{encoder: {{name: mlp, hidden: [8]}}, fusion: {{name: concat}}}}\n"
                      f"trainer: {{max_epochs: 1, progress: false}}\noutput_dir: {tmp_path}\n")
    heavy = ["sklearn", "scipy", "pandas", "torch._dynamo", "lightning", "torchmetrics", "numba"]
    code = ("import sys, json\nfrom torch.optim.optimizer import register_optimizer_step_post_hook\n"
            "first = []\n"
            "register_optimizer_step_post_hook(lambda o, a, k: first or first.append(sorted(sys.modules)))\n"
            f"from polymodal.cli import main\nassert main(['train', {str(config)!r}]) == 0\n"
            "print(json.dumps([first[0], sorted(sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    at_step, at_end = map(set, json.loads(out.stdout.splitlines()[-1]))
    assert "polymodal.training.optimizers" in at_step
    assert not set(heavy) & at_step, sorted(set(heavy) & at_step)
    assert not set(heavy) & at_end, sorted(set(heavy) & at_end)


def test_the_dtw_family_loads_numba_at_its_first_kernel_call():
    assert not {"numba", "torch", "scipy"} & _loaded("import polymodal.alignment.dtw")
    loaded = _loaded("from polymodal.alignment import dtw, cdist_dtw, soft_dtw, dba")
    assert not {"numba", "torch"} & loaded
    loaded = _loaded("import numpy as np; from polymodal.alignment import dtw; dtw(np.zeros((3, 1)), np.ones((4, 1)))")
    assert "numba" in loaded
