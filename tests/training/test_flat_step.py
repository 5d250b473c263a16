"""The flat-buffer step (polymodal.training.flat_params) against torch.optim and clip_grad_norm_: the
same parameters and state bit for bit over hundreds of steps, clipping to rounding, state dicts that
load either way, the rule for when parameters are flattened, and the fast loop using it."""

from __future__ import annotations

import io

import pytest
import torch

from polymodal.training.flat_params import FlatParameters, flat_reason
from polymodal.training.optimizers import LEAN_OPTIMIZERS

TORCH = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
CASES = [
    ("adam", {}), ("adam", {"weight_decay": 0.1, "betas": (0.8, 0.95), "eps": 1e-6}),
    ("adamw", {"weight_decay": 0.3}), ("sgd", {}), ("sgd", {"momentum": 0.9, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.9, "nesterov": True}), ("sgd", {"momentum": 0.5, "dampening": 0.3}),
    ("rmsprop", {}), ("rmsprop", {"momentum": 0.9, "weight_decay": 0.01, "alpha": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.5}),
]
# sizes that are not multiples of a vector width: the flat tensor's vectorised body and scalar
# tails fall on other elements than the per-tensor ops'
SHAPES = [(9, 5), (5,), (3, 9), (1,), (2, 3, 4), (33, 17), (7,)]


def _params(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in SHAPES]


def _grads(steps: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=g) for s in SHAPES] for _ in range(steps)]


def _step(opt, flat, params, grads, missing: int | None = None) -> bool:
    """One update with ``grads`` (parameter ``missing`` gets none); ``True`` when the flat path ran."""
    for i, (p, g) in enumerate(zip(params, grads)):
        p.grad = None if i == missing else g.clone()
    if flat is not None and flat.gather():
        flat.step()
        return True
    opt.step()
    return False


def _lean(name, params, **kwargs):
    opt = LEAN_OPTIMIZERS[name](params, lr=1e-2, **kwargs)
    return opt, FlatParameters(opt)


def _assert_same_state(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert a["state"][k].keys() == b["state"][k].keys()
        for name in a["state"][k]:
            x, y = a["state"][k][name], b["state"][k][name]
            assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y), (k, name)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_flat_step_is_bit_identical_to_torch_optim_over_300_steps(name, kwargs):
    ours_p, ref_p = _params(), _params()
    ours, flat = _lean(name, ours_p, **kwargs)
    ref = TORCH[name](ref_p, lr=1e-2, foreach=True, **kwargs)
    for grads in _grads(300):
        assert _step(ours, flat, ours_p, grads)
        _step(ref, None, ref_p, grads)
    for a, b, start in zip(ours_p, ref_p, _params()):
        assert torch.equal(a, b) and not torch.equal(a, start)  # equal, and moved
    # the parameters are views of the flat tensor, the state entries views of the flat state
    assert all(p.untyped_storage().data_ptr() == flat.param.untyped_storage().data_ptr() for p in ours_p)
    _assert_same_state(ours.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_a_step_without_some_gradient_switches_to_the_per_tensor_path_and_stays_exact(name):
    kwargs = {"momentum": 0.9} if name != "adam" else {}
    ours_p, ref_p = _params(), _params()
    ours, flat = _lean(name, ours_p, **kwargs)
    ref = TORCH[name](ref_p, lr=1e-2, foreach=True, **kwargs)
    paths = []
    for t, grads in enumerate(_grads(40)):
        missing = 1 if t == 10 or t % 7 == 3 and t > 10 else None
        paths.append(_step(ours, flat, ours_p, grads, missing))
        _step(ref, None, ref_p, grads, missing)
    assert paths == [True] * 10 + [False] * 30 and not flat.active
    assert all(torch.equal(a, b) for a, b in zip(ours_p, ref_p))
    _assert_same_state(ours.state_dict(), ref.state_dict())
    flat.release()  # keeps the per-tensor state as it is (step counts included)
    _assert_same_state(ours.state_dict(), ref.state_dict())


def _model_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(13, 11), torch.nn.Tanh(), torch.nn.Linear(11, 3))
    x, y = torch.randn(32, 13), torch.randint(0, 3, (32,))
    return model, x, y


@pytest.mark.parametrize("max_norm", [0.05, 1e6])
def test_flat_clip_matches_clip_grad_norm(max_norm):
    model, x, y = _model_and_batch()
    params = list(model.parameters())
    opt, flat = _lean("sgd", params)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    ref = [p.grad.clone() for p in params]
    assert flat.gather()  # copies the gradients
    torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
    expected = [p.grad for p in params]
    flat.clip_(max_norm)
    if max_norm > 1:  # below the threshold torch multiplies by exactly 1.0; the flat step skips it
        assert all(torch.equal(a, b) and torch.equal(a, r) for a, b, r in zip(flat.grad_views, expected, ref))
    else:  # one norm of all gradients vs torch's norm of per-tensor norms: rounding only
        assert not torch.equal(expected[0], ref[0])
        for a, b in zip(flat.grad_views, expected):
            torch.testing.assert_close(a, b, rtol=4e-7, atol=0)
        assert abs(float(torch.linalg.vector_norm(flat.grad)) - max_norm) < 1e-6


def test_flat_clip_propagates_a_non_finite_norm_as_torch_does():
    p = torch.nn.Parameter(torch.ones(3))
    opt, flat = _lean("sgd", [p])
    p.grad = torch.tensor([1.0, float("nan"), 2.0])
    assert flat.gather()
    flat.clip_(1.0)
    q = torch.nn.Parameter(torch.ones(3))
    q.grad = torch.tensor([1.0, float("nan"), 2.0])
    torch.nn.utils.clip_grad_norm_([q], 1.0, foreach=True)
    assert torch.isnan(flat.grad).all() and torch.isnan(q.grad).all()


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_state_dict_round_trips_to_torch_optim_and_back_exactly(name):
    kwargs = {"momentum": 0.9} if name in ("sgd", "rmsprop") else {"weight_decay": 0.05}
    grads = _grads(40)
    ref_p = _params()
    ref = TORCH[name](ref_p, lr=1e-2, foreach=True, **kwargs)
    for g in grads:
        _step(ref, None, ref_p, g)
    # 20 flat steps, state into torch.optim, 20 more there; and torch.optim first, then flat
    for flat_first in (True, False):
        p1 = _params()
        o1, f1 = _lean(name, p1, **kwargs) if flat_first else (TORCH[name](p1, lr=1e-2, foreach=True, **kwargs), None)
        for g in grads[:20]:
            _step(o1, f1, p1, g)
        saved = o1.state_dict()
        if flat_first:  # entries own their memory: torch.save stores each on its own, no flat buffer
            tensors = [v for entry in saved["state"].values() for v in entry.values()]
            assert len({t.untyped_storage().data_ptr() for t in tensors}) == len(tensors)
            assert all(t.untyped_storage().nbytes() == t.numel() * t.element_size() for t in tensors)
        buffer = io.BytesIO()
        torch.save(saved, buffer)
        buffer.seek(0)
        p2 = [torch.nn.Parameter(p.detach().clone()) for p in p1]
        o2, f2 = (TORCH[name](p2, lr=1e-2, foreach=True, **kwargs), None) if flat_first else _lean(name, p2, **kwargs)
        o2.load_state_dict(torch.load(buffer))
        paths = [_step(o2, f2, p2, g) for g in grads[20:]]
        assert all(torch.equal(a, b) for a, b in zip(p2, ref_p)), flat_first
        _assert_same_state(o2.state_dict(), ref.state_dict())
        if not flat_first:  # the loaded state went into the flat buffers and stepped there
            assert all(paths) and f2.state and all(
                o2.state[p][k].untyped_storage().data_ptr() == f2.state[k].untyped_storage().data_ptr()
                for p in p2 for k in f2.state if k != "step")


def test_rule_names_what_cannot_be_flattened():
    lean = LEAN_OPTIMIZERS["adam"]
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    assert flat_reason(lean([a, b])) is None
    assert flat_reason(torch.optim.Adam([a, b])) == "Adam is not one of polymodal.training.optimizers"
    assert flat_reason(lean([a, torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))])) == \
        "parameters of several dtypes or devices"
    assert flat_reason(lean([{"params": [a]}, {"params": [b], "lr": 0.1}])) == "several parameter groups"
    frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
    assert "requiring a gradient" in flat_reason(lean([a, frozen]))
    view = torch.nn.Parameter(a.data[:2])  # memory shared with another parameter
    assert "own its whole storage" in flat_reason(lean([a, view]))
    assert "non-contiguous" in flat_reason(lean([a, torch.nn.Parameter(torch.zeros(3, 4).t())]))
    with pytest.warns(UserWarning, match="duplicate parameters"):  # torch.optim only warns
        assert flat_reason(lean([a, a])) == "a parameter listed twice"
    with pytest.raises(ValueError, match="several dtypes"):
        FlatParameters(lean([a, torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]))


def test_tied_weights_and_parameters_outside_the_optimizer_train_as_the_per_tensor_path():
    def build():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh(), torch.nn.Linear(6, 6),
                                    torch.nn.Linear(6, 2))
        model[2].weight = model[0].weight  # tied: one parameter, listed once by model.parameters()
        model[3].requires_grad_(False)  # frozen, not in the optimiser
        return model

    x, y = torch.randn(16, 6), torch.randint(0, 2, (16,))
    runs = []
    for flattened in (True, False):
        model = build()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = LEAN_OPTIMIZERS["rmsprop"](params, lr=1e-2, momentum=0.5)
        flat = FlatParameters(opt) if flattened else None
        frozen = model[3].weight.untyped_storage().data_ptr()
        for _ in range(30):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            assert _step(opt, flat, params, [p.grad for p in params]) == flattened
        assert model[2].weight is model[0].weight and model[3].weight.untyped_storage().data_ptr() == frozen
        if flat is not None:
            flat.release()  # every parameter owns its memory again, equal values
            assert all(p.untyped_storage().nbytes() == p.numel() * 4 for p in model.parameters())
        runs.append(model.state_dict())
    assert runs[0].keys() == runs[1].keys() and all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_fast_loop_flat_path_equals_the_per_tensor_path_and_resumes_exactly(tmp_path, monkeypatch):
    from polymodal.training import fast_loop
    from polymodal.training.checkpoint import load_checkpoint_file
    from polymodal.training.engine import fit

    def config(out, epochs, clip=None):
        return {"name": "run", "seed": 3, "output_dir": str(out),
                "data": {"modalities": ["fou", "kar"], "batch_size": 100},
                "model": {"encoder": {"name": "mlp", "hidden": [16]}, "head": {"name": "mlp", "hidden": [16]}},
                "optim": {"name": "adam", "lr": 0.01},
                "trainer": {"max_epochs": epochs, "patience": None, "progress": False, "gradient_clip_val": clip}}

    used = []
    real = fast_loop.FlatParameters
    monkeypatch.setattr(fast_loop, "FlatParameters", lambda opt: used.append(real(opt)) or used[-1])

    def weights(run):
        return load_checkpoint_file(run.run_dir / "checkpoints" / "last.ckpt")["state_dict"]

    flat_full = weights(full := fit(config(tmp_path / "a", 4)))
    steps = load_checkpoint_file(full.run_dir / "checkpoints" / "last.ckpt")["global_step"]
    assert len(used) == 1 and used[0].steps == steps > 0  # the flat path ran every step
    fit(config(tmp_path / "b", 2))
    resumed = weights(fit(config(tmp_path / "b", 4), resume=True, resume_with_changes=True))
    assert len(used) == 3 and used[1].steps + used[2].steps == steps and used[2].steps > 0
    with monkeypatch.context() as patch:
        patch.setattr(fast_loop, "flat_reason", lambda optimizer, model: "off for this test")
        per_tensor = weights(fit(config(tmp_path / "c", 4)))
    assert len(used) == 3
    for key in flat_full:  # bit for bit: resumed, and against the per-tensor path (no clipping)
        assert torch.equal(flat_full[key], resumed[key]) and torch.equal(flat_full[key], per_tensor[key]), key


def test_hot_step_and_zero_grad_skip_torch_wrapper_only_when_no_hook_or_profiler_needs_it():
    from torch.optim.optimizer import register_optimizer_step_post_hook

    def fresh():
        params = _params()
        for p in params:
            p.grad = torch.ones_like(p)
        return params, LEAN_OPTIMIZERS["sgd"](params, lr=0.5)

    params, opt = fresh()
    opt.hot_step()  # the same update as step()
    ref_p, ref = fresh()
    ref.step()
    assert all(torch.equal(a, b) and not torch.equal(a, c) for a, b, c in zip(params, ref_p, _params()))
    seen = []
    handle = register_optimizer_step_post_hook(lambda o, a, k: seen.append("global"))
    try:
        opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
        opt.hot_step()
    finally:
        handle.remove()
    assert seen == ["pre", "global"]
    params, opt = fresh()
    with torch.autograd.profiler.profile() as prof:
        opt.hot_step()
        opt.zero_grad()
    names = {e.name for e in prof.function_events}
    assert {"Optimizer.step#SGD.step", "Optimizer.zero_grad#SGD.zero_grad"} <= names
    assert all(p.grad is None for p in params)
    params[0].grad = torch.ones_like(params[0])
    opt.zero_grad()  # no profiler: the plain loop
    assert params[0].grad is None
    params[0].grad = torch.ones_like(params[0])
    opt.zero_grad(set_to_none=False)
    assert torch.equal(params[0].grad, torch.zeros_like(params[0]))


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_checkpoint_snapshot_saves_each_flat_buffer_once_and_resumes_torch_optim_exactly(name):
    """snapshot(): the model's and the optimiser's state as views of the flat buffers (torch.save writes
    one record per buffer, not per tensor); loaded into torch.optim's per-tensor (for-loop) step, every
    parameter keeps its own step count (no two entries alias) and the run continues bit for bit."""
    kwargs = {"momentum": 0.9} if name in ("sgd", "rmsprop") else {}
    grads = _grads(30)
    ref_p = _params()
    ref = TORCH[name](ref_p, lr=1e-2, foreach=False, **kwargs)
    for g in grads:
        _step(ref, None, ref_p, g)
    p1 = _params()
    o1, f1 = _lean(name, p1, **kwargs)
    for g in grads[:15]:
        _step(o1, f1, p1, g)
    model_state, optim_state = f1.snapshot({f"p{i}": p.detach() for i, p in enumerate(p1)})
    buffer = io.BytesIO()
    torch.save({"model": model_state, "optim": optim_state}, buffer)
    buffer.seek(0)
    import zipfile

    records = [n for n in zipfile.ZipFile(buffer).namelist() if "/data/" in n and n[-1].isdigit()]
    assert len(records) == 1 + len([k for k in f1.state if k != "step"]) + ("step" in f1.state)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    p2 = [torch.nn.Parameter(loaded["model"][f"p{i}"].clone()) for i in range(len(SHAPES))]
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    o2 = TORCH[name](p2, lr=1e-2, foreach=False, **kwargs)
    o2.load_state_dict(loaded["optim"])
    for g in grads[15:]:
        _step(o2, None, p2, g)
    assert all(torch.equal(a, b) for a, b in zip(p2, ref_p))
    a, b = o2.state_dict(), ref.state_dict()  # param_groups differ only in "foreach", loaded from the lean one
    _assert_same_state({**a, "param_groups": []}, {**b, "param_groups": []})
