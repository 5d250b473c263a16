"""Ranking (Kiros 2014, VSE++) and CLIP losses against brute-force loops."""

from __future__ import annotations

import math
import re

import pytest
import torch

from polymodal.errors import ModalityError, ShapeError
from polymodal.representation import (
    CLIPLoss,
    CosineEmbedding,
    RankingLoss,
    clip_loss,
    cosine_similarity_matrix,
    ranking_loss,
)


def cos(u, v):
    return float(u @ v / (u.norm() * v.norm()))


def brute_ranking(a, b, margin, hardest, ids=None):
    n = len(a)
    total = 0.0
    for i in range(n):
        sii = cos(a[i], b[i])
        t1, t2 = [], []
        for k in range(n):
            if k == i or (ids is not None and ids[k] == ids[i]):
                continue
            t1.append(max(0.0, margin - sii + cos(a[i], b[k])))  # caption k for image i
            t2.append(max(0.0, margin - sii + cos(a[k], b[i])))  # image k for caption i
        if hardest:
            total += (max(t1) if t1 else 0.0) + (max(t2) if t2 else 0.0)
        else:
            total += sum(t1) + sum(t2)
    return total


def brute_clip(a, b, t):
    n = len(a)
    l1 = l2 = 0.0
    for i in range(n):
        row = [t * cos(a[i], b[k]) for k in range(n)]
        col = [t * cos(a[k], b[i]) for k in range(n)]
        l1 -= row[i] - math.log(sum(math.exp(r) for r in row))
        l2 -= col[i] - math.log(sum(math.exp(c) for c in col))
    return 0.5 * (l1 + l2) / n


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(
        7, 5, generator=g, dtype=torch.float64)


def test_cosine_matrix(pair):
    a, b = pair
    S = cosine_similarity_matrix(a, b)
    for i in range(7):
        for k in range(7):
            assert abs(S[i, k].item() - cos(a[i], b[k])) < 1e-12


@pytest.mark.parametrize("hardest", [False, True])
@pytest.mark.parametrize("use_ids", [False, True])
def test_ranking_loss_brute_force(pair, hardest, use_ids):
    a, b = pair
    ids = torch.tensor([0, 1, 1, 2, 3, 3, 3]) if use_ids else None
    got = ranking_loss(a, b, margin=0.3, hardest=hardest, ids=ids)
    ref = brute_ranking(a, b, 0.3, hardest, None if ids is None else ids.tolist())
    assert abs(got.item() - ref) < 1e-10
    mod = RankingLoss(margin=0.3, hardest=hardest, reduction="mean")
    assert abs(mod(a, b, ids).item() - ref / 7) < 1e-10


def test_ranking_loss_gradcheck(pair):
    a, b = (t.clone().requires_grad_() for t in pair)
    assert torch.autograd.gradcheck(lambda x, y: ranking_loss(x, y, 0.5, True), (a, b))


def test_clip_loss_brute_force_and_temperature_gradient(pair):
    a, b = pair
    got = clip_loss(a, b, math.log(1 / 0.07))
    assert abs(got.item() - brute_clip(a, b, 1 / 0.07)) < 1e-10
    mod = CLIPLoss(temperature=0.5).double()
    t = mod.logit_scale.exp().item()  # 2 up to the float32 rounding of its log
    assert abs(t - 2.0) < 1e-6
    loss = mod(a, b)
    assert abs(loss.item() - brute_clip(a, b, t)) < 1e-10
    loss.backward()
    # d loss / d logit_scale by central differences of the brute force
    h = 1e-6
    fd = (brute_clip(a, b, t * math.exp(h)) - brute_clip(a, b, t * math.exp(-h))) / (2 * h)
    assert abs(mod.logit_scale.grad.item() - fd) < 1e-6
    # the clamp: scale never exceeds max_scale
    big = CLIPLoss(temperature=1e-4, max_scale=100.0).double()
    assert abs(big(a, b).item() - brute_clip(a, b, 100.0)) < 1e-9


def test_cosine_embedding_and_errors():
    torch.manual_seed(0)
    emb = CosineEmbedding({"image": 6, "text": 3}, embed_dim=4)
    x = {"image": torch.randn(5, 6), "text": torch.randn(5, 3)}
    out = emb(x)
    ref = torch.nn.functional.linear(x["image"], emb.proj["image"].weight, emb.proj["image"].bias)
    torch.testing.assert_close(out["image"], ref / ref.norm(dim=1, keepdim=True))
    with pytest.raises(ModalityError, match=re.escape(
        "unknown modality 'audio'; expected one of ['image', 'text']"
    )):
        emb({"audio": torch.randn(2, 3)})
    with pytest.raises(ShapeError, match=re.escape(
        "b must have the shape of a (5, 4); got (4, 4)"
    )):
        ranking_loss(out["image"], out["text"][:4])
    with pytest.raises(ShapeError, match=re.escape(
        "a and b must be 2-D (batch, dim); got shapes (5,) and (5,)"
    )):
        clip_loss(torch.randn(5), torch.randn(5), 1.0)


@pytest.mark.parametrize("logit_scale", [100.0, float("nan"), torch.tensor(89.0), float("inf")])
def test_clip_loss_refuses_a_logit_scale_whose_exponential_is_not_finite(logit_scale):
    """exp(100) overflows float32: the product with an orthogonal pair's cosine 0 was NaN and the loss NaN."""
    from polymodal.errors import ConfigError

    a = torch.eye(4)
    with pytest.raises(ConfigError, match=r"clip_loss: logit_scale=.* not finite in torch.float32"):
        clip_loss(a, a, logit_scale)
    # the largest finite scale still gives the limit (0 for a perfectly matched batch)
    assert float(clip_loss(a, a, 88.0)) == 0.0
    assert torch.isfinite(clip_loss(a.double(), a.double(), 100.0))  # finite in float64
