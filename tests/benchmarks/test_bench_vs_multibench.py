"""benchmarks/bench_vs_multibench.py, polymodal side on a tiny setting: its models have
MultiBench's published parameter counts (ANCHORS.md: 183,946 / 58,570 / 189,770), the split
file handed to MultiBench is the engine's own split, and a run learns and reports its numbers."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_vs_multibench")
    finally:
        sys.path.remove(str(BENCHMARKS))


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
    bench.main(["--multibench", "x", "--reps", "2", "--configs", "concat2", "--json", str(out_json)])
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
