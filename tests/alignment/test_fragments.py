"""Fragment-level alignment (Karpathy, Joulin & Fei-Fei 2014): losses against hand-written loops,
MIL label inference against brute force, gradient checks, padding invariance, a trained model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from polymodal.alignment import (
    FragmentAlignmentLoss,
    FragmentEmbedding,
    align_fragments,
    fragment_alignment_loss,
    fragment_scores,
    global_ranking_loss,
    image_sentence_scores,
    infer_fragment_labels,
)
from polymodal.data import make_shape_fragments
from polymodal.errors import ConfigError, ShapeError
from polymodal.metrics.retrieval import retrieval_recall_at_k


def _case(seed: int, K=3, L=3, R=3, T=3, h=4):
    """Random float64 embeddings with ragged masks (every row keeps >= 1 fragment)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(K, R, h, generator=g, dtype=torch.float64)
    s = torch.randn(L, T, h, generator=g, dtype=torch.float64)
    rm = torch.arange(R)[None] < torch.randint(1, R + 1, (K,), generator=g)[:, None]
    wm = torch.arange(T)[None] < torch.randint(1, T + 1, (L,), generator=g)[:, None]
    return v, s, rm, wm


def _labels_loop(v, s, rm, wm, pos):
    """The paper's heuristic written pair by pair: sign, then the best region of each fragment forced +1."""
    K, R, L, T = v.shape[0], v.shape[1], s.shape[0], s.shape[1]
    y = {}
    for l in range(L):
        for t in range(T):
            if not wm[l, t]:
                continue
            cands = [(k, r) for k in range(K) for r in range(R) if rm[k, r] and pos[k][l]]
            for k in range(K):
                for r in range(R):
                    if rm[k, r]:
                        sc = float(v[k, r] @ s[l, t])
                        y[k, r, l, t] = (1.0 if sc > 0 else -1.0) if pos[k][l] else -1.0
            if cands:
                best = max(cands, key=lambda kr: float(v[kr[0], kr[1]] @ s[l, t]))
                y[best + (l, t)] = 1.0
    return y


def _loss_loop(v, s, rm, wm, pos, mil, normalize):
    if mil:
        y = _labels_loop(v, s, rm, wm, pos)
    else:
        y = {(k, r, l, t): (1.0 if pos[k][l] else -1.0) for k in range(v.shape[0]) for r in range(v.shape[1])
             for l in range(s.shape[0]) for t in range(s.shape[1]) if rm[k, r] and wm[l, t]}
    terms = {+1.0: [], -1.0: []}
    for (k, r, l, t), yy in y.items():
        terms[yy].append(max(0.0, 1.0 - yy * float(v[k, r] @ s[l, t])))
    if not normalize:
        return sum(terms[1.0]) + sum(terms[-1.0])
    return sum(terms[1.0]) / max(len(terms[1.0]), 1) + sum(terms[-1.0]) / max(len(terms[-1.0]), 1)


@pytest.mark.parametrize("mil", [True, False])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fragment_loss_equals_loop(mil, normalize, seed):
    v, s, rm, wm = _case(seed)
    pos = [[True, False, False], [False, True, True], [False, False, True]] if seed == 2 else np.eye(3, dtype=bool)
    got = fragment_alignment_loss(v, s, rm, wm, positive=torch.tensor(np.asarray(pos)), mil=mil,
                                  normalize=normalize)
    want = _loss_loop(v, s, rm, wm, np.asarray(pos), mil, normalize)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_mil_labels_obey_constraint_and_equal_loop():
    for seed in range(10):
        v, s, rm, wm = _case(seed, K=4, L=3)
        pos = torch.rand(4, 3, generator=torch.Generator().manual_seed(seed)) < 0.4
        pos[0, 0] = True
        y = infer_fragment_labels(fragment_scores(v, s), rm, wm, pos)
        valid = rm[:, :, None, None] & wm[None, None]
        assert bool((y[~valid] == 0).all()) and bool((y[valid].abs() == 1).all())
        assert bool((y[~pos[:, None, :, None].expand_as(y) & valid] == -1).all())  # non-corresponding: -1
        for l, t in zip(*torch.nonzero(wm, as_tuple=True)):
            bag = pos[:, l][:, None] & rm  # the regions of the images corresponding to sentence l
            if bag.any():
                assert bool((y[:, :, l, t][bag] > 0).any()), "a sentence fragment without a positive region"
        loop = _labels_loop(v, s, rm, wm, pos.numpy())
        for key, yy in loop.items():
            assert float(y[key]) == yy


def test_mil_labels_are_the_brute_force_minimiser():
    """With kappa = 1 the heuristic minimises C_0 exactly under the MIL constraint (enumerate all y)."""
    for seed in range(12):
        v, s, rm, wm = _case(100 + seed, K=2, L=2, R=2, T=2, h=3)
        scores = fragment_scores(v, s)
        y = infer_fragment_labels(scores, rm, wm)
        for k in range(2):  # pairs are independent: enumerate the labels of pair (k, k)
            cells = [(r, t) for r in range(2) for t in range(2) if rm[k, r] and wm[k, t]]
            best, best_y = np.inf, None
            for signs in itertools.product((-1.0, 1.0), repeat=len(cells)):
                lab = dict(zip(cells, signs))
                if any(wm[k, t] and not any(lab.get((r, t), -1) > 0 for r in range(2)) for t in range(2)):
                    continue  # violates: every fragment needs a positive region
                cost = sum(max(0.0, 1.0 - yy * float(scores[k, r, k, t])) for (r, t), yy in lab.items())
                if cost < best:
                    best, best_y = cost, lab
            for (r, t), yy in best_y.items():
                assert float(y[k, r, k, t]) == yy


def test_image_sentence_scores_and_global_loss_equal_loops():
    v, s, rm, wm = _case(3, K=3, L=4, R=3, T=3)
    n = 2.0
    for norm in ("sentence", "image", "both", None):
        S = image_sentence_scores(v, s, rm, wm, smoothing=n, normalize=norm)
        for k in range(3):
            for l in range(4):
                tot = sum(max(0.0, float(v[k, r] @ s[l, t])) for r in range(3) for t in range(3)
                          if rm[k, r] and wm[l, t])
                gk, gl = float(rm[k].sum()) + n, float(wm[l].sum()) + n
                div = {"sentence": gl, "image": gk, "both": np.sqrt(gk * gl), None: 1.0}[norm]
                assert float(S[k, l]) == pytest.approx(tot / div, rel=1e-12, abs=1e-14)
    S = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    want = sum(max(0.0, float(S[k, l] - S[k, k] + 0.5)) + max(0.0, float(S[l, k] - S[k, k] + 0.5))
               for k in range(4) for l in range(4) if l != k)
    assert float(global_ranking_loss(S, margin=0.5, reduction="sum")) == pytest.approx(want, rel=1e-12)
    assert float(global_ranking_loss(S, margin=0.5)) == pytest.approx(want / 4, rel=1e-12)
    # a general positive matrix: every positive pair against every negative of its row and column
    P = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    want = 0.0
    for k, l in zip(*np.nonzero(P.numpy())):
        want += sum(max(0.0, float(S[k, j] - S[k, l] + 1)) for j in range(4) if not P[k, j])
        want += sum(max(0.0, float(S[i, l] - S[k, l] + 1)) for i in range(4) if not P[i, l])
    assert float(global_ranking_loss(S, P, reduction="sum")) == pytest.approx(want, rel=1e-12)


def test_gradcheck_losses():
    v, s, rm, wm = _case(4, K=3, L=3, R=2, T=3, h=3)
    v.requires_grad_(True)
    s.requires_grad_(True)
    for mil in (True, False):
        assert torch.autograd.gradcheck(lambda a, b: fragment_alignment_loss(a, b, rm, wm, mil=mil), (v, s))
    assert torch.autograd.gradcheck(
        lambda a, b: global_ranking_loss(image_sentence_scores(a, b, rm, wm, normalize="both")), (v, s))
    model = FragmentEmbedding(5, 6, embed_dim=3, word_dim=2, fragment_words=2, n_relations=2).double()
    x = torch.randn(3, 2, 5, dtype=torch.float64, requires_grad=True)
    words = torch.randint(0, 6, (3, 3, 2), generator=torch.Generator().manual_seed(0))
    rel = torch.randint(0, 2, (3, 3), generator=torch.Generator().manual_seed(1))
    crit = FragmentAlignmentLoss(beta=0.7)
    assert torch.autograd.gradcheck(lambda a: crit(model(a, words, rm, wm, rel)).total, (x,))


def test_embedding_equals_paper_formula():
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh())
    enc.out_features = 4
    m = FragmentEmbedding(5, 7, embed_dim=3, word_dim=2, fragment_words=2, n_relations=2, region_encoder=enc).double()
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    words = torch.tensor([[[0, 4], [1, 5], [2, 6]], [[3, 4], [0, 0], [0, 0]]])
    rel = torch.tensor([[0, 1, 1], [1, 0, 0]])
    wm = torch.tensor([[True, True, True], [True, False, False]])
    e = m(x, words, word_mask=wm, relations=rel)
    We, Wm, bm = m.word_embedding.weight, m.region_projection.weight, m.region_projection.bias
    for k in range(2):
        for r in range(3):
            torch.testing.assert_close(e.regions[k, r], Wm @ enc(x[k, r]) + bm)
    for l, t in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        cat = torch.cat([We[words[l, t, 0]], We[words[l, t, 1]]])
        want = torch.relu(m.relation_weight[rel[l, t]] @ cat + m.relation_bias[rel[l, t]])
        torch.testing.assert_close(e.words[l, t], want)
    assert float(e.words[1, 1:].detach().abs().sum()) == 0.0


def test_padding_invariance():
    """Extra padding (garbage regions, out-of-range ids) changes neither outputs nor the losses."""
    torch.manual_seed(0)
    m = FragmentEmbedding(4, 5, embed_dim=3, word_dim=2).double()
    x = torch.randn(2, 2, 4, dtype=torch.float64)
    w = torch.tensor([[1, 2], [3, 4]])
    crit = FragmentAlignmentLoss(beta=0.5, score_normalize="both")
    ref = crit(m(x, w))
    xp = torch.cat([x, torch.full((2, 3, 4), float("nan"), dtype=torch.float64)], 1).requires_grad_(True)
    wp = torch.cat([w, torch.full((2, 2), 99)], 1)
    rm = torch.arange(5)[None].expand(2, 5) < 2
    wm = torch.arange(4)[None].expand(2, 4) < 2
    out = crit(m(xp, wp, rm, wm))
    torch.testing.assert_close(out.total, ref.total)
    out.total.backward()
    assert float(xp.grad[:, 2:].abs().sum()) == 0.0
    # ragged: sample 1 with one region less equals the same sample given alone with padding removed
    e = m(xp.detach(), wp, rm, wm)
    a = align_fragments(e.regions, e.words, e.region_mask, e.word_mask)
    assert bool((a.region[:, 2:] == -1).all()) and not bool(a.positive[:, 2:].any())


def test_align_fragments_picks_best_region_and_forces_it_positive():
    v, s, rm, wm = _case(7, K=3, L=3)
    a = align_fragments(v, s, rm, wm)
    for k in range(3):
        for t in range(3):
            if not wm[k, t]:
                assert int(a.region[k, t]) == -1
                continue
            sc = [float(v[k, r] @ s[k, t]) if rm[k, r] else -np.inf for r in range(3)]
            assert int(a.region[k, t]) == int(np.argmax(sc))
            want = {r for r in range(3) if rm[k, r] and sc[r] > 0} | {int(np.argmax(sc))}
            assert {r for r in range(3) if a.positive[k, r, t]} == want


def test_errors_name_the_argument():
    v, s, rm, wm = _case(0)
    with pytest.raises(ShapeError, match="region_mask"):
        fragment_alignment_loss(v, s, rm[:, :2], wm)
    with pytest.raises(ShapeError, match="all-False"):
        fragment_alignment_loss(v, s, torch.zeros_like(rm), wm)
    with pytest.raises(ShapeError, match="K == L"):
        fragment_alignment_loss(v, s[:2], rm, wm[:2])
    with pytest.raises(ShapeError, match="positive"):
        global_ranking_loss(torch.zeros(3, 3), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ShapeError, match="same h"):
        image_sentence_scores(v, s[..., :2])
    with pytest.raises(ConfigError, match="normalize"):
        image_sentence_scores(v, s, normalize="words")
    with pytest.raises(ConfigError, match="reduction"):
        global_ranking_loss(torch.zeros(2, 2), reduction="max")
    m = FragmentEmbedding(4, 5, fragment_words=2)
    with pytest.raises(ShapeError, match=r"\(L, T, 2\)"):
        m(torch.zeros(1, 2, 4), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"\[0, 5\)"):
        m(torch.zeros(1, 2, 4), torch.full((1, 2, 2), 5))
    with pytest.raises(ShapeError, match=r"\(K, R, 4\)"):
        m(torch.zeros(1, 2, 3), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ConfigError, match="out_features"):
        FragmentEmbedding(4, 5, region_encoder=torch.nn.Tanh())
    with pytest.raises(ConfigError, match="fragment"):
        make_shape_fragments(2, fragment="triplet")


def test_shape_fragments_ground_truth():
    d = make_shape_fragments(30, seed=3)
    match = d.matches()
    tgt = d.target.clamp(min=0)
    assert bool(match.gather(1, tgt[:, None]).squeeze(1)[d.word_mask].all())  # the target region holds the object
    assert d.alignment_accuracy(d.target) == 1.0
    # chance by brute force: mean over fragments of (#matching regions) / (#regions)
    want = np.mean([match[n, :, t].sum().item() / d.region_mask[n].sum().item()
                    for n in range(30) for t in range(d.words.shape[1]) if d.word_mask[n, t]])
    assert d.chance_accuracy() == pytest.approx(want)
    for n in range(30):  # the sentence names exactly the scene's objects
        assert sorted(d.sentences[n].split()) == sorted(w for o in d.scenes[n] for w in (o.colour, o.shape))
    assert bool(np.diag(d.relevance()).all())
    w = make_shape_fragments(30, seed=3, fragment="word")
    assert w.alignment_accuracy(w.target) == 1.0 and w.chance_accuracy() > d.chance_accuracy()


def test_trained_model_aligns_words_to_regions_and_retrieves():
    torch.manual_seed(0)
    tr, te = make_shape_fragments(300, seed=0), make_shape_fragments(100, seed=1)
    enc = torch.nn.Sequential(torch.nn.Linear(432, 48), torch.nn.ReLU())
    enc.out_features = 48
    m = FragmentEmbedding(432, len(tr.vocab), embed_dim=24, word_dim=12, fragment_words=2, region_encoder=enc)
    crit = FragmentAlignmentLoss(beta=1.0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    rel = torch.from_numpy(tr.relevance())
    for _ in range(6):
        perm = torch.randperm(300)
        for i in range(0, 300, 50):
            b = perm[i:i + 50]
            loss = crit(m(tr.regions[b], tr.words[b], tr.region_mask[b], tr.word_mask[b]), rel[b][:, b]).total
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        e = m(te.regions, te.words, te.region_mask, te.word_mask)
        a = align_fragments(e.regions, e.words, e.region_mask, e.word_mask)
        S = image_sentence_scores(e.regions, e.words, e.region_mask, e.word_mask, normalize="both").numpy()
    chance = te.chance_accuracy()
    assert chance < 0.45
    assert te.alignment_accuracy(a.region) > chance + 0.4
    r = retrieval_recall_at_k(S.T, te.relevance().T, ks=(1, 5))  # sentence -> image
    assert r.recall[5] > 50.0  # chance R@5 is about 5 %
