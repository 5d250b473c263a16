"""Fault-injection / fuzz table for every ``polymodal`` command (issue 19).

Each case runs ``polymodal.cli.main(argv)`` in-process (a few run as real
processes) and must end in one of two ways: exit 0, or exit 2 with exactly
one ``error:`` line on stderr — never a traceback. Cases marked ``BAD`` are
bad input and must exit 2 (exit 0 would be a silent wrong result).

Inputs: missing / empty / binary / non-UTF-8 / deeply nested / lying-header /
NaN files, folders where files belong, paths below a file, ``/dev/full``,
wrong types and ranges for every option, and for every config key (``key=value``
overrides of ``examples/configs/*.yaml``). Nothing trains for real except
two 1-epoch runs on one mfeat view.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from polymodal.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(str(p) for p in (ROOT / "examples" / "configs").glob("*.yaml"))
BAD, OK, ANY = "bad", "ok", "any"
COUNTS: Counter = Counter()


# ----------------------------------------------------------------------------- input files
def _files(d: Path) -> dict[str, str]:
    f = {}

    def put(name, data: bytes | str):
        p = d / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        f[name] = str(p)

    put("empty", b"")
    put("binary", bytes(range(256)) * 8)
    put("latin1.json", '{"1": "caf\xe9"}'.encode("latin1"))
    put("latin1.yaml", "name: caf\xe9\n".encode("latin1"))
    put("deep.json", "[" * 100_000 + "]" * 100_000)
    put("deep.yaml", "[" * 3_000 + "]" * 3_000)
    put("nan.json", '{"1": NaN}')
    put("list.yaml", "- a\n- b\n")
    put("scalar.yaml", "42\n")
    put("cands.json", json.dumps({"1": "a cat sits on a mat", "2": "a dog runs"}))
    put("refs.json", json.dumps({"1": ["a cat on a mat"], "2": ["a dog is running", "dog runs"]}))
    put("refs_str.json", json.dumps({"1": "a cat", "2": "a dog"}))
    put("refs_empty.json", json.dumps({"1": [], "2": ["a dog"]}))
    put("cands_int.json", json.dumps({"1": 5, "2": "a dog"}))
    put("cands_null.json", json.dumps({"1": None, "2": "a dog"}))
    put("cands_other_ids.json", json.dumps({"7": "a cat", "8": "a dog"}))
    put("cands_list.json", json.dumps([1, 2, 3]))
    put("coco_bad.json", json.dumps([{"image_id": 1}]))
    put("coco_dup.json", json.dumps([{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]))
    put("string.json", json.dumps("just a string"))
    put("empty_obj.json", "{}")
    put("fake.ckpt", b"PK\x03\x04 not really a zip")
    for name, arr in {
        "x.npy": np.random.default_rng(0).normal(size=(6, 2)),
        "y.npy": np.random.default_rng(1).normal(size=(7, 2)),
        "z3.npy": np.random.default_rng(2).normal(size=(5, 3)),
        "nan.npy": np.array([[0.0, np.nan], [1.0, 2.0]]),
        "inf.npy": np.array([[0.0, np.inf], [1.0, 2.0]]),
        "cube.npy": np.zeros((2, 3, 4)),
        "empty.npy": np.zeros((0, 2)),
        "nofeat.npy": np.zeros((3, 0)),
        "strings.npy": np.array(["a", "b"]),
        "complex.npy": np.ones(3, dtype=complex),
        "scalar.npy": np.array(3.0),
    }.items():
        np.save(d / name, arr)
        f[name] = str(d / name)
    np.save(d / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    f["object.npy"] = str(d / "object.npy")
    np.savez(d / "arch.npz", a=np.zeros(3))
    f["arch.npz"] = str(d / "arch.npz")
    # a .npy header promising 745 GiB in a tiny file
    header = {"descr": "<f8", "fortran_order": False, "shape": (100_000, 1_000_000)}
    with open(d / "liar.npy", "wb") as h:
        np.lib.format.write_array_header_1_0(h, header)
        h.write(b"\0" * 64)
    f["liar.npy"] = str(d / "liar.npy")
    with open(d / "truncated.npy", "wb") as h:
        h.write((d / "x.npy").read_bytes()[:90])
    f["truncated.npy"] = str(d / "truncated.npy")
    put("pickle.ckpt", pickle.dumps({"state_dict": {}}))
    (d / "folder").mkdir()
    f["folder"] = str(d / "folder")
    f["missing"] = str(d / "missing.txt")
    f["under_file"] = str(d / "empty" / "sub" / "x")
    return f


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("fuzz"))


# ----------------------------------------------------------------------------- the table
def _config_key_cases() -> list[tuple[str, list[str]]]:
    """Invalid ``key=value`` overrides for every key of the schema (types and ranges)."""
    wrong = {
        "name": ["''", "a/b", "..", "[1]"],
        "seed": ["-1", "abc", "1.5", "4294967296", "[1]"],
        "task": ["bogus", "5"],
        "data.name": ["bogus", "[1]"],
        "data.modalities": ["[nope]", "5", "[[1]]", "{a: 1}", "[mor, mor]", "[]"],
        "data.batch_size": ["0", "-3", "abc", "1.5"],
        "data.eval_batch_size": ["0", "abc"],
        "data.val_size": ["-0.1", "1", "abc", ".nan", "0.9"],
        "data.test_size": ["0", "1.5", ".inf", "0.001"],
        "data.standardize": ["maybe", "[1]"],
        "data.num_workers": ["-1", "abc"],
        "data.bogus": ["1"],
        "model.encoder": ["abc", "{name: bogus}", "{hidden: [8]}", "{name: mlp, hidden: [-5]}",
                          "{name: mlp, bogus: 1}", "{name: mlp, dropout: 2.0}", "{name: mlp, in_features: 3}"],
        "model.encoders": ["{nope: {name: mlp}}", "5"],
        "model.fusion": ["{name: bogus}", "{name: concat, modality_dropout: 1.5}", "{name: tensor, bogus: 2}",
                         "{name: low_rank, rank: -1}", "[concat]"],
        "model.head": ["{name: mlp, hidden: [-5]}", "{name: mlp, hidden: [0]}", "{name: bogus}", "abc"],
        "model.head.hidden": ["[-5]", "[abc]", "-5"],
        "model.bogus": ["1"],
        "optim.name": ["bogus", "1"],
        "optim.lr": ["0", "-1", ".inf", ".nan", "abc"],
        "optim.weight_decay": ["-1", ".nan"],
        "optim.momentum": ["1", "-0.5"],
        "trainer.max_epochs": ["0", "-1", "abc", "1.5"],
        "trainer.patience": ["0", "abc"],
        "trainer.accelerator": ["tpu", "bogus", "5"],
        "trainer.devices": ["0", "-2", "abc", "[]", "[-1]", "true"],
        "trainer.strategy": ["bogus", "5"],
        "trainer.num_nodes": ["0", "abc", "2"],  # 2 without a cluster launcher would wait forever
        "trainer.precision": ["bogus", "8", "true"],
        "trainer.deterministic": ["maybe"],
        "trainer.progress": ["[1]"],
        "trainer.monitor": ["val_bogus", "5", "train_accuracy"],
        "trainer.gradient_clip_val": ["-1", ".nan", "abc"],
        "trainer.bogus": ["1"],
        # lightning.Trainer arguments passed through, trackers, callbacks, schedulers (issue 17)
        "trainer.accumulate_grad_batches": ["0", "abc"],
        "trainer.limit_train_batches": ["1.5"],
        "trainer.enable_checkpointing": ["false"],
        "trainer.logger": ["neptune", "{name: tensorboard, bogus: 1}", "[csv, no_pkg.x:Logger]"],
        "trainer.callbacks": ["[Bogus]", "[ModelCheckpoint]", "[{name: Timer, bogus: 1}]"],
        "lr_scheduler": ["{name: Bogus}", "{name: StepLR}", "{name: StepLR, step_size: 1, interval: hour}"],
        "output_dir": ["[1]"],
        "bogus": ["1"],
    }
    cases = []
    for key, values in wrong.items():
        for value in values:
            cases.append((f"{key}={value}", [f"{key}={value}"]))
    # not key=value, empty key part, a scalar where a mapping is needed, invalid YAML
    for item in ["novalue", ".x=1", "trainer..max_epochs=1", "seed.x=1", "seed=[1", "data=5"]:
        cases.append((item, [item]))
    return cases


def _commands() -> list[str]:
    import argparse

    from polymodal.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def _cases(f: dict[str, str]) -> list[tuple[str, list[str], str]]:
    cfg = str(ROOT / "examples" / "configs" / "mfeat_intermediate.yaml")
    # put first on every train case: an input that is wrongly accepted trains one quick epoch, never DDP
    small = ["trainer.max_epochs=1", "trainer.progress=false", "data.modalities=[mor]", "trainer.devices=1",
             "trainer.strategy=auto"]
    c: list[tuple[str, list[str], str]] = []
    add = lambda name, argv, expect=BAD: c.append((name, argv, expect))  # noqa: E731

    # top level
    add("no command", [])
    add("unknown command", ["bogus"])
    add("unknown option", ["--bogus"])
    add("--version", ["--version"], OK)
    for cmd in _commands():  # every command `polymodal --help` lists
        add(f"{cmd} --help", [cmd, "--help"], OK)
        add(f"{cmd} --bogus", [cmd, "--bogus"])

    # train: config files of every kind, then every config key with wrong values, on every example config
    for kind in ("missing", "empty", "binary", "latin1.yaml", "deep.yaml", "list.yaml", "scalar.yaml", "folder",
                 "under_file", "x.npy"):
        add(f"train config={kind}", ["train", f[kind], *small, f"output_dir={f['folder']}/cfg"],
            ANY if kind == "empty" else BAD)
    for i, config in enumerate(CONFIGS):
        for j, (name, overrides) in enumerate(_config_key_cases()):
            # a run folder per case: an earlier case's checkpoints must not mask this one's validation
            add(f"train {Path(config).stem} {name}",
                ["train", config, *small, f"output_dir={f['folder']}/runs/{i}-{j}", *overrides])
    add("train output_dir under a file", ["train", cfg, f"output_dir={f['under_file']}", *small])
    add("train output_dir is a file", ["train", cfg, f"output_dir={f['binary']}", *small])
    add("train task=regression on classes", ["train", cfg, "task=regression", *small, f"output_dir={f['folder']}/r"])
    add("train task=multilabel on classes", ["train", cfg, "task=multilabel", *small, f"output_dir={f['folder']}/m"])
    add("train monitor=val_mae on classes", ["train", cfg, "trainer.monitor=val_mae", *small,
                                             f"output_dir={f['folder']}/v"])
    add("train monitor=val_loss without val", ["train", cfg, "trainer.monitor=val_loss", "data.val_size=0", *small,
                                               f"output_dir={f['folder']}/n"])
    add("train --resume missing", ["train", cfg, "--resume", f["missing"], *small, f"output_dir={f['folder']}/q"])
    add("train --resume garbage", ["train", cfg, "--resume", f["binary"], *small, f"output_dir={f['folder']}/q"])
    add("train tiny run", ["train", cfg, *small, "name=tiny", f"output_dir={f['folder']}"], OK)

    # evaluate
    for kind in ("missing", "empty", "binary", "folder", "latin1.json", "fake.ckpt", "pickle.ckpt", "under_file"):
        add(f"evaluate checkpoint={kind}", ["evaluate", f[kind]])
    tiny = str(Path(f["folder"]) / "tiny" / "checkpoints" / "best.ckpt")
    add("evaluate tiny", ["evaluate", tiny], OK)
    add("evaluate --split bogus", ["evaluate", tiny, "--split", "bogus"])
    add("evaluate --drop unknown", ["evaluate", tiny, "--drop", "pix"])
    add("evaluate --drop nothing", ["evaluate", tiny, "--drop"])

    # export and extract
    for kind in ("missing", "empty", "binary", "folder", "fake.ckpt", "pickle.ckpt", "latin1.json"):
        add(f"export checkpoint={kind}", ["export", f[kind], "--out", str(Path(f["folder"]) / "m.onnx")])
    add("export --format bogus", ["export", tiny, "--format", "bogus"])
    for value in ("0", "-1", "abc"):
        add(f"export --batch-size {value}", ["export", tiny, "--batch-size", value])
    add("export --out under a file", ["export", tiny, "--out", f["under_file"]])
    add("export --out a folder", ["export", tiny, "--out", f["folder"]])
    for kind in ("missing", "binary", "latin1.yaml", "deep.yaml", "folder",
                 "list.yaml"):
        add(f"extract config={kind}", ["extract", f[kind], "--out", str(Path(f["folder"]) / "feat")])
    add("extract --out under a file", ["extract", cfg, *small, "--out", f["under_file"]])
    add("extract --batch-size 0", ["extract", cfg, "--batch-size", "0"])
    add("extract bad override", ["extract", cfg, "trainer.devices=0", "--out", str(Path(f["folder"]) / "feat")])

    # demo: every option out of range or of the wrong type (never a valid run: that trains for minutes)
    for opt in ("--seeds", "--workers", "--max-epochs"):
        for value in ("0", "-1", "abc", "1.5", ""):
            add(f"demo {opt} {value!r}", ["demo", opt, value, "--out", f["folder"]])
    add("demo --out under a file", ["demo", "--seeds", "1", "--out", f["under_file"]])
    add("demo --out is a file", ["demo", "--seeds", "1", "--out", f["binary"]])

    # datasets
    add("datasets", ["datasets"], OK)
    add("datasets extra", ["datasets", "extra"])
    add("datasets build", ["datasets", "build"])
    add("datasets build nope", ["datasets", "build", "nope"])
    add("datasets build --help", ["datasets", "build", "--help"], OK)
    build = ["datasets", "build", "av-digits"]
    for opt in ("--seed", "--train-size", "--val-size", "--synthetic-test-size", "--pairs-per-recording",
                "--espeak-speakers"):
        for value in ("-1", "abc", "1.5"):
            add(f"build {opt} {value}", [*build, opt, value, "--out", f["folder"]])
    for value in ("nan", "inf", "abc"):
        add(f"build --snrs {value}", [*build, "--snrs", value, "--out", f["folder"]])
    for value in ("1.0", "-0.5", "nan"):
        add(f"build --image-energy-removed {value}", [*build, "--image-energy-removed", value, "--out", f["folder"]])
    add("build --train-size 5", [*build, "--train-size", "5", "--out", f["folder"]])
    add("build --noise bogus", [*build, "--noise", "bogus"])
    add("build --out under a file", [*build, "--out", f["under_file"]])

    # score-captions: files of every kind on either side, malformed content, bad metrics
    good_c, good_r = f["cands.json"], f["refs.json"]
    for kind in ("missing", "empty", "binary", "latin1.json", "deep.json", "nan.json", "folder", "under_file",
                 "cands_int.json", "cands_null.json", "cands_other_ids.json", "cands_list.json", "coco_bad.json",
                 "coco_dup.json", "string.json", "empty_obj.json", "x.npy"):
        add(f"score-captions cands={kind}", ["score-captions", f[kind], good_r, "--metrics", "bleu"])
    for kind in ("missing", "empty", "binary", "latin1.json", "deep.json", "folder", "refs_str.json",
                 "refs_empty.json", "string.json", "empty_obj.json"):
        add(f"score-captions refs={kind}", ["score-captions", good_c, f[kind], "--metrics", "bleu"])
    add("score-captions --metrics bogus", ["score-captions", good_c, good_r, "--metrics", "bogus"])
    add("score-captions --metrics spice", ["score-captions", good_c, good_r, "--metrics", "spice"])
    add("score-captions --metrics none", ["score-captions", good_c, good_r, "--metrics"])
    add("score-captions one file", ["score-captions", good_c])
    add("score-captions ok", ["score-captions", good_c, good_r, "--metrics", "bleu", "rouge_l", "cider_d"], OK)
    add("score-captions ok --json", ["score-captions", good_c, good_r, "--metrics", "bleu", "--json"], OK)

    # align: every kind of sequence file, methods, windows, outputs
    x, y = f["x.npy"], f["y.npy"]
    for kind in ("missing", "empty", "binary", "folder", "under_file", "nan.npy", "inf.npy", "cube.npy",
                 "empty.npy", "nofeat.npy", "strings.npy", "complex.npy", "object.npy", "arch.npz", "liar.npy",
                 "truncated.npy", "latin1.json"):
        add(f"align x={kind}", ["align", f[kind], y])
        add(f"align ctw y={kind}", ["align", x, f[kind], "--method", "ctw"])
    add("align scalar", ["align", f["scalar.npy"], y], ANY)  # a 0-d array: one step, or an error
    add("align one file", ["align", x])
    add("align dtw three files", ["align", x, y, x])
    add("align gctw one file", ["align", x, "--method", "gctw"])
    add("align dtw d mismatch", ["align", x, f["z3.npy"]])
    add("align --method bogus", ["align", x, y, "--method", "bogus"])
    for value in ("-1", "abc", "1.5", ""):
        add(f"align --window {value!r}", ["align", x, y, "--window", value])
    add("align gctw --window", ["align", x, y, "--method", "gctw", "--window", "2"])
    for opt in ("--json", "--plot"):
        add(f"align {opt} folder", ["align", x, y, opt, f["folder"]])
        add(f"align {opt} under a file", ["align", x, y, opt, f["under_file"]])
        add(f"align {opt} missing folder", ["align", x, y, opt, str(Path(f["folder"]) / "no" / "out.png")])
    add("align --json /dev/full", ["align", x, y, "--json", "/dev/full"])
    add("align --plot x.xyz", ["align", x, y, "--plot", str(Path(f["folder"]) / "x.xyz")])
    add("align --plot no suffix", ["align", x, y, "--plot", str(Path(f["folder"]) / "plot")])
    add("align dtw ok", ["align", x, y, "--json", str(Path(f["folder"]) / "a.json")], OK)
    add("align ctw ok", ["align", x, f["z3.npy"], "--method", "ctw"], OK)
    add("align gctw ok", ["align", x, y, f["z3.npy"], "--method", "gctw"], OK)

    # captioning-report and vqa-shapes: option ranges (a valid run trains for minutes)
    for opt in ("--image-size", "--max-epochs", "--threads"):
        for value in ("0", "-1", "abc"):
            add(f"captioning-report {opt} {value}", ["captioning-report", f["folder"], opt, value])
    for value in ("-1", "abc"):
        add(f"captioning-report --seed {value}", ["captioning-report", f["folder"], "--seed", value])
        add(f"captioning-report --precise-bn {value}", ["captioning-report", f["folder"], "--precise-bn", value])
    add("captioning-report --stamps missing", ["captioning-report", f["folder"], "--stamps", f["missing"]])
    add("captioning-report --stamps file", ["captioning-report", f["folder"], "--stamps", f["binary"]])
    add("captioning-report out under a file", ["captioning-report", f["under_file"]])
    add("captioning-report no out", ["captioning-report"])
    for opt in ("--images", "--max-epochs", "--threads"):
        for value in ("0", "-1", "abc", "1.5"):
            add(f"vqa-shapes {opt} {value}", ["vqa-shapes", opt, value])
    add("vqa-shapes --seed -1", ["vqa-shapes", "--seed", "-1"])
    add("vqa-shapes --fusion bogus", ["vqa-shapes", "--fusion", "bogus"])
    return c


def _run(argv: list[str]) -> tuple[int, str, str, str | None]:
    out, err = io.StringIO(), io.StringIO()
    tb = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except BaseException as e:  # noqa: BLE001 - a traceback would reach the user
            code, tb = -1, f"{type(e).__name__}: {e}"
    return code, out.getvalue(), err.getvalue(), tb


def _check(name: str, code: int, out: str, err: str, tb: str | None, expect: str) -> None:
    COUNTS["tried"] += 1
    if tb is not None or "Traceback" in err:
        COUNTS["tracebacks"] += 1
        pytest.fail(f"{name}: traceback: {tb or err[-400:]}")
    if code == 0:
        if expect == BAD:
            COUNTS["silent"] += 1
            pytest.fail(f"{name}: bad input exited 0 (silent); stdout {out[-300:]!r}")
        COUNTS["ok"] += 1
        return
    assert expect != OK, f"{name}: expected success, exit {code}: {err[-400:]}"
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1, f"{name}: exit {code}, stderr {err[-600:]!r}"
    COUNTS["clear_errors"] += 1


class _Placeholders(dict):
    """The table is built at collection time with ``@name`` for each input file;
    :func:`_resolve` fills in the fixture's paths."""

    def __missing__(self, key: str) -> str:
        return f"@{key}"


_TABLE = _cases(_Placeholders())


def _resolve(argv: list[str], f: dict[str, str]) -> list[str]:
    return [re.sub(r"@([A-Za-z0-9_.]+)", lambda m: f[m.group(1)], a) for a in argv]


@pytest.mark.parametrize("index", range(len(_TABLE)), ids=[n for n, _, _ in _TABLE])
def test_cli_case(index, files, monkeypatch):
    name, argv, expect = _TABLE[index]
    for key in ("MASTER_ADDR", "SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE",
                "KUBERNETES_SERVICE_HOST"):  # trainer.num_nodes=2 must fail, not wait for other nodes
        monkeypatch.delenv(key, raising=False)
    code, out, err, tb = _run(_resolve(argv, files))
    _check(name, code, out, err, tb, expect)


SUBPROCESS = [
    ("train non-UTF-8 YAML", ["train", "@latin1.yaml"]),
    ("score-captions deep JSON", ["score-captions", "@deep.json", "@refs.json", "--metrics", "bleu"]),
    ("datasets build out of range", ["datasets", "build", "av-digits", "--train-size", "0"]),
]


@pytest.mark.parametrize("name, argv", SUBPROCESS, ids=[n for n, _ in SUBPROCESS])
def test_cli_subprocess(name, argv, files):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "polymodal", *_resolve(argv, files)], capture_output=True, text=True,
                       env=env, timeout=120)
    _check(name, p.returncode, p.stdout, p.stderr, None, BAD)
    assert p.stdout == "", f"{name}: printed a result before failing: {p.stdout!r}"


def test_counts():
    """The table's totals: >= 200 cases, no traceback, no silent result (run after the cases)."""
    assert len(_TABLE) + len(SUBPROCESS) >= 200
    if COUNTS["tried"]:
        print(f"\nCLI fuzz: {dict(COUNTS)}")
        assert COUNTS["tracebacks"] == 0 and COUNTS["silent"] == 0
