"""benchmarks/bench_vs_multibench.py, polymodal side on a tiny setting: its models have
MultiBench's published parameter counts (ANCHORS.md: 183,946 / 58,570 / 189,770), the split
file handed to MultiBench is the engine's own split, and a run learns and reports its numbers."""

import sys
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_vs_multibench") as module:
        yield module


@pytest.mark.parametrize("config, params", [("concat6", 183_946), ("concat2", 58_570), ("tensor2", 189_770)])
def test_models_have_multibench_parameter_counts(bench, config, params):
    import polymodal.encoders  # noqa: F401
    import polymodal.fusion  # noqa: F401
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_model

    dataset = bench._dataset(config, 0, bench.SEQ_DATA)
    model = build_model(parse_config(bench._polymodal_config(config, 0, "x", 1)), dataset.specs, 10,
                        "classification")
    assert model.n_parameters() == params


def test_split_file_is_the_engines_split(bench, tmp_path):
    path = tmp_path / "split.npz"
    bench.write_split("concat2", 0, path, bench.SEQ_DATA)
    data = np.load(path)
    assert list(data["modalities"]) == ["fou", "pix"]
    assert [len(data[f"{s}/target"]) for s in ("train", "val", "test")] == [1200, 400, 400]
    assert np.bincount(data["train/target"]).tolist() == [120] * 10  # stratified
    np.testing.assert_allclose(data["train/pix"].mean(0), 0, atol=1e-4)  # z-scored with training statistics


def test_polymodal_run_learns_and_reports(bench):
    spec = {"side": "polymodal", "config": "concat2", "seed": 0, "threads": 1, "max_epochs": 2,
            "seq_data": bench.SEQ_DATA}
    out = bench.child(spec)
    assert out["epochs"] == 2 and out["params"] == 58_570
    assert out["accuracy"] > 0.9  # chance is 0.1
    assert out["samples_per_s"] > 0 and out["cpu_per_epoch"] > 0 and out["peak_rss_mib"] > 0


def test_ratio_table_from_interleaved_runs(bench, monkeypatch, capsys, tmp_path):
    """The driver's arithmetic on stubbed runs: ratios of means, the per-repetition range, the
    whole-epoch ratio (reciprocal of samples/s), and every run kept in --json."""
    import json

    speed = {("polymodal", 0): 300.0, ("polymodal", 1): 200.0, ("multibench", 0): 100.0, ("multibench", 1): 200.0}
    calls = []

    def fake_run(spec):
        calls.append((spec["side"], spec["seed"]))
        return {"accuracy": 0.9 if spec["side"] == "polymodal" else 0.8, "epochs": 10, "params": 5,
                "samples_per_s": speed[spec["side"], spec["seed"]], "cpu_per_epoch": 1.0, "wall_s": 1.0,
                "peak_rss_mib": 400.0 if spec["side"] == "polymodal" else 500.0}

    monkeypatch.setattr(bench, "run_child", fake_run)
    monkeypatch.setattr(bench, "write_split", lambda *a: None)
    out_json = tmp_path / "runs.json"
    sleeps = []
    monkeypatch.setattr(bench.time, "sleep", sleeps.append)
    bench.main(["--multibench", "x", "--reps", "2", "--configs", "concat2", "--json", str(out_json)])
    assert sleeps == [2.0] * 4  # the default pause before each run
    assert calls == [("polymodal", 0), ("multibench", 0), ("multibench", 1), ("polymodal", 1)]  # interleaved
    row = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| 1 | concat2 | 1.67")]
    assert len(row) == 1, row  # 250 / 150 samples/s
    cells = [c.strip() for c in row[0].split("|")]
    assert cells[3:7] == ["1.67 (1.00-3.00)", "0.60", "1.00", "0.80"] and cells[7] == "0.8000 / 0.9000"
    runs = json.loads(out_json.read_text())
    assert [len(r["runs"]) for r in runs] == [2, 2] and all("load1" in x for r in runs for x in r["runs"])


def test_polymodal_side_trains_as_multibench_loop_from_the_same_start(bench, monkeypatch):
    """No algorithmic difference behind the accuracy comparison: from the same initial weights and
    the same batch order, ``fit``'s fast loop gives the validation accuracies of MultiBench's
    ``Supervised_Learning.train`` loop re-expressed by hand (zero_grad, forward, cross-entropy,
    backward, ``clip_grad_norm_(params, 8)``, ``torch.optim.RMSprop(lr=1e-3)`` step; evaluation in
    ``eval`` mode), epoch for epoch, and weights equal to float rounding."""
    import copy

    import torch
    import torch.nn.functional as F

    import polymodal.encoders  # noqa: F401
    import polymodal.fusion  # noqa: F401
    from polymodal.data.batch import Batch
    from polymodal.data.loader import epoch_permutation
    from polymodal.training import fast_loop
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_model, fit

    epochs, start, end = 4, {}, {}
    run = fast_loop.run_fast_loop

    def capture(model, task, **kwargs):
        start.update(copy.deepcopy(model.state_dict()))
        state = run(model, task, **kwargs)
        end.update(copy.deepcopy(model.state_dict()))
        return state

    monkeypatch.setattr(fast_loop, "run_fast_loop", capture)
    config = bench._polymodal_config("tensor2", 0, "unused", epochs)
    config["trainer"]["patience"] = None
    import tempfile
    with tempfile.TemporaryDirectory() as out:
        config["output_dir"] = out
        dataset = bench._dataset("tensor2", 0, bench.SEQ_DATA)
        result = fit(config, dataset=dataset)
        history = (result.run_dir / "logs" / "metrics.csv").read_text().splitlines()
    column = history[0].split(",").index("val_accuracy")
    fit_accuracy = [float(row.split(",")[column]) for row in history[1:]]

    dm = result.datamodule
    model = build_model(parse_config(config), dataset.specs, 10, "classification")
    model.load_state_dict(start)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    x = {m: torch.as_tensor(np.asarray(v, dtype=np.float32)) for m, v in dm.train_set.modalities.items()}
    y = torch.as_tensor(np.asarray(dm.train_set.target)).long()
    v = {m: torch.as_tensor(np.asarray(t, dtype=np.float32)) for m, t in dm.val_set.modalities.items()}
    vy = torch.as_tensor(np.asarray(dm.val_set.target)).long()
    accuracy = []
    for epoch in range(epochs):
        model.train()
        order = epoch_permutation(len(y), dm.train_dataloader().seed, epoch, True)
        for begin in range(0, len(y), 64):
            idx = order[begin:begin + 64]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(Batch({m: t[idx] for m, t in x.items()}, target=y[idx])).logits, y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 8)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy.append(float((model(Batch(v, target=vy)).logits.argmax(1) == vy).float().mean()))
    np.testing.assert_allclose(fit_accuracy, accuracy, atol=1e-6)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(end[name], value, rtol=0, atol=1e-3, msg=name)


# ----------------------------------------------------------------------------- --paired
@pytest.fixture(scope="module")
def multibench_root(tmp_path_factory):
    """A MultiBench checkout: $MULTIBENCH_DIR, /tmp/MultiBench (the location the benchmark's docstring
    extracts it to), or its code extracted from the git directory $MULTIBENCH_GIT_DIR (a bare clone or
    a mirror); the tests that need it are skipped without any."""
    import os
    import subprocess

    for root in (os.environ.get("MULTIBENCH_DIR"), "/tmp/MultiBench"):
        if root and (Path(root) / "training_structures" / "Supervised_Learning.py").is_file():
            return root
    mirror = Path(os.environ.get("MULTIBENCH_GIT_DIR", ""))
    if not os.environ.get("MULTIBENCH_GIT_DIR") or not mirror.is_dir():
        pytest.skip("no MultiBench checkout (set MULTIBENCH_DIR or MULTIBENCH_GIT_DIR, or extract one to "
                    "/tmp/MultiBench)")
    root = tmp_path_factory.mktemp("MultiBench")
    code = ["training_structures", "fusions", "unimodals", "eval_scripts", "utils", "objective_functions"]
    archive = subprocess.run(["git", f"--git-dir={mirror}", "archive", "HEAD", *code], capture_output=True,
                             check=True)  # the code only: the mirror lacks some large data files
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return str(root)


@pytest.fixture
def multibench_modules(bench, multibench_root):
    """MultiBench's ``fusions`` / ``unimodals`` importable in this process, and gone again afterwards
    (its top-level package names would shadow others)."""
    path, modules = list(sys.path), set(sys.modules)
    bench.import_multibench(multibench_root)
    try:
        yield
    finally:
        sys.path[:] = path
        root = str(Path(multibench_root).resolve())
        for name in set(sys.modules) - modules:
            where = str(getattr(sys.modules[name], "__file__", None) or "")
            if name in ("memory_profiler", "torchvision") or where.startswith(root):
                del sys.modules[name]


class _Started(Exception):
    pass


@pytest.mark.parametrize("config", ["tensor2", "lowrank2"])
def test_paired_initial_state_is_the_state_fit_starts_from(bench, monkeypatch, tmp_path, config):
    """What --paired hands MultiBench is exactly the model (and the loader seed) ``fit``'s loop starts with."""
    import copy

    import torch

    from polymodal.training import fast_loop
    from polymodal.training.engine import fit

    seen = {}

    def capture(model, task, **kwargs):
        seen["state"] = copy.deepcopy(model.state_dict())
        seen["loader"] = kwargs["train_loader"]
        raise _Started

    monkeypatch.setattr(fast_loop, "run_fast_loop", capture)
    with pytest.raises(_Started):
        fit(bench._polymodal_config(config, 3, str(tmp_path / "runs"), 2), dataset=bench._dataset(config, 3, {}))
    bench.write_initial_state(config, 3, tmp_path / "init.pt", bench.SEQ_DATA)
    start = torch.load(tmp_path / "init.pt", weights_only=True)
    assert list(start["state"]) == list(seen["state"])
    for name, value in seen["state"].items():
        assert torch.equal(start["state"][name], value), name
    assert start["train_loader_seed"] == seen["loader"].seed and start["drop_last"] is False
    assert start["modalities"] == ["fou", "pix"]
    bench.write_initial_state(config, 4, tmp_path / "other.pt", bench.SEQ_DATA)
    other = torch.load(tmp_path / "other.pt", weights_only=True)
    assert not torch.equal(other["state"]["head.net.0.weight"], start["state"]["head.net.0.weight"])  # seed matters


@pytest.mark.filterwarnings("ignore:`nn.init.xavier_normal` is now deprecated:FutureWarning")  # MultiBench's code
@pytest.mark.parametrize("config", ["concat6", "concat2", "tensor2", "lowrank2"])
def test_paired_multibench_modules_give_polymodals_logits(bench, multibench_modules, config):
    """MultiBench's modules holding polymodal's initial weights compute polymodal's logits on the whole
    training split; for tensor2 / lowrank2 the ones-first permutation is needed (without it they differ)."""
    import torch

    from polymodal.data.batch import Batch

    model, dm = bench.polymodal_initial_model(config, 0, bench.SEQ_DATA)
    names = list(dm.train_set.modalities)
    x = {m: torch.as_tensor(np.asarray(v, dtype=np.float32)) for m, v in dm.train_set.modalities.items()}
    encoders, fusion, head = bench._multibench_model(config, {m: v.shape[1] for m, v in x.items()}, 0)
    state = model.state_dict()
    bench.load_polymodal_state(config, names, encoders, fusion, head, state)
    model.eval()
    with torch.no_grad():
        expected = model(Batch(dict(x))).logits
        got = bench._multibench_forward(encoders, fusion, head, [x[m] for m in names])
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        if config == "tensor2":  # the same columns without the permutation: other logits
            head.fc.weight.copy_(state["head.net.0.weight"])
        elif config == "lowrank2":
            fusion.factors[0].copy_(state["fusion.factors.fou"])
        else:
            return
        assert (bench._multibench_forward(encoders, fusion, head, [x[m] for m in names]) - expected).abs().max() > 1e-3


def test_paired_mapping_refuses_other_shapes_and_leftovers(bench, multibench_modules):
    import torch

    from polymodal.errors import ConfigError, ShapeError

    model, _ = bench.polymodal_initial_model("concat2", 0, bench.SEQ_DATA)
    encoders, fusion, head = bench._multibench_model("concat2", {"fou": 76, "pix": 240}, 0)
    state = dict(model.state_dict())
    bad = dict(state, **{"encoders.pix.net.0.weight": torch.zeros(128, 239)})
    with pytest.raises(ShapeError, match=r"encoders\.pix\.net\.0\.weight has shape \(128, 239\).*\(128, 240\)"):
        bench.load_polymodal_state("concat2", ["fou", "pix"], encoders, fusion, head, bad)
    with pytest.raises(ConfigError, match="not mapped.*fusion.extra"):
        bench.load_polymodal_state("concat2", ["fou", "pix"], encoders, fusion, head,
                                   dict(state, **{"fusion.extra": torch.zeros(1)}))
    with pytest.raises(ConfigError, match="no 'encoders.pix.net.0.weight'"):
        bench.load_polymodal_state("concat2", ["fou", "pix"], encoders, fusion, head,
                                   {k: v for k, v in state.items() if k != "encoders.pix.net.0.weight"})


def test_paired_sampler_gives_polymodals_batches(bench):
    """MultiBench's DataLoader with the --paired sampler draws, pass after pass, the batches
    polymodal's training loader draws in epochs 0, 1, 2 (the last one short, as polymodal's)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    _, dm = bench.polymodal_initial_model("concat2", 1, bench.SEQ_DATA)
    polymodal_loader = dm.train_dataloader()
    n = len(dm.train_set)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=64,
                        sampler=bench.PolymodalEpochOrder(n, polymodal_loader.seed))
    orders = []
    for epoch in range(3):
        polymodal_loader.set_epoch(epoch)
        orders.append([batch.ids for batch in polymodal_loader])
        assert [batch[0].tolist() for batch in loader] == orders[-1] and len(orders[-1][-1]) == n % 64
    assert orders[0] != orders[2]  # a new order every epoch


def test_paired_refuses_sequence_configs(bench, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--multibench", "x", "--paired", "--configs", "tensor2", "tf_lstm"])
    assert "mfeat configs (concat6 concat2 tensor2 lowrank2) only; not for tf_lstm" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--paired"])
    assert "--paired needs --multibench" in capsys.readouterr().err


def test_paired_tensor2_run_gives_multibench_polymodals_accuracy(bench, multibench_root, capsys):
    """End to end, one child process per side: from the same start and batch order, MultiBench's
    own ``train`` and polymodal's ``fit`` reach the same validation accuracy every epoch and the same
    test accuracy (observed: equal, not just within one test sample)."""
    bench.main(["--multibench", multibench_root, "--reps", "1", "--configs", "tensor2", "--max-epochs", "3",
                "--paired", "--settle", "0"])
    out = capsys.readouterr().out
    row = [ln for ln in out.splitlines() if ln.startswith("| 1 | tensor2 | 0 |")]
    assert len(row) == 1, out
    cells = [c.strip() for c in row[0].split("|")]
    assert cells[4] == cells[5] and cells[6] == "+0.0000"  # test accuracy, polymodal == MultiBench
    assert cells[7] == cells[8] == "3" and cells[9] == "-"  # epochs; no epoch with another val accuracy
