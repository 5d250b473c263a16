"""The fast loop's optimisers: ``torch.optim``'s Adam, AdamW, SGD and RMSprop with the same
arithmetic, without importing ``torch._dynamo``.

Every ``torch.optim`` optimiser imports ``torch._dynamo`` (~1.2-1.5 s of CPU, the largest
part of a run's start after torch itself) the first time it is built: ``add_param_group``,
``zero_grad``, ``state_dict`` and ``load_state_dict`` are wrapped by ``torch._disable_dynamo``
(which imports it on first call to tell ``torch.compile`` not to trace them) and ``step`` by
``_use_grad_for_differentiable`` (which imports it for a graph break). In eager mode those
wrappers change nothing else. The classes here subclass torch's own (so ``isinstance`` checks,
argument validation, the ``defaults`` and ``state_dict`` layout, ``__setstate__`` and the global
step hooks of ``torch.optim.optimizer`` are torch's) and

- call the four wrapped methods' undecorated functions (``__wrapped__``, set by
  ``functools.wraps``; nothing in torch is patched);
- step with the op sequence of torch's multi-tensor (``foreach=True``, not capturable)
  implementation, so parameters and state equal ``torch.optim``'s bit for bit
  (``tests/training/test_optimizers.py``, hundreds of steps with weight decay, momentum,
  Nesterov, centred RMSprop), and a ``state_dict`` loads into either.

Only the options the engine's ``optim`` section can express are implemented (no ``amsgrad``,
``maximize``, ``capturable``, ``differentiable``, ``fused``, complex or sparse tensors: a state
dict asking for one is refused when stepping). Not for ``torch.compile``: the undecorated methods
would be traced. The fast loop and the deep estimators' loop (:mod:`polymodal.training.estimator_loop`)
use them; the Lightning path uses ``torch.optim`` itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from polymodal.errors import ConfigError

__all__ = ["Adam", "AdamW", "SGD", "RMSprop", "LEAN_OPTIMIZERS"]

_Optimizer = torch.optim.Optimizer
_UNSUPPORTED = ("amsgrad", "maximize", "capturable", "differentiable", "fused")


def _undecorated(method: Callable) -> Callable:
    """The function a ``functools.wraps`` decorator wrapped (the method itself when it is not wrapped)."""
    return getattr(method, "__wrapped__", method)


_add_param_group = _undecorated(_Optimizer.add_param_group)
_zero_grad = _undecorated(_Optimizer.zero_grad)
_state_dict = _undecorated(_Optimizer.state_dict)
_load_state_dict = _undecorated(_Optimizer.load_state_dict)
_ONE = torch.tensor(1.0, dtype=torch.float32, device="cpu")  # the step count's increment (never written to)
_optimizer_module = sys.modules[_Optimizer.__module__]  # torch.optim.optimizer: its global step-hook dicts


def _scalar_dtype() -> torch.dtype:
    """The dtype torch keeps ``state["step"]`` in (float64 when that is the default dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class _Lean:
    """``torch.optim.Optimizer``'s methods without the ``torch._dynamo`` import (a mixin, listed first)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _add_param_group(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        if set_to_none and not torch.autograd._profiler_enabled():  # torch's loop without its profiler record
            for group in self.param_groups:
                for p in group["params"]:
                    p.grad = None
            return
        _zero_grad(self, set_to_none)

    def hot_step(self) -> None:
        """``step()`` without the wrapper ``torch.optim`` puts around it (a ``record_function`` for the
        profiler and the step-hook loops, ~0.1 ms a call on a busy CPU) when neither the profiler nor
        any step hook is active; else ``step()`` itself. Same update either way."""
        step = type(self).step
        if (torch.autograd._profiler_enabled() or _optimizer_module._global_optimizer_pre_hooks
                or _optimizer_module._global_optimizer_post_hooks
                or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks):
            self.step()
            return
        while getattr(step, "hooked", False):  # torch's profile_hook_step wrapper (functools.wraps)
            step = step.__wrapped__
        step(self)

    _flat: Any = None  # a polymodal.training.flat_params.FlatParameters once flattened

    def state_dict(self) -> dict[str, Any]:
        out = _state_dict(self)
        return self._flat.detached(out) if self._flat is not None else out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_state_dict(self, state_dict)
        if self._flat is not None:
            self._flat.reload()

    def _groups(self, group: dict[str, Any], stateful: bool = True):
        """The group's parameters that have a gradient, with their state (``None`` unless
        ``stateful``), split by (device, dtype) as torch's foreach kernels need:
        ``[(params, grads, states), ...]``; ``_init(p, group, state)`` fills an empty state."""
        for flag in _UNSUPPORTED:
            if group.get(flag):
                raise ConfigError(f"{type(self).__name__} (polymodal.training.optimizers) does not implement "
                                  f"{flag}=True; use torch.optim.{type(self).__name__}")
        if isinstance(group["lr"], Tensor):
            raise ConfigError(f"{type(self).__name__}: lr must be a float, not a Tensor")
        if self._flat is not None and self._flat.stepping:  # one flat tensor each (flat_params.py)
            return [self._flat.group(self, group)]
        split: dict[tuple, tuple[list, list, list]] = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse or torch.is_complex(p):
                raise ConfigError(f"{type(self).__name__} (polymodal.training.optimizers) takes dense real "
                                  f"parameters; got {'a sparse gradient' if p.grad.is_sparse else 'a complex one'}")
            state = self.state[p] if stateful else None
            if stateful and not state:
                self._init(p, group, state)
            params, grads, states = split.setdefault((p.device, p.dtype), ([], [], []))
            params.append(p)
            grads.append(p.grad)
            states.append(state)
        return list(split.values())

    @staticmethod
    def _evaluate(closure: Callable | None):
        """The closure's loss, computed with gradients enabled (``None`` without a closure), as torch's ``step``."""
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    @staticmethod
    def _count_steps(steps: list[Tensor]) -> None:
        if steps[0].is_cpu:  # as torch: one wrapped scalar (built once here, not per step), not one per tensor
            torch._foreach_add_(steps, _ONE, alpha=1.0)
        else:
            torch._foreach_add_(steps, 1)


class Adam(_Lean, torch.optim.Adam):
    """Adam (Kingma & Ba, ICLR 2015) as ``torch.optim.Adam(..., foreach=True)`` computes it, bit for bit;
    :math:`m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g_t`, :math:`v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g_t^2`,
    :math:`\\theta_t = \\theta_{t-1} - \\gamma \\hat m_t / (\\sqrt{\\hat v_t} + \\epsilon)` with bias-corrected
    moments and :math:`g_t` including ``weight_decay`` :math:`\\cdot \\theta_{t-1}` (L2, coupled).

    Parameters: ``params`` (tensors or groups), ``lr``, ``betas``, ``eps``, ``weight_decay`` as torch's.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> ours, ref = Adam([w], lr=0.1), torch.optim.Adam([w.detach().clone().requires_grad_()], lr=0.1, foreach=True)
    >>> for opt in (ours, ref):
    ...     (opt.param_groups[0]["params"][0] ** 2).sum().backward(); opt.step()
    >>> torch.equal(ours.param_groups[0]["params"][0], ref.param_groups[0]["params"][0])
    True
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        torch.optim.Adam.__init__(self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                  foreach=True, decoupled_weight_decay=self._decoupled)

    @staticmethod
    def _init(p: Tensor, group: dict, state: dict) -> None:
        state["step"] = torch.tensor(0.0, dtype=_scalar_dtype(), device="cpu")
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient (torch's ``_multi_tensor_adam``'s ops)."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            for params, grads, states in self._groups(group):
                steps = [s["step"] for s in states]
                exp_avgs = [s["exp_avg"] for s in states]
                exp_avg_sqs = [s["exp_avg_sq"] for s in states]
                self._count_steps(steps)
                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        torch._foreach_mul_(params, 1 - lr * wd)
                    else:
                        grads = torch._foreach_add(grads, params, alpha=wd)
                torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
                torch._foreach_mul_(exp_avg_sqs, beta2)
                torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
                del grads
                counts = [s.item() for s in steps]
                step_size = [(lr / (1 - beta1 ** t)) * -1 for t in counts]
                bias_correction2_sqrt = [(1 - beta2 ** t) ** 0.5 for t in counts]
                denom = torch._foreach_sqrt(exp_avg_sqs)
                torch._foreach_div_(denom, bias_correction2_sqrt)
                torch._foreach_add_(denom, eps)
                torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)
        return loss


class AdamW(Adam, torch.optim.AdamW):
    """AdamW (Loshchilov & Hutter, ICLR 2019): :class:`Adam` with decoupled weight decay,
    :math:`\\theta \\leftarrow \\theta (1 - \\gamma \\lambda)` before the Adam update, as
    ``torch.optim.AdamW(..., foreach=True)`` computes it, bit for bit. ``weight_decay`` defaults to
    torch's 1e-2."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class SGD(_Lean, torch.optim.SGD):
    """Stochastic gradient descent with (heavy-ball or Nesterov) momentum as
    ``torch.optim.SGD(..., foreach=True)`` computes it, bit for bit:
    :math:`b_t = \\mu b_{t-1} + (1 - \\tau) g_t` (:math:`b_1 = g_1`), :math:`\\theta_t = \\theta_{t-1} - \\gamma b_t`
    (Nesterov: :math:`- \\gamma (g_t + \\mu b_t)`), :math:`g_t` including ``weight_decay`` :math:`\\cdot \\theta`.
    Parameters ``lr``, ``momentum`` (:math:`\\mu`), ``dampening`` (:math:`\\tau`), ``weight_decay``, ``nesterov``."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        torch.optim.SGD.__init__(self, params, lr=lr, momentum=momentum, dampening=dampening,
                                 weight_decay=weight_decay, nesterov=nesterov, foreach=True)

    @staticmethod
    def _init(p: Tensor, group: dict, state: dict) -> None:
        """Nothing: the momentum buffer is the first step's gradient (set in :meth:`step`)."""

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient (torch's ``_multi_tensor_sgd``'s ops)."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, wd, momentum, dampening = group["lr"], group["weight_decay"], group["momentum"], group["dampening"]
            for params, grads, states in self._groups(group, stateful=momentum != 0):
                if wd != 0:
                    grads = torch._foreach_add(grads, params, alpha=wd)
                if momentum != 0:
                    bufs = [s.get("momentum_buffer") for s in states]
                    if all(b is not None for b in bufs):
                        torch._foreach_mul_(bufs, momentum)
                        torch._foreach_add_(bufs, grads, alpha=1 - dampening)
                    else:
                        for i, (b, g) in enumerate(zip(bufs, grads)):
                            if b is None:
                                bufs[i] = states[i]["momentum_buffer"] = g.detach().clone()
                            else:
                                b.mul_(momentum).add_(g, alpha=1 - dampening)
                    if group["nesterov"]:
                        torch._foreach_add_(grads, bufs, alpha=momentum)
                    else:
                        grads = bufs
                torch._foreach_add_(params, grads, alpha=-lr)
        return loss


class RMSprop(_Lean, torch.optim.RMSprop):
    """RMSprop (Hinton, Coursera lecture 6e, 2012) as ``torch.optim.RMSprop(..., foreach=True)``
    computes it, bit for bit: :math:`v_t = \\alpha v_{t-1} + (1 - \\alpha) g_t^2`,
    :math:`\\theta_t = \\theta_{t-1} - \\gamma g_t / (\\sqrt{v_t} + \\epsilon)` (``centered``: :math:`v_t`
    minus the squared running mean of :math:`g`; ``momentum``: the step goes through a buffer).
    Parameters ``lr``, ``alpha``, ``eps``, ``weight_decay``, ``momentum``, ``centered`` as torch's."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False) -> None:
        torch.optim.RMSprop.__init__(self, params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                     momentum=momentum, centered=centered, foreach=True)

    @staticmethod
    def _init(p: Tensor, group: dict, state: dict) -> None:
        state["step"] = torch.zeros((), dtype=_scalar_dtype())
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient (torch's ``_multi_tensor_rmsprop``'s ops)."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps, wd, momentum = (group[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum"))
            for params, grads, states in self._groups(group):
                square_avgs = [s["square_avg"] for s in states]
                self._count_steps([s["step"] for s in states])
                if wd != 0:
                    grads = torch._foreach_add(grads, params, alpha=wd)
                torch._foreach_mul_(square_avgs, alpha)
                torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
                if group["centered"]:
                    grad_avgs = [s["grad_avg"] for s in states]
                    torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
                    avg = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
                    torch._foreach_sqrt_(avg)
                    torch._foreach_add_(avg, eps)
                else:
                    avg = torch._foreach_sqrt(square_avgs)
                    torch._foreach_add_(avg, eps)
                if momentum > 0:
                    bufs = [s["momentum_buffer"] for s in states]
                    torch._foreach_mul_(bufs, momentum)
                    torch._foreach_addcdiv_(bufs, grads, avg)
                    torch._foreach_add_(params, bufs, alpha=-lr)
                else:
                    torch._foreach_addcdiv_(params, grads, avg, value=-lr)
        return loss


LEAN_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": Adam, "adamw": AdamW, "sgd": SGD,
                                                            "rmsprop": RMSprop}
