"""The fast loop's flat-buffer step: every trainable parameter, its gradient and its optimiser
state live in one contiguous tensor each, so clipping and the optimiser step are a few ops on
one tensor instead of a ``torch._foreach_*`` op per parameter tensor.

On CPU ``torch._foreach_*`` ops have no fused kernel: they loop over the parameter tensors in
C++ at a few microseconds per tensor and op, which dominates clipping and the optimiser step of
small models (``docs/engine.md``). As DDP's ``gradient_as_bucket_view`` and apex's multi-tensor
apply do, :class:`FlatParameters` copies the parameters into one buffer and makes each
parameter's ``.data`` a view of it; after ``backward`` the gradients are copied into one flat
gradient buffer (one ``_foreach_copy_``), clipped with one norm, and the lean optimiser
(:mod:`polymodal.training.optimizers`) runs its usual op sequence on the one flat parameter,
gradient and state tensor. Per-parameter views of the flat state stay in ``optimizer.state``, so
``state_dict`` has ``torch.optim``'s layout (cloned: entries own their memory) and loads into
``torch.optim`` or the lean optimisers; loading a state dict copies it into the flat buffers.

The rule (:func:`flat_reason`): one parameter group of a lean optimiser whose parameters are
distinct, dense, real floating-point leaf tensors that require a gradient, own their whole
storage, are contiguous and share one device and dtype, and no recurrent module on a GPU (cuDNN
keeps those weights in its own buffer); anything else keeps the per-tensor path. It costs one
more copy of the parameters' size (the flat gradient beside the per-parameter ones).
A step where some parameter has no gradient (or a sparse one) runs the per-tensor path on the
same views, and every later step does too (torch skips such parameters: their step counts and
state no longer move together).

Numerics: elementwise ops give the same bits on a flat tensor as per tensor on CPU
(``tests/training/test_flat_step.py`` checks bit identity with ``torch.optim`` over hundreds of
steps); the clipping norm is one norm of all gradients where ``clip_grad_norm_`` takes the norm of
per-tensor norms, so it differs in the last bits (the clipping factor by a few ulp).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["FlatParameters", "flat_reason"]


def flat_reason(optimizer: torch.optim.Optimizer, model: torch.nn.Module | None = None) -> str | None:
    """Why ``optimizer``'s parameters cannot be flattened (a reason), or ``None`` when they can.
    With ``model``: also refused for a recurrent module (``nn.RNNBase``) on a GPU, whose weights
    cuDNN keeps in its own flat buffer (``flatten_parameters``).

    Examples
    --------
    >>> from polymodal.training.optimizers import RMSprop
    >>> flat_reason(RMSprop([torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]))
    >>> flat_reason(RMSprop([torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3).double())]))
    'parameters of several dtypes or devices'
    """
    from polymodal.training.optimizers import LEAN_OPTIMIZERS

    if type(optimizer) not in LEAN_OPTIMIZERS.values():
        return f"{type(optimizer).__name__} is not one of polymodal.training.optimizers"
    if getattr(optimizer, "_flat", None) is not None:
        return "already flattened"
    if len(optimizer.param_groups) != 1:
        return "several parameter groups"
    if optimizer.state:
        return "the optimiser already has state"
    params = optimizer.param_groups[0]["params"]
    if not params:
        return "no parameters"
    if len({id(p) for p in params}) != len(params):
        return "a parameter listed twice"
    if len({(p.device, p.dtype) for p in params}) != 1:
        return "parameters of several dtypes or devices"
    storages = set()
    for p in params:
        if not (p.is_leaf and p.requires_grad and p.layout == torch.strided and p.dtype.is_floating_point):
            return "a parameter that is not a dense floating-point leaf requiring a gradient"
        if not p.is_contiguous() or p.grad is not None:
            return "a non-contiguous parameter or one that already has a gradient"
        storage = p.untyped_storage()
        if p.data_ptr() != storage.data_ptr() or p.numel() * p.element_size() != storage.nbytes():
            return "a parameter that does not own its whole storage (a view, or memory shared with another)"
        storages.add(storage.data_ptr())
    if len(storages) != len(params):
        return "parameters sharing memory"
    if model is not None and params[0].is_cuda and any(isinstance(m, torch.nn.RNNBase) for m in model.modules()):
        return "a recurrent module on a GPU (cuDNN flattens its weights itself)"
    return None


class FlatParameters:
    """``optimizer``'s parameters as views of one flat tensor, with a flat gradient and flat optimiser state.

    Build it before the first step (:func:`flat_reason` must give ``None``); per step call
    :meth:`gather` after ``backward`` and, when it returns ``True``, :meth:`clip_` and :meth:`step`
    (the optimiser's step on the flat tensors); otherwise clip and ``optimizer.step()`` as usual.
    :meth:`release` gives every parameter its own memory again.

    Examples
    --------
    >>> from polymodal.training.optimizers import SGD
    >>> w, b = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.zeros(2))
    >>> opt = SGD([w, b], lr=0.5)
    >>> flat = FlatParameters(opt)
    >>> (w.sum() + 2 * b.sum()).backward()
    >>> flat.gather() and flat.clip_(1.0) is None
    True
    >>> flat.step()
    >>> flat.param.tolist() == (w.flatten().tolist() + b.tolist()), round(w[0, 0].item(), 4)  # 1 - 0.5 / sqrt(12)
    (True, 0.8557)
    """

    def __init__(self, optimizer: torch.optim.Optimizer):
        reason = flat_reason(optimizer)
        if reason is not None:
            raise ValueError(f"cannot flatten the parameters of {type(optimizer).__name__}: {reason}")
        self.optimizer = optimizer
        self.params: list[Tensor] = list(optimizer.param_groups[0]["params"])
        first = self.params[0]
        self.sizes = [p.numel() for p in self.params]
        total = sum(self.sizes)
        self.param = torch.empty(total, dtype=first.dtype, device=first.device)
        self.grad = torch.zeros_like(self.param)
        torch._foreach_copy_(self._views(self.param), [p.detach() for p in self.params])
        with torch.no_grad():
            for p, view in zip(self.params, self._views(self.param)):
                p.data = view
        self.grad_views = self._views(self.grad)
        self.state: dict[str, Any] = {}  # the flat optimiser state (``step`` one scalar tensor)
        self.bound: set[str] = set()
        self.stepping = False  # True inside a flat optimiser step
        self.active = True  # False once a step has run the per-tensor path
        self.steps = 0  # flat steps taken
        optimizer._flat = self

    def _views(self, flat: Tensor) -> list[Tensor]:
        return [v.view_as(p) for v, p in zip(torch.split(flat, self.sizes), self.params)]

    def gather(self) -> bool:
        """Copy every gradient into :attr:`grad`; ``False`` (and the per-tensor path from now on) when
        some parameter has no gradient or a sparse one."""
        if self.active:
            grads = [p.grad for p in self.params]
            if all(g is not None and g.layout == torch.strided for g in grads):
                torch._foreach_copy_(self.grad_views, grads)
                return True
            self.deactivate()
        return False

    def clip_(self, max_norm: float) -> None:
        """``clip_grad_norm_(params, max_norm)`` on :attr:`grad`: multiply by ``max_norm / (norm + 1e-6)``
        when that is below 1 (or NaN). On CPU a factor of 1 is skipped (torch multiplies by exactly 1.0);
        on other devices it is clamped and multiplied as torch does, without a host synchronisation."""
        total = torch.linalg.vector_norm(self.grad, 2)
        coef = max_norm / (total + 1e-6)
        if self.grad.is_cpu:
            if not float(coef) >= 1.0:  # NaN multiplies too, as torch
                self.grad.mul_(coef)
        else:
            self.grad.mul_(torch.clamp(coef, max=1.0))

    def group(self, optimizer, group: dict[str, Any]) -> tuple[list, list, list]:
        """The optimiser's ``_groups`` entry in a flat step: the flat parameter, gradient and state."""
        if not self.state:
            optimizer._init(self.param, group, self.state)
        return [self.param], [self.grad], [self.state]

    def step(self) -> None:
        """The optimiser's step on the flat tensors (call after :meth:`gather` returned ``True``)."""
        self.stepping = True
        try:
            self.optimizer.hot_step()
        finally:
            self.stepping = False
        self.steps += 1
        if self.bound != self.state.keys():
            self._bind()

    def _bind(self) -> None:
        """Point every parameter's ``optimizer.state`` entries at views of the flat state (``step``: the one tensor)."""
        for key, value in self.state.items():
            views = [value] * len(self.params) if key == "step" else self._views(value)
            for p, view in zip(self.params, views):
                self.optimizer.state[p][key] = view
        self.bound = set(self.state)

    def deactivate(self) -> None:
        """Run the per-tensor path from now on (each parameter gets its own ``step`` tensor, once)."""
        if not self.active:
            return
        self.active = False
        if "step" in self.state:
            for p in self.params:
                self.optimizer.state[p]["step"] = self.state["step"].clone()

    def detached(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """``state_dict`` with cloned state tensors (no entry shares memory with the flat buffers or another)."""
        state = {k: {name: v.clone() if isinstance(v, Tensor) else v for name, v in entry.items()}
                 for k, entry in state_dict["state"].items()}
        return {**state_dict, "state": state}

    def snapshot(self, model_state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """``model_state`` (the model's ``state_dict``) and the optimiser's ``state_dict`` for a checkpoint,
        on the CPU, without a copy per tensor: every entry that lives in a flat buffer becomes a view of
        that buffer (one CPU copy of it on a GPU, none on the CPU), so ``torch.save`` writes each buffer
        once instead of one record per tensor, and each parameter's ``step`` is its own element of one
        tensor (entries never alias: an in-place ``step += 1`` after loading moves one parameter's count).
        Serialise the result before the next step changes the buffers (it views them on the CPU)."""
        cpu: dict[int, Tensor] = {}

        def on_cpu(value):
            if not isinstance(value, Tensor):
                return value
            for buffer in (self.param, *self.state.values()):
                if buffer.dim() == 1 and value.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr():
                    if id(buffer) not in cpu:
                        cpu[id(buffer)] = buffer.detach().to("cpu")
                    start = value.storage_offset() - buffer.storage_offset()
                    return cpu[id(buffer)][start:start + value.numel()].view(value.shape)
            return value.detach().to("cpu")

        from polymodal.training.optimizers import _state_dict  # torch's, undecorated: no torch._dynamo import

        optim = _state_dict(self.optimizer)  # torch's layout, entries not cloned
        steps = None
        if self.active and "step" in self.state:
            steps = self.state["step"].detach().reshape(1).to("cpu").repeat(len(self.params))
        state = {}
        for index, entry in optim["state"].items():
            state[index] = {k: steps[index] if k == "step" and steps is not None else on_cpu(v)
                            for k, v in entry.items()}
        return {k: on_cpu(v) for k, v in model_state.items()}, {**optim, "state": state}

    def reload(self) -> None:
        """After ``load_state_dict``: copy the loaded per-parameter state into the flat buffers and view it
        again; state that cannot be flat (parameters in different phases) keeps the per-tensor path."""
        entries = [self.optimizer.state.get(p, {}) for p in self.params]
        self.state, self.bound = {}, set()
        if not any(entries):
            return
        keys = set(entries[0])
        steps = [e.get("step") for e in entries]
        if (not self.active or any(set(e) != keys for e in entries)
                or any(not torch.equal(s, steps[0]) for s in steps if s is not None)):
            self.deactivate()
            return
        for key in keys:
            if key == "step":
                self.state[key] = steps[0].clone()
            else:
                flat = torch.empty_like(self.param)
                torch._foreach_copy_(self._views(flat), [e[key] for e in entries])
                self.state[key] = flat
        self._bind()

    def release(self) -> None:
        """Give every parameter its own memory again (a copy of its view); the optimiser keeps the per-tensor path."""
        self.deactivate()
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.clone()
                state = self.optimizer.state.get(p, {})
                for key, value in state.items():
                    if isinstance(value, Tensor):
                        state[key] = value.clone()
        self.optimizer._flat = None
