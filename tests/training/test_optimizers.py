"""The fast loop's optimisers (polymodal.training.optimizers) against torch.optim: the same parameters and
state bit for bit over many steps, state dicts that load either way, and no torch._dynamo import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from polymodal.errors import ConfigError
from polymodal.training.objective import build_optimizer
from polymodal.training.optimizers import LEAN_OPTIMIZERS

TORCH = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
CASES = [
    ("adam", {}), ("adam", {"weight_decay": 0.1, "betas": (0.8, 0.95), "eps": 1e-6}), ("adamw", {}),
    ("adamw", {"weight_decay": 0.3}), ("sgd", {}), ("sgd", {"momentum": 0.9, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.9, "nesterov": True}), ("sgd", {"momentum": 0.5, "dampening": 0.3}),
    ("rmsprop", {}), ("rmsprop", {"momentum": 0.9, "weight_decay": 0.01, "alpha": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.5}),
]
SHAPES = [(9, 5), (5,), (3, 9), (1,), (2, 3, 4)]


def _params(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in SHAPES]


def _run(opt, params, steps: int, seed: int = 1, start: int = 0) -> None:
    """``steps`` updates with seeded gradients; parameter 1 gets no gradient every 7th step (torch skips it)."""
    g = torch.Generator().manual_seed(seed)
    grads = [[torch.randn(s, generator=g) for s in SHAPES] for _ in range(start + steps)]
    for t in range(start, start + steps):
        for i, p in enumerate(params):
            p.grad = None if (i == 1 and t % 7 == 3) else grads[t][i].clone()
        opt.step()


def _assert_same_state(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert a["state"][k].keys() == b["state"][k].keys()
        for name in a["state"][k]:
            x, y = a["state"][k][name], b["state"][k][name]
            assert x.dtype == y.dtype and x.device == y.device and torch.equal(x, y), (k, name)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_bit_identical_to_torch_optim_foreach_over_300_steps(name, kwargs):
    ours_p, ref_p = _params(), _params()
    ours = LEAN_OPTIMIZERS[name](ours_p, lr=1e-2, **kwargs)
    ref = TORCH[name](ref_p, lr=1e-2, foreach=True, **kwargs)
    assert isinstance(ours, TORCH[name])
    _run(ours, ours_p, 300)
    _run(ref, ref_p, 300)
    for a, b, start in zip(ours_p, ref_p, _params()):
        assert torch.equal(a, b) and not torch.equal(a, start)  # equal, and moved
    _assert_same_state(ours.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_state_dicts_load_either_way_and_resume_exactly(name):
    kwargs = {"momentum": 0.9} if name in ("sgd", "rmsprop") else {"weight_decay": 0.05}
    # 40 steps uninterrupted on torch.optim
    ref_p = _params()
    ref = TORCH[name](ref_p, lr=1e-2, foreach=True, **kwargs)
    _run(ref, ref_p, 40)
    # 20 on ours, state into torch's, 20 more there; and the other way round
    for first, second in ((LEAN_OPTIMIZERS[name], TORCH[name]), (TORCH[name], LEAN_OPTIMIZERS[name])):
        p1 = _params()
        o1 = first(p1, lr=1e-2, **({"foreach": True} if first is TORCH[name] else {}), **kwargs)
        _run(o1, p1, 20)
        p2 = [torch.nn.Parameter(p.detach().clone()) for p in p1]
        o2 = second(p2, lr=1e-2, **({"foreach": True} if second is TORCH[name] else {}), **kwargs)
        o2.load_state_dict(o1.state_dict())
        _run(o2, p2, 20, start=20)
        assert all(torch.equal(a, b) for a, b in zip(p2, ref_p))
        _assert_same_state(o2.state_dict(), ref.state_dict())


def test_build_optimizer_lean_matches_the_config_and_refuses_what_it_lacks():
    opt = build_optimizer(_params(), {"name": "rmsprop", "lr": 0.05, "weight_decay": 0.1, "momentum": 0.5}, lean=True)
    assert type(opt).__module__ == "polymodal.training.optimizers"
    assert (opt.defaults["lr"], opt.defaults["weight_decay"], opt.defaults["momentum"]) == (0.05, 0.1, 0.5)
    params = _params()
    adam = LEAN_OPTIMIZERS["adam"](params)
    state = adam.state_dict()
    state["param_groups"][0]["amsgrad"] = True  # e.g. a state dict of another optimiser
    adam.load_state_dict(state)
    params[0].grad = torch.ones_like(params[0])
    with pytest.raises(ConfigError, match="does not implement amsgrad=True; use torch.optim.Adam"):
        adam.step()


def test_global_step_hooks_and_closure_work_as_torch_optim():
    seen = []
    handle = register_optimizer_step_post_hook(lambda o, a, k: seen.append(type(o).__name__))
    try:
        params = _params()
        opt = LEAN_OPTIMIZERS["sgd"](params, lr=0.1)

        def closure():
            opt.zero_grad()
            loss = sum((p ** 2).sum() for p in params)
            loss.backward()
            return loss

        loss = opt.step(closure)
    finally:
        handle.remove()
    assert seen == ["SGD"] and float(loss.detach()) > 0
    assert all(torch.allclose(p, 0.8 * q, rtol=1e-6) for p, q in zip(params, _params()))  # p - 0.1 * 2p


def test_building_stepping_and_saving_import_no_dynamo():
    code = ("import sys, torch\nfrom polymodal.training.objective import build_optimizer\n"
            "p = [torch.nn.Parameter(torch.randn(3))]\n"
            "for name in ('adam', 'adamw', 'sgd', 'rmsprop'):\n"
            "    o = build_optimizer(p, {'name': name, 'momentum': 0.0}, lean=True)\n"
            "    p[0].grad = torch.ones(3); o.step(); o.zero_grad(); o.load_state_dict(o.state_dict())\n"
            "assert 'torch._dynamo' not in sys.modules\n"
            "torch.optim.Adam(p)\nassert 'torch._dynamo' in sys.modules  # what the lean classes avoid\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_the_estimators_optimisers_equal_torch_defaults_bit_for_bit(name):
    """estimator_loop.make_optimizer (lean) against torch.optim with its default kernels (single-tensor on CPU)."""
    from polymodal.training.estimator_loop import make_optimizer

    ours_p, ref_p = _params(), _params()
    ours = make_optimizer(ours_p, name, lr=1e-2, weight_decay=0.05)
    ref = TORCH[name](ref_p, lr=1e-2, weight_decay=0.05)
    assert type(ours).__module__ == "polymodal.training.optimizers"
    _run(ours, ours_p, 300)
    _run(ref, ref_p, 300)
    assert all(torch.equal(a, b) for a, b in zip(ours_p, ref_p))
