import pytest

import polymodal.encoders  # noqa: F401
import polymodal.fusion  # noqa: F401
from polymodal.errors import ConfigError
from polymodal.training import apply_overrides, load_config, parse_config
from polymodal.training.engine import build_datamodule, build_model


def test_defaults_validate():
    cfg = parse_config({})
    assert cfg.data.name == "mfeat" and cfg.trainer.max_epochs == 100 and cfg.model.fusion == {"name": "concat"}


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"^unknown config key 'trainer.max_epoch' \(not a polymodal trainer key "
                       r"nor a lightning.Trainer argument; did you mean 'max_epochs'\?\)$"):
        parse_config({"trainer": {"max_epoch": 3}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"^config key 'trainer.max_epochs': Input should be a valid integer.*\(got 'ten'\)$"):
        parse_config({"trainer": {"max_epochs": "ten"}})
    with pytest.raises(ConfigError, match=r"config key 'data.batch_size': Input should be greater than 0 \(got 0\)"):
        parse_config({"data": {"batch_size": 0}})


def test_yaml_file_and_dotted_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: exp\ntrainer:\n  max_epochs: 5\noptim:\n  lr: 1.0e-2\n")
    cfg = load_config(path, ["trainer.max_epochs=7", "data.modalities=[fou, pix]", "seed=4"])
    assert (cfg.trainer.max_epochs, cfg.data.modalities, cfg.seed, cfg.optim.lr) == (7, ["fou", "pix"], 4, 0.01)
    with pytest.raises(ConfigError, match=r"override 'trainer' must look like key.sub=value"):
        apply_overrides({}, ["trainer"])
    with pytest.raises(ConfigError, match=r"config file not found: .*missing.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_never_executes_code(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(path)


def test_registry_errors_name_the_key():
    dm = build_datamodule(parse_config({"data": {"modalities": ["fou", "mor"]}}))
    cfg = parse_config({"model": {"fusion": {"name": "concatt"}}})
    with pytest.raises(ConfigError, match=r"config key 'model.fusion.name': unknown fusion 'concatt'; registered: \["):
        build_model(cfg, dm.specs, 10, "classification")
    cfg = parse_config({"model": {"head": {"name": "mlp", "hiden": [3]}}})
    with pytest.raises(ConfigError, match=r"unknown config key 'model.head.hiden' for head 'mlp'; allowed: \["):
        build_model(cfg, dm.specs, 10, "classification")
    cfg = parse_config({"model": {"encoders": {"pix": {"name": "mlp"}}}})
    with pytest.raises(ConfigError, match=r"config key 'model.encoders.pix': unknown modality; the data has \['fou', 'mor'\]"):
        build_model(cfg, dm.specs, 10, "classification")
    cfg = parse_config({"model": {"fusion": {"name": "late"}}})
    with pytest.raises(ConfigError, match=r"config key 'model.head' must be null: fusion 'late' predicts per branch"):
        build_model(cfg, dm.specs, 10, "classification")


def test_example_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples" / "configs"
    paths = sorted(root.glob("*.yaml"))
    assert paths
    for path in paths:
        load_config(path)


def test_builtin_parts_are_found_without_importing_them():
    import subprocess
    import sys

    code = ("from polymodal.core.registry import registered; "
            "f = registered('fusion'); e = registered('encoder'); "
            "assert {'concat', 'late', 'hybrid'} <= set(f), f; assert {'mlp', 'identity'} <= set(e), e")
    subprocess.run([sys.executable, "-c", code], check=True)
