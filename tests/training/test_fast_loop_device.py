"""The fast loop checks its device itself (``polymodal train`` no longer asks Lightning's Trainer
on a run that does not use it): a GPU that is not there is a ConfigError before anything is written."""

import pytest
import torch

from polymodal.cli import main
from polymodal.errors import ConfigError
from polymodal.training.engine import fit

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")


def _config(tmp_path):
    return {"name": "gpu", "data": {"name": "mfeat", "modalities": ["fou"]},
            "trainer": {"max_epochs": 1, "progress": False, "accelerator": "gpu"}, "output_dir": str(tmp_path)}


def test_fit_on_a_missing_gpu_is_a_config_error_naming_the_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"accelerator='gpu'.*no CUDA GPU"):
        fit(_config(tmp_path))
    assert not (tmp_path / "gpu").exists()


def test_polymodal_train_on_a_missing_gpu_says_so_in_one_line(tmp_path, capsys):
    config = tmp_path / "gpu.yaml"
    config.write_text(f"data: {{name: mfeat, modalities: [fou]}}\noutput_dir: {tmp_path}\n")
    assert main(["train", str(config), "trainer.accelerator=cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config keys 'trainer' (accelerator='cuda'") and "no CUDA GPU" in err
