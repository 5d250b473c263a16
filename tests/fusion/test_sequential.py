"""Sequential fusion models: padded batches equal per-sequence runs, MV-LSTM
connectivity by gradients, MFN against its equations written out, MulT on
unaligned lengths, clear errors, config building and training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.data import Batch, MultimodalDataset, collate
from polymodal.encoders import PaddedSequence
from polymodal.errors import ModalityError, ShapeError
from polymodal.fusion.sequential import (
    MVLSTM,
    EarlyFusionLSTM,
    LateFusionLSTM,
    MemoryFusionNetwork,
    MultimodalTransformer,
)
from polymodal.training.config import parse_config
from polymodal.training.engine import build_model, fit
from polymodal.core.registry import build

DIMS = {"a": 3, "b": 2, "c": 4}
LENGTHS = [6, 1, 4, 3]


def _aligned(seed=0, lengths=LENGTHS, dims=DIMS):
    g = torch.Generator().manual_seed(seed)
    t = max(lengths)
    padded = {m: torch.randn(len(lengths), t, d, generator=g, dtype=torch.float64) for m, d in dims.items()}
    for m in padded:
        for i, n in enumerate(lengths):
            padded[m][i, n:] = 50.0  # garbage padding must not leak
    return padded, torch.tensor(lengths)


MODELS = {
    "early_lstm": lambda: EarlyFusionLSTM(DIMS, hidden=5),
    "early_gru_bi": lambda: EarlyFusionLSTM(DIMS, hidden=5, cell="gru", bidirectional=True, num_layers=2),
    "late_lstm": lambda: LateFusionLSTM(DIMS, hidden=4, output="mean"),
    "mv_view_specific": lambda: MVLSTM(DIMS, hidden=4, topology="view_specific"),
    "mv_coupled": lambda: MVLSTM(DIMS, hidden=4, topology="coupled"),
    "mv_fully_connected": lambda: MVLSTM(DIMS, hidden=4, topology="fully_connected"),
    "mv_hybrid": lambda: MVLSTM(DIMS, hidden=6, topology="hybrid", alpha=0.5, beta=1 / 3),
    "mfn": lambda: MemoryFusionNetwork(DIMS, hidden={"a": 3, "b": 4, "c": 5}, memory=6, attention_hidden=7,
                                       gate_hidden=5),
    "mult": lambda: MultimodalTransformer(DIMS, dim=8, heads=2, layers=2, memory_layers=1),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_padded_batch_equals_each_sequence_alone(name):
    torch.manual_seed(0)
    model = MODELS[name]().double().eval()
    padded, lengths = _aligned()
    batched = model({m: PaddedSequence(x, lengths) for m, x in padded.items()})
    assert batched.shape == (len(LENGTHS), model.out_features)
    for i, n in enumerate(LENGTHS):
        alone = model({m: x[i:i + 1, :n] for m, x in padded.items()})[0]
        torch.testing.assert_close(batched[i], alone, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", ["late_lstm", "mult"])
def test_unaligned_lengths_per_modality(name):
    """MulT (and late fusion) take modalities of different lengths per sample."""
    torch.manual_seed(1)
    model = MODELS[name]().double().eval()
    lengths = {"a": [6, 2, 3, 1], "b": [9, 9, 1, 4], "c": [2, 5, 5, 5]}
    g = torch.Generator().manual_seed(3)
    seqs = {m: [torch.randn(n, DIMS[m], generator=g, dtype=torch.float64) for n in ls] for m, ls in lengths.items()}
    feats = {}
    for m, ls in lengths.items():
        x = torch.full((4, max(ls), DIMS[m]), -7.0, dtype=torch.float64)
        for i, s in enumerate(seqs[m]):
            x[i, : len(s)] = s
        feats[m] = PaddedSequence(x, torch.tensor(ls))
    batched = model(feats)
    for i in range(4):
        alone = model({m: seqs[m][i][None] for m in DIMS})[0]
        torch.testing.assert_close(batched[i], alone, atol=1e-10, rtol=1e-10)
    # every modality influences the output
    x = {m: f.values.clone().requires_grad_(True) for m, f in feats.items()}
    model({m: PaddedSequence(x[m], feats[m].lengths) for m in DIMS}).sum().backward()
    assert all(float(x[m].grad.abs().sum()) > 0 for m in DIMS)


# -- MV-LSTM connectivity ----------------------------------------------------
def _cell_grads(model: MVLSTM, view: int, cells: slice):
    """d c^view_1[cells] / d h^j_0 for every view j, one step from random states."""
    g = torch.Generator().manual_seed(5)
    n, k, hid = 3, len(DIMS), model.cell.hidden
    x = {m: torch.randn(n, d, generator=g, dtype=torch.float64) for m, d in DIMS.items()}
    h0 = torch.randn(n, k, hid, generator=g, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(n, k, hid, generator=g, dtype=torch.float64)
    _, c1 = model.cell(x, h0, c0)
    c1[:, view, cells].sum().backward()
    return [float(h0.grad[:, j].abs().sum()) for j in range(k)]


@pytest.mark.parametrize("topology,own,others", [
    ("view_specific", True, False), ("coupled", False, True), ("fully_connected", True, True)])
def test_mvlstm_topology_connectivity(topology, own, others):
    torch.manual_seed(0)
    model = MVLSTM(DIMS, hidden=4, topology=topology).double()
    for view in range(3):
        grads = _cell_grads(model, view, slice(None))
        assert (grads[view] > 0) == own
        assert all((grads[j] > 0) == others for j in range(3) if j != view)


def test_mvlstm_hybrid_regions():
    torch.manual_seed(0)
    model = MVLSTM(DIMS, hidden=6, topology="hybrid", alpha=0.5, beta=1 / 3).double()
    regions = model.cell.regions()
    assert regions == {"view_specific": slice(0, 3), "coupled": slice(3, 5), "fully_connected": slice(5, 6)}
    expect = {"view_specific": (True, False), "coupled": (False, True), "fully_connected": (True, True)}
    for name, cells in regions.items():
        grads = _cell_grads(model, 1, cells)
        assert (grads[1] > 0, grads[0] > 0 and grads[2] > 0) == expect[name]
        if not expect[name][1]:
            assert grads[0] == 0 and grads[2] == 0


def test_mvlstm_view_specific_memories_never_interact():
    """alpha=1, beta=0: the loss through view A's memory over a whole sequence
    has exactly zero gradient w.r.t. view B's input weights and inputs."""
    torch.manual_seed(0)
    padded, lengths = _aligned()
    for topology, zero in [("view_specific", True), ("fully_connected", False), ("coupled", False)]:
        model = MVLSTM(DIMS, hidden=4, topology=topology).double()
        xb = padded["b"].clone().requires_grad_(True)
        feats = {m: PaddedSequence(x, lengths) for m, x in padded.items()}
        feats["b"] = PaddedSequence(xb, lengths)
        _, c = model.run(feats)
        c[:, 0].sum().backward()  # view "a"'s memory
        wb = model.cell.inputs["b"].weight.grad
        gb = 0.0 if wb is None else float(wb.abs().sum())
        assert (gb == 0 and float(xb.grad.abs().sum()) == 0) == zero
        assert float(model.cell.inputs["a"].weight.grad.abs().sum()) > 0


# -- MFN against its equations ---------------------------------------------------
def test_mfn_matches_equations_written_out():
    torch.manual_seed(2)
    dims = {"a": 3, "b": 2}
    model = MemoryFusionNetwork(dims, hidden=4, memory=5, attention_hidden=6, gate_hidden=7).double().eval()
    padded, _ = _aligned(seed=4, lengths=[3, 3], dims=dims)

    def mlp(seq, z):
        return seq[3](torch.relu(seq[0](z)))

    def lstm(cell, x, h, c):
        i, f, g, o = (x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    h = {m: torch.zeros(2, 4, dtype=torch.float64) for m in dims}
    c = {m: torch.zeros(2, 4, dtype=torch.float64) for m in dims}
    u = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(3):
        new = {m: lstm(model.lstms[m], padded[m][:, t], h[m], c[m]) for m in dims}
        delta = torch.cat([c["a"], c["b"], new["a"][1], new["b"][1]], 1)
        a = torch.exp(mlp(model.attention, delta))
        chat = a / a.sum(1, keepdim=True) * delta
        uhat = torch.tanh(mlp(model.candidate, chat))
        g1 = torch.sigmoid(mlp(model.retain, torch.cat([chat, u], 1)))
        g2 = torch.sigmoid(mlp(model.update, torch.cat([chat, u], 1)))
        u = g1 * u + g2 * uhat
        h, c = {m: new[m][0] for m in dims}, {m: new[m][1] for m in dims}
    torch.testing.assert_close(model(padded), torch.cat([h["a"], h["b"], u], 1), atol=1e-12, rtol=0)


def test_early_lstm_is_one_lstm_on_concatenated_steps():
    torch.manual_seed(3)
    model = EarlyFusionLSTM(DIMS, hidden=5).double()
    padded, lengths = _aligned()
    joint = torch.cat([padded[m] for m in DIMS], -1)
    torch.testing.assert_close(model({m: PaddedSequence(x, lengths) for m, x in padded.items()}),
                               model.rnn(joint, lengths))


def test_missing_modality_is_zero_input():
    torch.manual_seed(0)
    model = MODELS["mfn"]().double().eval()
    padded, lengths = _aligned()
    present = {"b": torch.tensor([True, False, True, False])}
    zeroed = dict(padded)
    zeroed["b"] = padded["b"] * present["b"][:, None, None].double()
    torch.testing.assert_close(model(padded, present), model(zeroed))


@pytest.mark.parametrize("name", ["early_lstm", "mv_hybrid", "mfn", "mult", "late_lstm"])
def test_bad_input_errors(name):
    model = MODELS[name]().double()
    padded, lengths = _aligned()
    bad = dict(padded)
    bad["b"] = padded["b"][:3]
    with pytest.raises(ShapeError, match="different batch sizes"):
        model(bad)
    with pytest.raises(ShapeError, match="exceeds the padded size"):
        model({m: PaddedSequence(x, torch.tensor([9, 1, 1, 1])) for m, x in padded.items()})
    with pytest.raises(ShapeError, match="at least 1 step"):
        model({m: PaddedSequence(x, torch.tensor([6, 0, 1, 1])) for m, x in padded.items()})
    with pytest.raises(ModalityError, match="'c' is missing"):
        model({m: x for m, x in padded.items() if m != "c"})
    wrong = dict(padded)
    wrong["a"] = padded["a"][..., :2]
    with pytest.raises(ShapeError, match="'a' must have 3 features per step, got 2"):
        model(wrong)


@pytest.mark.parametrize("name", ["early_lstm", "mv_hybrid", "mfn"])
def test_aligned_models_refuse_unaligned_sequences(name):
    model = MODELS[name]().double()
    padded, lengths = _aligned()
    longer = dict(padded)
    longer["c"] = torch.cat([padded["c"], padded["c"]], 1)
    with pytest.raises(ShapeError, match="aligned"):
        model(longer)
    feats = {m: PaddedSequence(x, lengths) for m, x in padded.items()}
    feats["a"] = PaddedSequence(padded["a"], torch.tensor([6, 2, 4, 3]))
    with pytest.raises(ShapeError, match="sample 1 has 2 steps in 'a' but 1 in 'b'"):
        model(feats)


def test_mvlstm_bad_topology_arguments():
    with pytest.raises(ValueError, match="alpha"):
        MVLSTM(DIMS, topology="hybrid", alpha=0.8, beta=0.5)
    with pytest.raises(ValueError, match="fixed by topology"):
        MVLSTM(DIMS, topology="coupled", alpha=0.5)


@pytest.mark.parametrize("spec", [
    {"name": "early_lstm", "hidden": 8}, {"name": "late_lstm", "hidden": 4},
    {"name": "mv_lstm", "hidden": 4, "topology": "hybrid", "alpha": 0.5, "beta": 0.25},
    {"name": "mfn", "hidden": 4, "memory": 8}, {"name": "mult", "dim": 8, "heads": 2, "layers": 1},
])
def test_build_from_config(spec):
    fusion = build("fusion", spec, in_features={"x": 2, "y": 3}, n_outputs=2, task="classification")
    out = fusion({"x": torch.zeros(2, 5, 2), "y": torch.zeros(2, 5, 3)})
    assert out.shape == (2, fusion.out_features)


@pytest.mark.parametrize("fusion", [{"name": "mfn", "hidden": 4, "memory": 4},
                                    {"name": "mult", "dim": 4, "heads": 1, "layers": 1, "memory_layers": 1}])
def test_config_built_model_on_collated_batch(fusion):
    """The whole stack (steps encoders, fusion, head) on a collated padded Batch
    equals the same model run on each sample alone."""
    rng = np.random.default_rng(1)
    lengths = [5, 2, 7]
    ds = MultimodalDataset({"a": [rng.normal(size=(t, 2)) for t in lengths],
                            "b": [rng.normal(size=(t, 3)) for t in lengths]}, np.array([0, 1, 0]))
    config = parse_config({"model": {"encoder": {"name": "steps"}, "fusion": fusion, "head": {"name": "mlp", "hidden": [3]}}})
    torch.manual_seed(0)
    model = build_model(config, ds.specs, 2, "classification").double().eval()
    batch = collate([ds[i] for i in range(3)])
    assert batch.lengths["a"].tolist() == lengths
    inputs = {m: x.double() for m, x in batch.inputs.items()}
    logits = model(Batch(inputs, lengths=batch.lengths)).logits
    for i, t in enumerate(lengths):
        alone = model({m: x[i:i + 1, :t] for m, x in inputs.items()}).logits[0]
        torch.testing.assert_close(logits[i], alone, atol=1e-10, rtol=1e-10)


def test_engine_trains_mfn_on_variable_length_sequences(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    lengths = rng.integers(3, 9, n)
    y = rng.integers(0, 2, n)
    a = [rng.normal(size=(t, 2)) + 1.5 * y[i] for i, t in enumerate(lengths)]
    b = [rng.normal(size=(t, 3)) for t in lengths]
    ds = MultimodalDataset({"a": a, "b": b}, y, name="toy")
    config = {"name": "mfn", "data": {"batch_size": 16, "standardize": False},
              "model": {"encoder": {"name": "steps"}, "fusion": {"name": "mfn", "hidden": 8, "memory": 8},
                        "head": {"name": "mlp", "hidden": [8]}},
              "optim": {"lr": 0.03}, "trainer": {"max_epochs": 10, "progress": False, "patience": None},
              "output_dir": str(tmp_path)}
    result = fit(config, dataset=ds)
    assert result.test_metrics["accuracy"] >= 0.8  # class shifts feature 'a' by 1: easy
