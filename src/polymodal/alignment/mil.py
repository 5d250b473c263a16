"""Multiple-instance learning as implicit alignment: attention-based MIL pooling.

A bag of instances carries one label; the attention weights say which
instances the bag label is aligned to (Ilse, Tomczak & Welling, "Attention-based
deep multiple instance learning", ICML 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from polymodal.core.pytree import pytree_output
from polymodal.errors import ConfigError, ShapeError

__all__ = ["MILOutput", "AttentionMIL", "MILBags", "make_mil_bags"]


@pytree_output
@dataclass
class MILOutput:
    """Bag logits (N, n_outputs) and attention weights over instances (N, B)
    (zero on padding, each row sums to 1)."""

    logits: torch.Tensor
    attention: torch.Tensor


class AttentionMIL(nn.Module):
    """Attention-based MIL pooling (plain or gated) with a linear bag classifier.

    Ilse, Tomczak & Welling, ICML 2018, eqs. (8)-(9). With instance embeddings
    ``h_k = f(x_k)`` (a Linear + ReLU layer, or the identity if ``hidden=None``):

    .. math::

        a_k = \\frac{\\exp\\{w^\\top \\tanh(V h_k)\\}}{\\sum_j \\exp\\{w^\\top \\tanh(V h_j)\\}}
        \\quad\\text{(plain)},\\qquad
        a_k \\propto \\exp\\{w^\\top (\\tanh(V h_k) \\odot \\operatorname{sigm}(U h_k))\\}
        \\quad\\text{(gated)},

    ``z = sum_k a_k h_k`` and ``logits = classifier(z)``. Padding instances
    (``mask`` False) get weight exactly 0, so outputs do not depend on padding.

    Parameters
    ----------
    in_features : int, instance feature size d.
    hidden : int or None, instance embedding size (None: use x as h).
    attention_dim : int, size L of V (and U).
    gated : bool, gated attention.
    n_outputs : int, number of bag logits.

    Examples
    --------
    >>> m = AttentionMIL(4, hidden=8, attention_dim=5, gated=True)
    >>> out = m(torch.randn(2, 3, 4), mask=torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    >>> out.logits.shape, out.attention.shape, float(out.attention[0, 2].detach())
    (torch.Size([2, 1]), torch.Size([2, 3]), 0.0)
    """

    def __init__(self, in_features: int, hidden: int | None = 64, attention_dim: int = 32,
                 gated: bool = False, n_outputs: int = 1):
        super().__init__()
        for v, name in ((in_features, "in_features"), (attention_dim, "attention_dim"),
                        (n_outputs, "n_outputs")):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer; got {v!r}")
        if hidden is not None and (not isinstance(hidden, int) or hidden < 1):
            raise ConfigError(f"hidden must be a positive integer or None; got {hidden!r}")
        self.in_features = in_features
        self.gated = gated
        self.embed = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU()) if hidden else nn.Identity()
        h = hidden or in_features
        self.out_features = h
        self.V = nn.Linear(h, attention_dim)
        self.U = nn.Linear(h, attention_dim) if gated else None
        self.w = nn.Linear(attention_dim, 1)
        self.classifier = nn.Linear(h, n_outputs)

    def attention_scores(self, h: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores ``w^T tanh(V h)`` (times the gate): (N, B, H) -> (N, B)."""
        a = torch.tanh(self.V(h))
        if self.U is not None:
            a = a * torch.sigmoid(self.U(h))
        return self.w(a).squeeze(-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> MILOutput:
        """``x`` (N, B, d) padded bags; ``mask`` (N, B) bool, True for real instances."""
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"x must have shape (n_bags, bag_size, {self.in_features}); got {tuple(x.shape)}"
            )
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        elif mask.shape != x.shape[:2]:
            raise ShapeError(f"mask must have shape {tuple(x.shape[:2])}; got {tuple(mask.shape)}")
        mask = mask.bool()
        if not mask.any(dim=1).all():
            raise ShapeError("every bag needs at least one instance; mask has an all-False row "
                             f"(bags {torch.nonzero(~mask.any(dim=1)).flatten().tolist()})")
        h = self.embed(x)
        s = self.attention_scores(h).masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=1)
        z = torch.einsum("nb,nbh->nh", a, h.masked_fill(~mask[..., None], 0.0))
        return MILOutput(logits=self.classifier(z), attention=a)


@dataclass
class MILBags:
    """Padded synthetic bags: ``x`` (N, B_max, d), ``mask`` (N, B_max), ``y`` (N,)
    0/1 bag labels, ``key`` (N,) index of the label-carrying instance (-1 in
    negative bags), ``direction`` (d,) the unit direction of the signal (an
    oracle picks ``argmax_k <x_k, direction>``)."""

    x: torch.Tensor
    mask: torch.Tensor
    y: torch.Tensor
    key: torch.Tensor
    direction: torch.Tensor

    def oracle_key_rate(self) -> float:
        """Fraction of positive bags whose key instance has the largest projection
        on ``direction``: the rate an ideal attention would reach."""
        proj = (self.x @ self.direction).masked_fill(~self.mask, float("-inf"))
        pos = self.y == 1
        return float((proj[pos].argmax(dim=1) == self.key[pos]).float().mean())


def make_mil_bags(n_bags: int = 200, d: int = 10, min_size: int = 4, max_size: int = 12,
                  signal: float = 3.5, seed: int = 0, task_seed: int = 0) -> MILBags:
    """Seeded MIL task: exactly one known instance per positive bag carries the label.

    Instances are N(0, I_d); in a positive bag (half of the bags) one instance
    at a random position is shifted by ``signal`` along a fixed random unit
    direction (drawn from ``task_seed``, so train and test sets made with
    different ``seed`` share it). Bag sizes are uniform in [min_size, max_size],
    right-padded.

    Examples
    --------
    >>> b = make_mil_bags(6, d=3, min_size=2, max_size=4)
    >>> b.x.shape[0], bool((b.key[b.y == 0] == -1).all()), bool((b.key[b.y == 1] >= 0).all())
    (6, True, True)
    """
    for name, v in (("n_bags", n_bags), ("d", d)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name} must be an int >= 1; got {v!r}")
    if not 1 <= min_size <= max_size:
        raise ConfigError(f"need 1 <= min_size <= max_size; got min_size={min_size}, max_size={max_size}")
    direction = np.random.default_rng(task_seed).normal(size=d)
    rng = np.random.default_rng(seed)
    direction /= np.linalg.norm(direction)
    sizes = rng.integers(min_size, max_size + 1, size=n_bags)
    y = np.zeros(n_bags, dtype=np.int64)
    y[rng.permutation(n_bags)[: n_bags // 2]] = 1
    x = np.zeros((n_bags, max_size, d), dtype=np.float32)
    mask = np.arange(max_size)[None, :] < sizes[:, None]
    key = np.full(n_bags, -1, dtype=np.int64)
    for i, n in enumerate(sizes):
        x[i, :n] = rng.normal(size=(n, d))
        if y[i]:
            key[i] = rng.integers(n)
            x[i, key[i]] += signal * direction
    return MILBags(torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(y), torch.from_numpy(key),
                   torch.from_numpy(direction.astype(np.float32)))
