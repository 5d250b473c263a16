"""Similarity (contrastive) embeddings: ranking losses and the symmetric InfoNCE/CLIP loss."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.errors import ConfigError, ModalityError, ShapeError

__all__ = [
    "cosine_similarity_matrix",
    "ranking_loss",
    "clip_loss",
    "RankingLoss",
    "CLIPLoss",
    "CosineEmbedding",
]


def _check_pair(a: Tensor, b: Tensor, names=("a", "b")) -> None:
    if a.dim() != 2 or b.dim() != 2:
        raise ShapeError(
            f"{names[0]} and {names[1]} must be 2-D (batch, dim); got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape != b.shape:
        raise ShapeError(
            f"{names[1]} must have the shape of {names[0]} {tuple(a.shape)}; got {tuple(b.shape)}"
        )


def cosine_similarity_matrix(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """``S[i, k] = cos(a_i, b_k)`` for ``a`` (n, d) and ``b`` (m, d); returns (n, m)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ShapeError(f"a (n, d) and b (m, d) must be 2-D with the same d; got shapes {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).T


def ranking_loss(
    a: Tensor,
    b: Tensor,
    margin: float = 0.2,
    hardest: bool = False,
    ids: Tensor | None = None,
    reduction: str = "sum",
) -> Tensor:
    """Bidirectional max-margin ranking loss on cosine similarities.

    Kiros, Salakhutdinov & Zemel, "Unifying visual-semantic embeddings with
    multimodal neural language models", NIPS DL workshop 2014 (sum over
    negatives); Faghri, Fleet, Kiros & Fidler, "VSE++", BMVC 2018
    (``hardest=True``: only the hardest negative):

    .. math::

        \\ell_i = \\sum_{k \\ne i} [\\alpha - s_{ii} + s_{ik}]_+ + [\\alpha - s_{ii} + s_{ki}]_+
        \\quad (\\text{or } \\max_{k \\ne i} \\text{ of each term}),

    with :math:`s_{ik} = \\cos(a_i, b_k)`, ``a_i`` and ``b_i`` a matching pair.

    Parameters
    ----------
    a, b : Tensor (batch, dim) — the two modalities, row ``i`` a positive pair
    margin : float — :math:`\\alpha`
    hardest : bool — VSE++ hardest negative instead of the sum
    ids : Tensor (batch,), optional — rows with equal ids are not negatives
    reduction : "sum" (the papers) or "mean" (over the batch)

    Examples
    --------
    >>> a, b = torch.eye(3), torch.eye(3)
    >>> float(ranking_loss(a, b, margin=0.2))
    0.0
    """
    _check_pair(a, b)
    if reduction not in ("sum", "mean"):
        raise ConfigError(f"reduction must be 'sum' or 'mean'; got {reduction!r}")
    n = a.shape[0]
    S = cosine_similarity_matrix(a, b)
    pos = S.diagonal()
    if ids is None:
        neg = torch.eye(n, dtype=torch.bool, device=S.device)
    else:
        if ids.shape != (n,):
            raise ShapeError(f"ids must have shape ({n},); got {tuple(ids.shape)}")
        neg = ids[:, None] == ids[None, :]
    cost_b = (margin - pos[:, None] + S).clamp(min=0).masked_fill(neg, 0.0)  # a_i vs b_k
    cost_a = (margin - pos[None, :] + S).clamp(min=0).masked_fill(neg, 0.0)  # b_k vs a_i
    if hardest:
        per = cost_b.max(dim=1).values + cost_a.max(dim=0).values
    else:
        per = cost_b.sum(dim=1) + cost_a.sum(dim=0)
    return per.sum() if reduction == "sum" else per.mean()


def clip_loss(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE (CLIP) loss on cosine similarities.

    van den Oord, Li & Vinyals, "Representation learning with contrastive
    predictive coding", arXiv 2018; Radford et al., "Learning transferable
    visual models from natural language supervision" (CLIP), ICML 2021:

    .. math::

        L = \\tfrac12\\Big[-\\tfrac1n\\sum_i \\log \\frac{e^{t s_{ii}}}{\\sum_k e^{t s_{ik}}}
            -\\tfrac1n\\sum_i \\log \\frac{e^{t s_{ii}}}{\\sum_k e^{t s_{ki}}}\\Big],
        \\qquad t = e^{\\text{logit\\_scale}} = 1/\\tau.

    Parameters
    ----------
    a, b : Tensor (batch, dim), row ``i`` a positive pair
    logit_scale : Tensor or float — log of the inverse temperature; CLIP clamps it at
        :math:`\\ln 100` (:class:`CLIPLoss` does). One whose exponential is not finite in ``a``'s dtype
        (above ~88.7 in float32) or that is NaN is a :class:`~polymodal.errors.ConfigError` (checked
        on the CPU; on an accelerator the check would wait for the device, so it is skipped there).

    Examples
    --------
    >>> a = torch.eye(4)
    >>> round(float(clip_loss(a, a, logit_scale=math.log(100.0))), 6)
    0.0
    """
    _check_pair(a, b)
    scale = torch.as_tensor(logit_scale, dtype=a.dtype, device=a.device).exp()
    if scale.device.type == "cpu" and not bool(torch.isfinite(scale).all()):
        value = logit_scale.tolist() if isinstance(logit_scale, Tensor) else logit_scale
        raise ConfigError(f"clip_loss: logit_scale={value} gives an inverse temperature exp(logit_scale) that "
                          f"is not finite in {a.dtype} (the loss would be NaN); CLIP clamps logit_scale at "
                          f"ln(100) = {math.log(100):.4f}")
    logits = scale * cosine_similarity_matrix(a, b)
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class RankingLoss(nn.Module):
    """Module form of :func:`ranking_loss` (Kiros et al. 2014; VSE++ with ``hardest``).

    Examples
    --------
    >>> loss = RankingLoss(margin=0.2, hardest=True)
    >>> float(loss(torch.eye(3), torch.eye(3)))
    0.0
    """

    def __init__(self, margin: float = 0.2, hardest: bool = False, reduction: str = "sum"):
        super().__init__()
        self.margin = margin
        self.hardest = hardest
        self.reduction = reduction

    def forward(self, a: Tensor, b: Tensor, ids: Tensor | None = None) -> Tensor:
        return ranking_loss(a, b, self.margin, self.hardest, ids, self.reduction)


class CLIPLoss(nn.Module):
    """Module form of :func:`clip_loss` with a learnable temperature (CLIP, ICML 2021).

    ``logit_scale`` starts at ``log(1 / temperature)`` and is clamped to
    ``log(max_scale)`` in the forward pass (CLIP uses 0.07 and 100).

    Examples
    --------
    >>> loss = CLIPLoss(temperature=0.07)
    >>> round(loss.logit_scale.exp().item(), 4)
    14.2857
    """

    def __init__(self, temperature: float = 0.07, learnable: bool = True,
                 max_scale: float = 100.0):
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0; got {temperature!r}")
        init = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.logit_scale = nn.Parameter(init)
        else:
            self.register_buffer("logit_scale", init)
        self.max_log_scale = math.log(max_scale)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return clip_loss(a, b, self.logit_scale.clamp(max=self.max_log_scale))


class CosineEmbedding(nn.Module):
    """Coordinated embedding: one linear map per modality onto a shared unit sphere.

    ``forward({"image": x_img, "text": x_txt})`` returns the same keys with
    ``normalize(W_m x_m + b_m)`` of shape (batch, embed_dim), ready for
    :class:`RankingLoss` or :class:`CLIPLoss` (Frome et al., "DeViSE", NIPS 2013;
    Kiros et al. 2014). Pass ``encoders`` to put a module in front of each map.

    Examples
    --------
    >>> emb = CosineEmbedding({"image": 8, "text": 5}, embed_dim=4)
    >>> out = emb({"image": torch.randn(2, 8), "text": torch.randn(2, 5)})
    >>> round(float(out["text"].norm(dim=1)[0]), 5)
    1.0
    """

    def __init__(self, input_dims: Mapping[str, int], embed_dim: int,
                 encoders: Mapping[str, nn.Module] | None = None):
        super().__init__()
        self.proj = nn.ModuleDict({m: nn.Linear(d, embed_dim) for m, d in input_dims.items()})
        self.encoders = nn.ModuleDict(dict(encoders or {}))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if not isinstance(batch, Mapping):
            raise ModalityError(f"CosineEmbedding expects a dict modality -> tensor, got {type(batch).__name__}")
        out = {}
        for name, x in batch.items():
            if name not in self.proj:
                raise ModalityError(
                    f"unknown modality {name!r}; expected one of {sorted(self.proj)}"
                )
            if name in self.encoders:
                x = self.encoders[name](x)
            d = self.proj[name].in_features
            if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != d or not x.is_floating_point():
                got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
                raise ShapeError(f"modality {name!r}: expected a float (batch, {d}) tensor"
                                 f"{' from its encoder' if name in self.encoders else ''}, got {got}")
            out[name] = F.normalize(self.proj[name](x), dim=-1)
        return out
