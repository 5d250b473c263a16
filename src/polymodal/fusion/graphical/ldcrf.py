"""Latent-dynamic CRF (Morency, Quattoni & Darrell, CVPR 2007): per-frame
labels with label-specific hidden states in one linear chain."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from polymodal.errors import ShapeError
from polymodal.fusion.graphical._crf import crf_log_partition, fit_lbfgs, pad_views


class LatentDynamicCRF(nn.Module):
    """Latent-dynamic CRF for frame labelling of (multi-view) sequences.

    Morency, Quattoni & Darrell, "Latent-dynamic discriminative models for
    continuous gesture recognition", CVPR 2007. Each label ``y`` owns a
    disjoint set ``H_y`` of ``states_per_label`` hidden states;

    .. math:: p(y_{1:T} \\mid x) = \\sum_{h:\\, h_t \\in H_{y_t}} p(h \\mid x),\\quad
        p(h \\mid x) \\propto \\exp\\Big(\\sum_t \\theta_{h_t} \\cdot x_t + \\sum_{t>1} \\theta_{h_{t-1} h_t}\\Big)

    and a frame's label marginal is ``p(y_t = y | x) = sum_{h in H_y} p(h_t = h | x)``.
    Several views are concatenated frame-wise (early fusion in the chain).

    Parameters
    ----------
    in_features : int or dict view -> d_v
    n_labels : int
    states_per_label : int

    Examples
    --------
    >>> m = LatentDynamicCRF(3, n_labels=2, states_per_label=2)
    >>> bool(torch.allclose(m.frame_log_marginals(torch.zeros(1, 5, 3)).exp().sum(-1), torch.ones(1, 5)))
    True
    """

    def __init__(self, in_features: int | dict[str, int], n_labels: int, states_per_label: int = 2,
                 random_state: int = 0) -> None:
        super().__init__()
        self.views = list(in_features) if isinstance(in_features, dict) else None
        d = sum(in_features.values()) if isinstance(in_features, dict) else int(in_features)
        self.n_labels, self.states_per_label = n_labels, states_per_label
        H = n_labels * states_per_label
        g = torch.Generator().manual_seed(random_state)
        self.obs = nn.Parameter(0.1 * torch.randn(H, d, generator=g))
        self.bias = nn.Parameter(torch.zeros(H))
        self.trans = nn.Parameter(0.1 * torch.randn(H, H, generator=g))
        self.register_buffer("owner", torch.arange(H) // states_per_label, False)  # label of each hidden state
        self.out_features = n_labels

    def _x(self, x: Any) -> torch.Tensor:
        if isinstance(x, dict):
            x = torch.cat([x[v] for v in self.views], -1)
        if x.dim() != 3 or x.shape[-1] != self.obs.shape[1]:
            raise ShapeError(f"x: expected (B, T, {self.obs.shape[1]}), got {tuple(x.shape)}")
        return x

    def _node(self, x: Any) -> torch.Tensor:
        return self._x(x) @ self.obs.T + self.bias

    def log_likelihood(self, x: Any, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(y_{1:T} | x)`` per sample (B,); ``y`` (B, T) labels (padding ignored)."""
        node = self._node(x)
        if y.shape != node.shape[:2]:
            raise ShapeError(f"y: expected labels of shape {tuple(node.shape[:2])}, got {tuple(y.shape)}")
        allowed = self.owner[None, None, :] == y[..., None]
        clamped = node.masked_fill(~allowed, float("-inf"))
        return crf_log_partition(clamped, self.trans, lengths) - crf_log_partition(node, self.trans, lengths)

    def frame_log_marginals(self, x: Any, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(y_t = y | x)``, (B, T, n_labels), from the hidden-state
        marginals (the gradient of log Z with respect to the node potentials)."""
        with torch.enable_grad():
            node = self._node(x).detach().requires_grad_(True)
            logz = crf_log_partition(node, self.trans.detach(), lengths)
            (marg,) = torch.autograd.grad(logz.sum(), node)
        lab = torch.zeros(marg.shape[:-1] + (self.n_labels,), dtype=marg.dtype, device=marg.device)
        lab = lab.index_add_(-1, self.owner, marg)
        return lab.clamp_min(1e-300).log()

    def fit(self, X: Sequence[Any], Y: Sequence[Any], l2: float = 1e-2, max_iter: int = 100) -> "LatentDynamicCRF":
        """L-BFGS on ``sum_i log p(y_i | x_i) - l2/2 ||theta||^2``. ``X``: list
        of (T, d) arrays (or dicts view -> array), ``Y``: list of (T,) labels."""
        xs, lens = self._pad(X)
        yt = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(np.asarray(v), dtype=torch.long) for v in Y], True)
        yt = yt.to(xs.device)
        fit_lbfgs(self, lambda: -self.log_likelihood(xs, yt, lens).sum(), l2, max_iter)
        return self

    def _pad(self, X: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        names = self.views or ["x"]
        xs, lens = pad_views([s if isinstance(s, dict) else {"x": s} for s in X], names, self.obs.dtype)
        return torch.cat([xs[v] for v in names], -1).to(self.obs.device), lens

    @torch.no_grad()
    def predict(self, X: Sequence[Any]) -> list[np.ndarray]:
        """Per-frame labels (argmax of the marginals), one (T_i,) array per sample."""
        xs, lens = self._pad(X)
        lab = self.frame_log_marginals(xs, lens).argmax(-1).cpu().numpy()
        return [lab[i, :n] for i, n in enumerate(lens.tolist())]
