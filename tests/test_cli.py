"""The command line: every command runs, errors are one clear line."""

import json

import pytest

from polymodal.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_everywhere(capsys):
    for argv in ([], ["demo"], ["train"], ["evaluate"], ["datasets"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--help"])
        assert exit_info.value.code == 0
        assert "usage: polymodal" in capsys.readouterr().out


def test_datasets_lists_mfeat(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    assert "mfeat: UCI Multiple Features" in out and "licence: CC BY 4.0" in out and "here:    available\n" in out


def test_train_then_evaluate_with_and_without_a_view(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"name: cli\ndata:\n  modalities: [fou, kar]\ntrainer:\n  max_epochs: 2\n  progress: false\noutput_dir: {tmp_path}\n")
    code, out, err = run(capsys, "train", str(cfg), "seed=1")
    assert code == 0, err
    assert "best checkpoint:" in out and "test: loss=" in out
    ckpt = tmp_path / "cli" / "checkpoints" / "best.ckpt"
    code, out, _ = run(capsys, "evaluate", str(ckpt))
    assert code == 0 and out.startswith("cli on the test split: loss=")
    test_acc = json.loads((tmp_path / "cli" / "result.json").read_text())["test"]["accuracy"]
    assert f"accuracy={test_acc:.4f}" in out
    code, out, _ = run(capsys, "evaluate", str(ckpt), "--drop", "kar")
    assert code == 0 and "without kar" in out
    code, _, err = run(capsys, "evaluate", str(ckpt), "--drop", "pix")
    assert code == 2 and err.strip() == "error: unknown modality 'pix' for dataset mfeat; available: ['fou', 'kar']"


def test_user_errors_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("trainer:\n  max_epoch: 3\n")
    code, _, err = run(capsys, "train", str(cfg))
    assert code == 2 and err.strip().startswith("error: unknown config key 'trainer.max_epoch' (")
    cfg.write_text("trainer:\n  max_epochs: ten\n")
    code, _, err = run(capsys, "train", str(cfg))
    assert code == 2 and err.startswith("error: config key 'trainer.max_epochs': Input should be a valid integer")
    code, _, err = run(capsys, "evaluate", str(tmp_path / "none.ckpt"))
    assert code == 2 and err.strip() == f"error: checkpoint file not found: {tmp_path / 'none.ckpt'}"
    cfg.write_text("name: x\n")
    code, _, err = run(capsys, "train", str(cfg), "data.modalities=[fou, nope]", f"output_dir={tmp_path}")
    assert code == 2 and err.strip() == "error: unknown modality 'nope' for dataset mfeat; available: ['fou', 'fac', 'kar', 'pix', 'zer', 'mor']"


def test_demo_small_run_writes_report(tmp_path, capsys):
    from polymodal.benchmarks.demo import run_demo

    runs, report = run_demo(seeds=2, out_dir=tmp_path, workers=1, max_epochs=2, models=["view mor", "late (mean)"], progress=False)
    text = report.read_text()
    assert "| late (mean) |" in text and "| view mor |" in text
    assert "## Robustness: Gaussian noise on every view" in text
    for png in ("accuracy.png", "confusion_best.png", "missing_views.png", "noise.png"):
        assert (tmp_path / png).stat().st_size > 5000
    late = [r for r in runs if r.model == "late (mean)"]
    assert len(late) == 2 and set(late[0].missing) == {"fou", "fac", "kar", "pix", "zer", "mor"}
    assert sum(r.confusion.sum() for r in late) == 800  # two test sets of 400
    assert late[0].noise_accuracy[0] == pytest.approx(late[0].accuracy)  # sigma = 0 is the clean score
    assert late[0].noise_accuracy[-1] < late[0].accuracy


def test_datasets_build_routes_to_builders(capsys):
    code, out, _ = run(capsys, "datasets", "build", "--help")
    assert code == 0 and "av-digits" in out
    code, _, err = run(capsys, "datasets", "build", "nope")
    assert code == 2 and err.strip() == "error: no builder for dataset 'nope'; buildable: ['av-digits']"
    with pytest.raises(SystemExit) as exit_info:
        main(["datasets", "build", "av-digits", "--help"])
    assert exit_info.value.code == 0 and "AV-MNIST layout" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["score-captions", "align", "captioning-report", "vqa-shapes"])
def test_delegated_commands_have_help(command, capsys):
    try:
        code = main([command, "--help"])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 0 and "usage: polymodal" in capsys.readouterr().out


def _one_error(code, out, err):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_audit_cases_are_one_named_line(tmp_path, capsys):
    """Issue 19's audit: each of these raised a traceback (or printed a result first)."""
    import numpy as np

    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(b"name: caf\xe9\n")
    line = _one_error(*run(capsys, "train", str(cfg)))
    assert str(cfg) in line and "UTF-8" in line
    good = "examples/configs/mfeat_intermediate.yaml"
    for override, key in [("trainer.devices=0", "trainer.devices"), ("trainer.precision=bogus", "trainer.precision"),
                          ("trainer.monitor=val_bogus", "trainer.monitor"), ("trainer.accelerator=tpu", "trainer")]:
        assert key in _one_error(*run(capsys, "train", good, override, f"output_dir={tmp_path}"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert str(afile) in _one_error(*run(capsys, "train", good, f"output_dir={afile}/sub"))
    small = ["trainer.max_epochs=1", "data.modalities=[mor]", "trainer.progress=false", f"output_dir={tmp_path}"]
    assert "'task'" in _one_error(*run(capsys, "train", good, "task=regression", *small))
    assert "model.head" in _one_error(*run(capsys, "train", good, "model.head.hidden=[-5]", *small))
    assert "--seeds" in _argparse(capsys, ["demo", "--seeds", "0"])
    assert "--image-size" in _argparse(capsys, ["captioning-report", str(tmp_path), "--image-size", "0"])
    assert "--threads" in _argparse(capsys, ["vqa-shapes", "--threads", "0"])
    np.save(tmp_path / "x.npy", np.arange(5.0))
    x = str(tmp_path / "x.npy")
    code, out, err = run(capsys, "align", x, x, "--json", str(tmp_path))
    assert out == "" and "is a folder" in _one_error(code, out, err)  # nothing printed before the error
    assert "'.xyz'" in _one_error(*run(capsys, "align", x, x, "--plot", str(tmp_path / "p.xyz")))
    code, out, err = run(capsys, "align", x, x, "--json", "/dev/full")
    assert out == "" and "/dev/full" in _one_error(code, out, err)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert str(deep) in _one_error(*run(capsys, "score-captions", str(deep), str(deep), "--metrics", "bleu"))
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"1": "caf\xe9"}')
    assert str(latin) in _one_error(*run(capsys, "score-captions", str(latin), str(latin), "--metrics", "bleu"))


def _argparse(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert exit_info.value.code == 2 and len(errors) == 1 and "Traceback" not in err
    return errors[0]
