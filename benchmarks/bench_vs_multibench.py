"""polymodal vs MultiBench's own training code, side by side, one process per run.

    python benchmarks/bench_vs_multibench.py [--multibench DIR] [--threads 1 2] [--reps 3]
                                             [--configs concat6 ...] [--max-epochs 50] [--warm-imports]
                                             [--paired]

MultiBench (Liang et al., NeurIPS 2021 Datasets and Benchmarks) is not
installable; give its checkout with ``--multibench DIR``:

    # with the fetch tool: fetch github:pliang279/MultiBench  (or: git clone https://github.com/pliang279/MultiBench)
    mkdir -p /tmp/MultiBench && git --git-dir=<mirror>/repo archive HEAD | tar -x -C /tmp/MultiBench
    python benchmarks/bench_vs_multibench.py --multibench /tmp/MultiBench --threads 1 2 --reps 3

Its own training function runs unchanged: ``training_structures.Supervised_Learning.train``
(RMSprop lr 1e-3, ``clip_grad_norm_(params, 8)``, early stop when validation accuracy has not
improved for 8 epochs, ``torch.save(model)`` of the best) with its own ``MLP``/``LSTM``/
``Concat``/``ConcatEarly``/``TensorFusion``/``LowRankTensorFusion``/``MULTModel`` modules, on
in-memory ``DataLoader``s (batch 64) of the very splits polymodal trains on (its dataset
scripts have hard-coded paths, so they are not used). ``track_complexity=False`` (its
``memory_profiler`` wrapper would be measured otherwise; a stub module stands in when
``memory_profiler`` is not installed; likewise ``torchvision``, which ``unimodals.common_models``
imports for its image encoders only). Accuracy is on the test split with the model it saved.

polymodal trains the same architectures through ``polymodal.training.fit`` (what users
get: best/last checkpoints, metrics.csv, early stopping with patience 8 on validation accuracy
(MultiBench's rule and model selection; polymodal's default monitor is the validation loss), clip 8, RMSprop 1e-3,
batch 64). Configs:

- mfeat (UCI Multiple Features, stratified 60/20/20 split of each seed, per-view z-scoring):
  ``concat6`` (6 views, MLP encoders in -> 128 -> ReLU -> 64, no activation on the output, as
  MultiBench's ``MLP``), ``concat2`` / ``tensor2`` / ``lowrank2``
  (fou + pix, encoders 128 -> 32; low-rank rank 8, 64 outputs), head MLP 128;
- sequences (``make_interaction_sequences``: 2 modalities x 20 steps x 4 features, 1200
  samples, label = XOR of one event per modality): ``ef_lstm`` (early fusion + LSTM 32),
  ``lf_lstm`` (an LSTM 32 per modality, concatenated), ``tf_lstm`` (LSTM 32 per modality,
  tensor fusion), ``mult`` (MulT, 2 heads x 2 layers, dim 16 / 18).

Rows: samples/s = training samples x epochs / wall seconds of training (validation and
checkpoints included, on both sides), CPU s/epoch = process CPU seconds of the whole run
(data loading excluded) / epochs, peak RSS = ``getrusage(RUSAGE_SELF).ru_maxrss`` of the child,
accuracy on the test split; means over repetitions (seed = repetition), ratios polymodal /
MultiBench (samples/s: higher is better; CPU and RSS: lower is better); "epoch wall ratio" is
the whole-epoch time (training, validation, checkpoints) polymodal / MultiBench, the reciprocal of
the samples/s ratio; the per-repetition range of the samples/s ratio and the mean 1-minute load
average after each run are printed beside it (``--json PATH`` keeps every run). Runs are
interleaved (each repetition runs every config on both sides in alternating order).

Paired runs (``--paired``, mfeat configs): without it both sides draw independent random streams
from the same seed number (other initial weights, other batch orders), so the seed is only a label
and a 5-seed accuracy gap mixes the engines with the luck of the draw (tensor2, seeds 0-4: 0.9630
polymodal vs 0.9705 MultiBench; over 50 seeds the paired difference is -0.0015 +- 0.0012). With
``--paired`` the same seed means the same start: for each seed the parent builds polymodal's initial
model exactly as ``fit`` does (the dataset, then ``seed_everything(seed, workers=True)``, then
``engine._data_task_model``) and saves it beside the split file; MultiBench's side copies it into its
own modules, parameter by parameter by architecture with every shape checked
(:func:`load_polymodal_state`; its ``TensorFusion`` and ``LowRankTensorFusion`` put the constant 1
first, polymodal's last, so the columns after tensor fusion and the low-rank factors' rows are
permuted), checks that its logits on 64 training samples are polymodal's, and its training
``DataLoader`` gets a sampler whose k-th pass is polymodal's order of epoch k
(``epoch_permutation(n, loader seed, k)``, batch 64, the short last batch kept as polymodal keeps
it). MultiBench's ``train`` itself runs unchanged. The accuracy comparison then measures only the
engines (float rounding in a different summation order can still flip a prediction late in a run);
each seed's two accuracies, epochs and the first epoch whose validation accuracy differs are
printed. One exception: MultiBench's ``LowRankTensorFusion`` keeps its factors in a plain list, so
its optimiser never trains them while polymodal's ``LowRankFusion`` does; lowrank2 runs from the same
start but its two models differ (the table says so). Timing is measured as without ``--paired``.

A pause before each run (``--settle``, default 2 s, session 10): right after a child exits (and the
system releases its ~0.5 GB), the next one sometimes ran in a slow mode for its whole run, on both
sides and mostly at 2 threads (OpenMP's worker threads); lowrank2, 2 threads, 5 interleaved pairs: with
no pause MultiBench 18-24k and polymodal 25-40k samples/s (bimodal), with a 2 s pause 22-24k and
38-40k in 9 of 10 pairs. The pause is outside both sides' timing.

Fresh process or steady state: building the first ``torch.optim`` optimiser of a process imports
``torch._dynamo`` (1.2-1.5 s). MultiBench's ``train()`` pays it inside its timed part; polymodal's
fast loop never imports it (``polymodal.training.optimizers``). By default each run is a fresh
process, what a user waits for; ``--warm-imports`` imports ``torch._dynamo`` before the timed
part on both sides, so samples/s is the steady-state training throughput. MultiBench's runs
are short (10-15 epochs), so the two differ by 2x and more: report both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VIEWS = ["fou", "fac", "kar", "pix", "zer", "mor"]
MFEAT = {  # name -> (views, encoder out)
    "concat6": (VIEWS, 64), "concat2": (["fou", "pix"], 32), "tensor2": (["fou", "pix"], 32),
    "lowrank2": (["fou", "pix"], 32),
}
SEQ = ("ef_lstm", "lf_lstm", "tf_lstm", "mult")
CONFIGS = (*MFEAT, *SEQ)
HIDDEN = 32  # sequence models' hidden size
SEQ_DATA = {"n": 1200, "length": 20, "dim": 4}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- data (parent)
def _dataset(config: str, seed: int, seq_data: dict):
    if config in MFEAT:
        from polymodal.data.catalog import load_dataset

        return load_dataset("mfeat").select(MFEAT[config][0])
    from polymodal.data.sequences_synthetic import make_interaction_sequences

    return make_interaction_sequences(seq_data["n"], length=seq_data["length"], dim=seq_data["dim"], seed=seed)


def write_split(config: str, seed: int, path: Path, seq_data: dict) -> None:
    """The standardised train/val/test arrays polymodal's engine trains on, for MultiBench."""
    from polymodal.training.config import parse_config
    from polymodal.training.engine import build_datamodule

    dm = build_datamodule(parse_config(_polymodal_config(config, seed, "x", 1)), _dataset(config, seed, seq_data))
    arrays = {}
    for split, ds in (("train", dm.train_set), ("val", dm.val_set), ("test", dm.test_set)):
        for m, x in ds.modalities.items():
            arrays[f"{split}/{m}"] = np.asarray(x, dtype=np.float32)
        arrays[f"{split}/target"] = np.asarray(ds.target, dtype=np.int64)
    arrays["modalities"] = np.array(list(dm.train_set.modalities))
    np.savez(path, **arrays)


# ----------------------------------------------------------------------------- polymodal side
def _polymodal_config(config: str, seed: int, out: str, max_epochs: int, async_checkpoint: bool = False,
                      last_every: int = 1) -> dict:
    head = {"name": "mlp", "hidden": [128 if config in MFEAT else HIDDEN]}
    if config in MFEAT:
        views, e = MFEAT[config]
        # MultiBench's MLP(in, 128, e): Linear -> ReLU -> Linear, no activation on the encoding
        enc = {"name": "mlp", "hidden": [128], "out_features": e}
        fusion = {"concat6": {"name": "concat"}, "concat2": {"name": "concat"}, "tensor2": {"name": "tensor"},
                  "lowrank2": {"name": "low_rank", "out_features": 64, "rank": 8}}[config]
        data = {"name": "mfeat", "modalities": views}
    else:
        lstm = {"name": "lstm", "hidden": HIDDEN}
        enc, fusion = {
            "ef_lstm": ({"name": "steps"}, {"name": "early_lstm", "hidden": HIDDEN}),
            "lf_lstm": (lstm, {"name": "concat"}),
            "tf_lstm": (lstm, {"name": "tensor"}),
            "mult": ({"name": "steps"}, {"name": "mult", "dim": 16, "heads": 2, "layers": 2, "memory_layers": 1,
                                          "dropout": 0.1}),
        }[config]
        data = {"name": "interaction_sequences"}
    data.update(batch_size=64, val_size=0.2, test_size=0.2)
    return {"name": f"{config}-s{seed}", "seed": seed, "data": data,
            "model": {"encoder": enc, "fusion": fusion, "head": head},
            "optim": {"name": "rmsprop", "lr": 1e-3},
            # MultiBench's rule for classification: the best model and early stopping by validation accuracy
            # (strictly better, 8 epochs' patience), not polymodal's default val_loss
            "trainer": {"max_epochs": max_epochs, "patience": 8, "gradient_clip_val": 8.0, "progress": False,
                        "monitor": "val_accuracy", "async_checkpoint": async_checkpoint,
                        "checkpoint_every_n_epochs": last_every},
            "output_dir": out}


def run_polymodal(config: str, seed: int, max_epochs: int, seq_data: dict, async_checkpoint: bool = False,
                  last_every: int = 1) -> dict:
    import polymodal.encoders  # noqa: F401
    import polymodal.fusion  # noqa: F401
    from polymodal.training.engine import fit

    dataset = _dataset(config, seed, seq_data)
    with tempfile.TemporaryDirectory() as out:
        cpu, wall = time.process_time(), time.perf_counter()
        res = fit(_polymodal_config(config, seed, out, max_epochs, async_checkpoint, last_every), dataset=dataset)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        history = (res.run_dir / "logs" / "metrics.csv").read_text().splitlines()
    column = history[0].split(",").index("val_accuracy")
    n_train = len(res.datamodule.train_set)
    return {"accuracy": res.test_metrics["accuracy"], "epochs": res.epochs, "params": res.n_parameters,
            "samples_per_s": n_train * res.epochs / res.train_seconds, "cpu_per_epoch": cpu / res.epochs,
            "wall_s": wall, "val_accuracy": [float(row.split(",")[column]) for row in history[1:]]}


# ----------------------------------------------------------------------------- --paired: one start for both
class PolymodalEpochOrder:
    """``DataLoader`` sampler whose k-th pass yields polymodal's training order of epoch k,
    :func:`polymodal.data.loader.epoch_permutation` ``(n, seed, k)`` (MultiBench's ``train`` iterates
    its loader once per epoch, so pass k is epoch k)."""

    def __init__(self, n: int, seed: int) -> None:
        # imported here, before MultiBench's timed train(): its import time is not MultiBench's
        from polymodal.data.loader import epoch_permutation

        self.n, self.seed, self.epoch, self.permutation = int(n), int(seed), 0, epoch_permutation

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        order = self.permutation(self.n, self.seed, self.epoch, True)
        self.epoch += 1
        return iter(order.tolist())


def polymodal_initial_model(config: str, seed: int, seq_data: dict):
    """The model ``fit`` starts training from for ``(config, seed)`` and its data module, built
    by fit's own sequence: the dataset first (``run_polymodal`` loads it before calling ``fit``),
    then ``seed_everything(seed, workers=True)`` and ``engine._data_task_model``. The global
    random generators and the two ``PL_*`` environment variables it sets are restored afterwards."""
    import random

    import torch

    import polymodal.encoders  # noqa: F401
    import polymodal.fusion  # noqa: F401
    from polymodal.training import engine
    from polymodal.training.config import parse_config
    from polymodal.training.seeding import seed_everything

    dataset = _dataset(config, seed, seq_data)
    cfg = parse_config(_polymodal_config(config, seed, "unused", 1))
    saved = (random.getstate(), np.random.get_state(), torch.random.get_rng_state(),
             {k: os.environ.get(k) for k in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")})
    try:
        seed_everything(cfg.seed, workers=True)
        datamodule, _, model = engine._data_task_model(cfg, dataset)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.random.set_rng_state(saved[2])
        for k, v in saved[3].items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return model, datamodule


def write_initial_state(config: str, seed: int, path: Path, seq_data: dict, probe_rows: int = 64) -> None:
    """``torch.save`` of a plain dict (read with ``weights_only=True``) for MultiBench's side of a
    ``--paired`` run: ``state`` (polymodal's initial parameters, :func:`polymodal_initial_model`),
    ``modalities`` (their order), ``train_loader_seed`` and ``drop_last`` (of polymodal's training
    loader), and ``probe`` / ``probe_logits`` (the first ``probe_rows`` training samples and the
    initial model's logits on them, in eval mode: MultiBench's side checks its copy against them)."""
    import torch

    from polymodal.data.batch import Batch
    from polymodal.errors import ConfigError

    if config not in MFEAT:
        raise ConfigError(f"--paired maps the mfeat configs {list(MFEAT)} only, not {config!r}")
    model, dm = polymodal_initial_model(config, seed, seq_data)
    loader = dm.train_dataloader()
    names = list(dm.train_set.modalities)
    probe = {m: torch.as_tensor(np.asarray(x[:probe_rows], dtype=np.float32))
             for m, x in dm.train_set.modalities.items()}
    model.eval()
    with torch.no_grad():
        logits = model(Batch(dict(probe))).logits
    torch.save({"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "modalities": names,
                "train_loader_seed": int(loader.seed), "drop_last": bool(getattr(loader, "drop_last", False)),
                "probe": probe, "probe_logits": logits}, path)


def _copy_into(target, value, name: str) -> None:
    import torch

    from polymodal.errors import ShapeError

    if tuple(target.shape) != tuple(value.shape):
        raise ShapeError(f"--paired: {name} has shape {tuple(value.shape)} in polymodal's model but "
                         f"{tuple(target.shape)} in MultiBench's")
    with torch.no_grad():
        target.copy_(value)


def load_polymodal_state(config: str, names: list[str], encoders, fusion, head, state: dict) -> None:
    """Copy polymodal's parameters ``state`` (a ``MultimodalModel.state_dict()`` of ``config``) into
    MultiBench's modules from :func:`_multibench_model`, parameter by parameter by architecture:

    - encoder ``m`` (``names[i]``): ``encoders.m.net.0`` / ``net.2`` -> ``encoders[i].fc`` / ``fc2``;
    - head: ``head.net.0`` / ``net.2`` -> ``head.fc`` / ``fc2``; after tensor fusion the columns of
      ``head.net.0.weight`` are permuted, since MultiBench's ``TensorFusion`` puts the constant 1 first
      (``[1; h]``) and polymodal's last (``[h; 1]``): viewed as ``(out, d_1 + 1, ..., d_M + 1)``, each
      modality axis is rolled by one (polymodal's index ``d_m`` becomes MultiBench's 0);
    - low rank: ``fusion.factors.m`` ``(r, d_m + 1, o)`` -> ``fusion.factors[i]``, rolled by one on the
      middle axis (ones first too), ``fusion_weights`` ``(r,)`` -> ``(1, r)``, ``fusion_bias`` ``(o,)``
      -> ``(1, o)``.

    Every shape is checked (``ShapeError``) and every polymodal parameter must be used once
    (``ConfigError`` otherwise).
    """
    import torch

    from polymodal.errors import ConfigError, ShapeError

    if config not in MFEAT:
        raise ConfigError(f"--paired maps the mfeat configs {list(MFEAT)} only, not {config!r}")
    used = set()

    def take(key):
        if key not in state:
            raise ConfigError(f"--paired: polymodal's state has no {key!r} (keys: {sorted(state)})")
        used.add(key)
        return state[key]

    def mlp(dst, prefix, first_weight=None):
        _copy_into(dst.fc.weight, take(f"{prefix}.net.0.weight") if first_weight is None else first_weight,
                   f"{prefix}.net.0.weight")
        _copy_into(dst.fc.bias, take(f"{prefix}.net.0.bias"), f"{prefix}.net.0.bias")
        _copy_into(dst.fc2.weight, take(f"{prefix}.net.2.weight"), f"{prefix}.net.2.weight")
        _copy_into(dst.fc2.bias, take(f"{prefix}.net.2.bias"), f"{prefix}.net.2.bias")

    if len(encoders) != len(names):
        raise ConfigError(f"--paired: {len(encoders)} MultiBench encoders for modalities {names}")
    for i, m in enumerate(names):
        mlp(encoders[i], f"encoders.{m}")
    first = None
    if config == "tensor2":
        w = take("head.net.0.weight")
        sizes = [take(f"encoders.{m}.net.2.bias").shape[0] + 1 for m in names]
        if w.shape[1] != int(np.prod(sizes)):
            raise ShapeError(f"--paired: head.net.0.weight has {w.shape[1]} input columns, tensor fusion of "
                             f"{names} has {int(np.prod(sizes))}")
        first = torch.roll(w.reshape(w.shape[0], *sizes), shifts=[1] * len(sizes),
                           dims=list(range(1, len(sizes) + 1))).reshape(w.shape)
    elif config == "lowrank2":
        if len(fusion.factors) != len(names):
            raise ConfigError(f"--paired: {len(fusion.factors)} MultiBench low-rank factors for modalities {names}")
        for i, m in enumerate(names):
            _copy_into(fusion.factors[i], torch.roll(take(f"fusion.factors.{m}"), 1, dims=1), f"fusion.factors.{m}")
        _copy_into(fusion.fusion_weights, take("fusion.fusion_weights")[None], "fusion.fusion_weights")
        _copy_into(fusion.fusion_bias, take("fusion.fusion_bias")[None], "fusion.fusion_bias")
    mlp(head, "head", first)
    if set(state) - used:
        raise ConfigError(f"--paired: polymodal parameters not mapped onto MultiBench's {config}: "
                         f"{sorted(set(state) - used)}")


def _multibench_forward(encoders, fusion, head, inputs):
    """MultiBench's ``MMDL.forward`` for these modules: encoders, fusion, head."""
    for module in (*encoders, fusion, head):
        module.eval()
    return head(fusion([enc(x) for enc, x in zip(encoders, inputs)]))


# ----------------------------------------------------------------------------- MultiBench side
def _multibench_model(config: str, dims: dict[str, int], steps: int):
    import torch
    from fusions.common_fusions import Concat, ConcatEarly, LowRankTensorFusion, TensorFusion
    from unimodals.common_models import LSTM, MLP, Identity

    names = list(dims)
    if config in MFEAT:
        e = MFEAT[config][1]
        encoders = [MLP(dims[m], 128, e) for m in names]
        if config.startswith("concat"):
            return encoders, Concat(), MLP(e * len(names), 128, 10)
        if config == "tensor2":
            return encoders, TensorFusion(), MLP((e + 1) ** 2, 128, 10)
        return encoders, LowRankTensorFusion([e, e], 64, 8), MLP(64, 128, 10)
    h = HIDDEN
    if config == "ef_lstm":
        return ([Identity() for _ in names], ConcatEarly(),
                torch.nn.Sequential(LSTM(sum(dims.values()), h), MLP(h, h, 2)))
    if config == "lf_lstm":
        return [LSTM(dims[m], h) for m in names], Concat(), MLP(h * len(names), h, 2)
    if config == "tf_lstm":
        return [LSTM(dims[m], h) for m in names], TensorFusion(), MLP((h + 1) ** 2, h, 2)
    from fusions.mult import MULTModel

    class Hyp(MULTModel.DefaultHyperParams):
        num_heads, layers, embed_dim, output_dim, all_steps = 2, 2, 18, 2, False
        attn_dropout = relu_dropout = res_dropout = 0.1

    return [Identity() for _ in names], MULTModel(len(names), [dims[m] for m in names], hyp_params=Hyp), Identity()


def import_multibench(root: str) -> None:
    """Put the MultiBench checkout ``root`` on ``sys.path``, with stand-ins for the two modules it
    imports but these runs never use (``memory_profiler``, ``torchvision``) when they are absent."""
    import types

    sys.path.insert(0, str(Path(root).resolve()))
    try:
        import memory_profiler  # noqa: F401
    except ImportError:  # only used by track_complexity=True
        sys.modules["memory_profiler"] = types.SimpleNamespace(memory_usage=None)
    try:
        import torchvision  # noqa: F401
    except ImportError:  # common_models imports it for its image encoders only, unused here
        sys.modules["torchvision"] = types.SimpleNamespace(models=None)


def run_multibench(config: str, seed: int, max_epochs: int, split: str, root: str, init: str | None = None) -> dict:
    import contextlib
    import io

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from polymodal.errors import ConfigError

    import_multibench(root)
    from training_structures.Supervised_Learning import train

    data = np.load(split)
    names = [str(m) for m in data["modalities"]]
    start = None if init is None else torch.load(init, weights_only=True)
    if start is not None and start["modalities"] != names:
        raise ConfigError(f"{init}: modalities {start['modalities']} but the split file has {names}")

    def loader(part, shuffle):
        tensors = [torch.from_numpy(data[f"{part}/{m}"]) for m in names] + [torch.from_numpy(data[f"{part}/target"])]
        if shuffle and start is not None:  # --paired: polymodal's order of every epoch
            sampler = PolymodalEpochOrder(len(tensors[-1]), start["train_loader_seed"])
            return DataLoader(TensorDataset(*tensors), batch_size=64, sampler=sampler, drop_last=start["drop_last"])
        return DataLoader(TensorDataset(*tensors), batch_size=64, shuffle=shuffle)

    torch.manual_seed(seed)
    dims = {m: data[f"train/{m}"].shape[-1] for m in names}
    encoders, fusion, head = _multibench_model(config, dims, data[f"train/{names[0]}"].shape[1])
    if start is not None:  # --paired: polymodal's initial weights, checked on its logits before training
        load_polymodal_state(config, names, encoders, fusion, head, start["state"])
        with torch.no_grad():
            logits = _multibench_forward(encoders, fusion, head, [start["probe"][m] for m in names])
        if not torch.allclose(logits, start["probe_logits"], rtol=0, atol=1e-5):
            raise ConfigError(f"{config}: MultiBench's modules with polymodal's initial weights give other logits "
                             f"(max |diff| {float((logits - start['probe_logits']).abs().max()):.2e})")
    n_train = len(data["train/target"])
    with tempfile.TemporaryDirectory() as out:
        save = os.path.join(out, "best.pt")
        log = io.StringIO()
        cpu, wall = time.process_time(), time.perf_counter()
        with contextlib.redirect_stdout(log):
            train(encoders, fusion, head, loader("train", True), loader("val", False), max_epochs, early_stop=True,
                  optimtype=torch.optim.RMSprop, lr=1e-3, save=save, clip_val=8, track_complexity=False)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        epochs = log.getvalue().count(" train loss: ")
        val_accuracy = [float(line.rsplit(" acc: ", 1)[1]) for line in log.getvalue().splitlines()
                        if " valid loss: " in line and " acc: " in line]
        model = torch.load(save, weights_only=False)  # MultiBench pickles whole models
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in loader("test", False):
            correct += int((model([x.float() for x in batch[:-1]]).argmax(1) == batch[-1]).sum())
    params = sum(p.numel() for p in model.parameters())
    return {"accuracy": correct / len(data["test/target"]), "epochs": epochs, "params": params,
            "samples_per_s": n_train * epochs / wall, "cpu_per_epoch": cpu / epochs, "wall_s": wall,
            "val_accuracy": val_accuracy}


# ----------------------------------------------------------------------------- driver
def child(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    if spec.get("warm_imports"):  # torch.optim imports torch._dynamo when its first optimiser is built
        import torch._dynamo  # noqa: F401
    if spec["side"] == "polymodal":
        out = run_polymodal(spec["config"], spec["seed"], spec["max_epochs"], spec["seq_data"],
                            spec.get("async_checkpoint", False), spec.get("last_every", 1))
    else:
        out = run_multibench(spec["config"], spec["seed"], spec["max_epochs"], spec["split"], spec["multibench"],
                             spec.get("init"))
    out["peak_rss_mib"] = _peak_rss_mib()
    return out


def run_child(spec: dict, timeout: float = 1800) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": " / ".join(proc.stderr.strip().splitlines()[-3:]) or "no output"}
    return json.loads(lines[-1][len("RESULT "):])


def _mean(rows, key):
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--multibench", help="MultiBench checkout (not installable); without it only polymodal runs")
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads per run")
    p.add_argument("--reps", type=int, default=3, help="repetitions (seed = repetition)")
    p.add_argument("--configs", nargs="+", choices=CONFIGS,
                   help="which configs (default: all; with --paired: the mfeat ones)")
    p.add_argument("--max-epochs", type=int, default=50, help="epoch limit (MultiBench's mfeat protocol: 50)")
    p.add_argument("--seq-samples", type=int, default=SEQ_DATA["n"], help="samples of the sequence task")
    p.add_argument("--json", help="write every run's numbers (and the 1-minute load average after it) here")
    p.add_argument("--warm-imports", action="store_true",
                   help="import torch._dynamo in every run before its timed part: steady-state throughput, without "
                        "the ~1.2-1.5 s that building the first torch.optim optimiser of a process costs "
                        "(MultiBench pays it inside its timed train(), polymodal's fast loop never)")
    p.add_argument("--async-checkpoint", action="store_true",
                   help="polymodal writes each epoch's checkpoint on a background thread (trainer.async_checkpoint; "
                        "off: written, fsynced and renamed before the next epoch, polymodal's default)")
    p.add_argument("--last-every", type=int, default=1, metavar="N",
                   help="polymodal writes last.ckpt every N epochs (trainer.checkpoint_every_n_epochs; default 1, "
                        "polymodal's default), once trainer.checkpoint_min_interval_s (left at its default, 10 s) "
                        "has passed, and at the end; best.ckpt is written on every improvement either way. A large "
                        "N is MultiBench's policy: it saves only its best model, and cannot resume a run")
    p.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                   help="pause before each run, so that the previous run's process has exited and released its "
                        "memory before the next starts (default 2; 0: none)")
    p.add_argument("--paired", action="store_true",
                   help="MultiBench's side of each seed starts from polymodal's initial weights for that seed and "
                        "sees polymodal's batch order (its train() unchanged), so the accuracies differ only by the "
                        "engines; mfeat configs only; prints each seed's accuracies and epochs")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    if args.configs is None:
        args.configs = list(MFEAT) if args.paired else list(CONFIGS)
    if args.paired:
        if not args.multibench:
            p.error("--paired needs --multibench DIR (it pairs polymodal's runs with MultiBench's)")
        unpaired = [c for c in args.configs if c not in MFEAT]
        if unpaired:
            p.error(f"--paired maps polymodal's initial weights onto MultiBench's modules for the mfeat configs "
                    f"({' '.join(MFEAT)}) only; not for {' '.join(unpaired)} (their LSTM / MulT modules are not "
                    "mapped)")
    sides = ["polymodal"] + (["multibench"] if args.multibench else [])
    seq_data = dict(SEQ_DATA, n=args.seq_samples)
    results: dict[tuple, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        splits = {}
        if args.multibench:
            for config in args.configs:
                for seed in range(args.reps):
                    splits[config, seed] = str(Path(tmp) / f"{config}-{seed}.npz")
                    write_split(config, seed, Path(splits[config, seed]), seq_data)
                    if args.paired:
                        write_initial_state(config, seed, Path(tmp) / f"{config}-{seed}.init.pt", seq_data)
        for threads in args.threads:
            for rep in range(args.reps):
                for i, config in enumerate(args.configs):
                    order = sides if (rep + i) % 2 == 0 else sides[::-1]
                    for side in order:
                        spec = {"side": side, "config": config, "seed": rep, "threads": threads,
                                "max_epochs": args.max_epochs, "seq_data": seq_data,
                                "split": splits.get((config, rep)), "multibench": args.multibench,
                                "warm_imports": args.warm_imports, "async_checkpoint": args.async_checkpoint,
                                "last_every": args.last_every,
                                "init": str(Path(tmp) / f"{config}-{rep}.init.pt") if args.paired else None}
                        time.sleep(args.settle)  # the previous child's exit settles first (see the docstring)
                        out = run_child(spec)
                        out["load1"] = os.getloadavg()[0]
                        print(f"# threads={threads} rep={rep} {config:8s} {side:10s} load {out['load1']:.2f} " +
                              (out["error"] if "error" in out else
                               f"acc {out['accuracy']:.4f} epochs {out['epochs']} {out['samples_per_s']:.0f} "
                               f"samples/s {out['cpu_per_epoch']:.3f} CPU s/epoch {out['peak_rss_mib']:.0f} MiB"),
                              file=sys.stderr, flush=True)
                        results.setdefault((threads, config, side), []).append(out)
    if args.json:
        Path(args.json).write_text(json.dumps([{"threads": t, "config": c, "side": s, "runs": rows}
                                               for (t, c, s), rows in results.items()], indent=1))
    if args.paired:
        print("Paired: on each seed MultiBench's side starts from polymodal's initial weights and sees its batch "
              "order.\n")
    print("| threads | config | side | accuracy | epochs | params | samples/s | CPU s/epoch | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (threads, config, side), rows in results.items():
        ok = [r for r in rows if "error" not in r]
        print(f"| {threads} | {config} | {side} | {_mean(ok, 'accuracy'):.4f} | {_mean(ok, 'epochs'):.1f} | "
              f"{_mean(ok, 'params'):.0f} | {_mean(ok, 'samples_per_s'):.0f} | {_mean(ok, 'cpu_per_epoch'):.3f} | "
              f"{_mean(ok, 'peak_rss_mib'):.0f} |" + (f" ({len(rows) - len(ok)} failed)" if len(ok) < len(rows) else ""))
    if args.multibench:
        print("\n| threads | config | samples/s ratio (pm/MB), per-rep range | epoch wall ratio (pm/MB) | "
              "CPU s/epoch ratio (pm/MB) | RSS ratio (pm/MB) | accuracy MB / pm | load avg |")
        print("|---|---|---|---|---|---|---|---|")
        for threads in args.threads:
            for config in args.configs:
                pm = [r for r in results[threads, config, "polymodal"] if "error" not in r]
                mb = [r for r in results[threads, config, "multibench"] if "error" not in r]
                ratio = lambda k: _mean(pm, k) / _mean(mb, k)  # noqa: E731
                per_rep = [a["samples_per_s"] / b["samples_per_s"] for a, b in zip(pm, mb)] or [float("nan")]
                load = _mean(pm + mb, "load1")
                print(f"| {threads} | {config} | {ratio('samples_per_s'):.2f} ({min(per_rep):.2f}-{max(per_rep):.2f}) | "
                      f"{1 / ratio('samples_per_s'):.2f} | {ratio('cpu_per_epoch'):.2f} | {ratio('peak_rss_mib'):.2f} | "
                      f"{_mean(mb, 'accuracy'):.4f} / {_mean(pm, 'accuracy'):.4f} | {load:.1f} |")
    if args.paired:
        print(paired_table(results, args.threads, args.configs))
    return 0


def _first_difference(a: list, b: list) -> str:
    for epoch, (x, y) in enumerate(zip(a, b)):
        if abs(x - y) > 1e-9:
            return str(epoch)
    return "-" if len(a) == len(b) else str(min(len(a), len(b)))


def paired_table(results: dict, threads: list[int], configs: list[str]) -> str:
    """Per seed of a ``--paired`` run: both sides' test accuracies and epochs, the first epoch whose
    validation accuracy differs ("-": none), and per config the largest |difference| of test accuracy."""
    lines = ["\n| threads | config | seed | accuracy pm | accuracy MB | pm - MB | epochs pm | epochs MB | "
             "first epoch with other val acc |", "|---|---|---|---|---|---|---|---|---|"]
    for t in threads:
        for config in configs:
            diffs = []
            for seed, (a, b) in enumerate(zip(results[t, config, "polymodal"], results[t, config, "multibench"])):
                if "error" in a or "error" in b:
                    lines.append(f"| {t} | {config} | {seed} | failed | | | | | |")
                    continue
                diffs.append(a["accuracy"] - b["accuracy"])
                lines.append(f"| {t} | {config} | {seed} | {a['accuracy']:.4f} | {b['accuracy']:.4f} | "
                             f"{diffs[-1]:+.4f} | {a['epochs']} | {b['epochs']} | "
                             f"{_first_difference(a.get('val_accuracy', []), b.get('val_accuracy', []))} |")
            worst = max((abs(d) for d in diffs), default=float("nan"))
            lines.append(f"| {t} | {config} | max abs | | | {worst:.4f} | | | |")
    if "lowrank2" in configs:
        lines.append("\nlowrank2 differs by more than the engines: MultiBench's LowRankTensorFusion keeps its factors "
                     "in a plain list, so its optimiser never trains them (nor clips their gradients); polymodal's "
                     "LowRankFusion trains them. Both start from the same weights.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
