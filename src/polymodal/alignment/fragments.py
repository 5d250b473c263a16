r"""Fragment-level alignment of image regions and sentence fragments.

Karpathy, Joulin & Fei-Fei, "Deep Fragment Embeddings for Bidirectional Image
Sentence Mapping", NeurIPS 2014. Image fragments (regions) and sentence
fragments are embedded in one space; their inner products ``v_i^T s_t`` are
fragment scores; a max-margin *fragment alignment objective* ``C_F`` (with a
multiple-instance extension that infers which region each sentence fragment
describes) and a *global ranking objective* ``C_G`` over image-sentence scores
are combined as ``C = C_F + beta C_G + alpha ||theta||^2``.

Simplification: the paper's sentence fragments are typed dependency-tree
triplets ``(R, w_1, w_2)``; here a fragment is any tuple of ``k`` word ids
(words: ``k = 1``; colour-shape pairs: ``k = 2``) with an optional relation id
selecting ``W_R``, so dependency triplets fit the same interface when a parser
supplies them. The paper's whole-image fragment is not added automatically
(pass it as one more region if wanted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from polymodal.core.pytree import pytree_output
from polymodal.errors import ConfigError, ShapeError

__all__ = [
    "FragmentOutput",
    "FragmentEmbedding",
    "fragment_scores",
    "infer_fragment_labels",
    "fragment_alignment_loss",
    "image_sentence_scores",
    "global_ranking_loss",
    "FragmentLossOutput",
    "FragmentAlignmentLoss",
    "FragmentAlignmentResult",
    "align_fragments",
]


@pytree_output
@dataclass
class FragmentOutput:
    """What :class:`FragmentEmbedding` returns, the embedded fragments: ``regions`` (K, R, h)
    image fragments ``v``, ``words`` (L, T, h) sentence fragments ``s`` (zero on padding) and
    their bool masks ``region_mask`` (K, R), ``word_mask`` (L, T)."""

    regions: torch.Tensor
    words: torch.Tensor
    region_mask: torch.Tensor
    word_mask: torch.Tensor


def _mask(mask: torch.Tensor | None, shape: tuple[int, int], name: str, device) -> torch.Tensor:
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    if tuple(mask.shape) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}; got {tuple(mask.shape)}")
    mask = mask.bool()
    if not mask.any(dim=1).all():
        raise ShapeError(f"every row needs at least one fragment; {name} has an all-False row "
                         f"(rows {torch.nonzero(~mask.any(dim=1)).flatten().tolist()})")
    return mask


def _check_pair(regions: torch.Tensor, words: torch.Tensor, region_mask, word_mask):
    if regions.ndim != 3 or words.ndim != 3 or regions.shape[-1] != words.shape[-1]:
        raise ShapeError("regions and words must be (K, R, h) and (L, T, h) with the same h; got "
                         f"{tuple(regions.shape)} and {tuple(words.shape)}")
    rm = _mask(region_mask, tuple(regions.shape[:2]), "region_mask", regions.device)
    wm = _mask(word_mask, tuple(words.shape[:2]), "word_mask", words.device)
    return rm, wm


def _positive(positive, K: int, L: int, device) -> torch.Tensor:
    if positive is None:
        if K != L:
            raise ShapeError(f"without positive, image k must correspond to sentence k: need K == L; got K={K}, L={L}")
        return torch.eye(K, dtype=torch.bool, device=device)
    positive = torch.as_tensor(positive, device=device).bool()
    if tuple(positive.shape) != (K, L):
        raise ShapeError(f"positive must have shape (K, L) = ({K}, {L}); got {tuple(positive.shape)}")
    return positive


class FragmentEmbedding(nn.Module):
    r"""Image-region and sentence-fragment projections into one ``embed_dim`` space.

    Karpathy, Joulin & Fei-Fei, NeurIPS 2014 (the fragment embeddings):

    .. math::

        v_i = W_m\,\mathrm{CNN}(I_{b_i}) + b_m, \qquad
        s_t = f\big(W_{R_t} [W_e w_{t,1}; \dots; W_e w_{t,k}] + b_{R_t}\big),

    with ``f`` = ReLU, ``W_e`` a word embedding and one ``W_R`` per relation
    type. ``CNN`` is ``region_encoder`` (any module mapping (n, d) to
    (n, out_features), e.g. :class:`~polymodal.encoders.LeNet` on flattened
    crops; identity if None). Sentence fragments are tuples of ``fragment_words``
    word ids (the paper: dependency triplets; here words or word pairs).

    Parameters
    ----------
    region_features : int, size d of a region's input features.
    vocab_size : int, number of word ids.
    embed_dim : int, size h of the joint fragment space.
    word_dim : int, size of ``W_e``'s word vectors.
    fragment_words : int, words per sentence fragment k.
    n_relations : int, number of relation types (matrices ``W_R``).
    region_encoder : nn.Module or None, with attribute ``out_features``.

    Forward: ``regions`` (K, R, d) float, ``words`` (L, T, k) long (or (L, T)
    when k = 1), optional ``region_mask`` (K, R), ``word_mask`` (L, T) bool and
    ``relations`` (L, T) long; returns :class:`FragmentOutput` (ids under
    padding are ignored, embeddings there are zero). Padded regions enter
    ``region_encoder`` as zero rows, so an encoder with batch statistics
    (BatchNorm) would see them.

    Examples
    --------
    >>> m = FragmentEmbedding(5, vocab_size=7, embed_dim=4, fragment_words=2)
    >>> e = m(torch.randn(2, 3, 5), torch.tensor([[[0, 4], [1, 5]], [[2, 6], [0, 0]]]),
    ...       word_mask=torch.tensor([[True, True], [True, False]]))
    >>> e.regions.shape, e.words.shape, float(e.words[1, 1].detach().abs().sum())
    (torch.Size([2, 3, 4]), torch.Size([2, 2, 4]), 0.0)
    """

    def __init__(self, region_features: int, vocab_size: int, embed_dim: int = 64, word_dim: int = 32,
                 fragment_words: int = 1, n_relations: int = 1, region_encoder: nn.Module | None = None):
        super().__init__()
        for v, name in ((region_features, "region_features"), (vocab_size, "vocab_size"), (embed_dim, "embed_dim"),
                        (word_dim, "word_dim"), (fragment_words, "fragment_words"), (n_relations, "n_relations")):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer; got {v!r}")
        if region_encoder is not None and not hasattr(region_encoder, "out_features"):
            raise ConfigError("region_encoder must expose out_features (its output size); "
                              f"{type(region_encoder).__name__} has none")
        self.region_features, self.vocab_size = region_features, vocab_size
        self.fragment_words, self.n_relations, self.out_features = fragment_words, n_relations, embed_dim
        self.region_encoder = region_encoder if region_encoder is not None else nn.Identity()
        feat = int(region_encoder.out_features) if region_encoder is not None else region_features
        self.region_projection = nn.Linear(feat, embed_dim)  # W_m, b_m
        self.word_embedding = nn.Embedding(vocab_size, word_dim)  # W_e
        fan_in = fragment_words * word_dim
        bound = 1.0 / math.sqrt(fan_in)
        self.relation_weight = nn.Parameter(torch.empty(n_relations, embed_dim, fan_in).uniform_(-bound, bound))
        self.relation_bias = nn.Parameter(torch.empty(n_relations, embed_dim).uniform_(-bound, bound))

    def embed_regions(self, regions: torch.Tensor, region_mask: torch.Tensor | None = None):
        """``v = W_m CNN(region) + b_m``: (K, R, d) -> (K, R, h), zero on padding; returns (v, mask)."""
        if regions.ndim != 3 or regions.shape[-1] != self.region_features:
            raise ShapeError(f"regions must have shape (K, R, {self.region_features}); got {tuple(regions.shape)}")
        rm = _mask(region_mask, tuple(regions.shape[:2]), "region_mask", regions.device)
        K, R, d = regions.shape
        # padded rows are zeroed before the encoder (their values never matter) and after the projection
        flat = torch.where(rm.reshape(-1, 1), regions.reshape(K * R, d), 0.0)
        v = self.region_projection(self.region_encoder(flat)) * rm.reshape(-1, 1)
        return v.reshape(K, R, -1), rm

    def embed_words(self, words: torch.Tensor, word_mask: torch.Tensor | None = None,
                    relations: torch.Tensor | None = None):
        """``s = ReLU(W_R [W_e w_1; ...; W_e w_k] + b_R)``: (L, T, k) ids -> (L, T, h); returns (s, mask)."""
        k = self.fragment_words
        if words.ndim == 2 and k == 1:
            words = words[..., None]
        if words.ndim != 3 or words.shape[-1] != k:
            raise ShapeError(f"words must have shape (L, T, {k}) (word ids per fragment); got {tuple(words.shape)}")
        if words.dtype not in (torch.int64, torch.int32):
            raise ShapeError(f"words must hold integer word ids; got dtype {words.dtype}")
        wm = _mask(word_mask, tuple(words.shape[:2]), "word_mask", words.device)
        real = words[wm]
        if real.numel() and (real.min() < 0 or real.max() >= self.vocab_size):
            raise ShapeError(f"word ids must be in [0, {self.vocab_size}); got min {int(real.min())}, "
                             f"max {int(real.max())}")
        if relations is not None:
            if tuple(relations.shape) != tuple(words.shape[:2]):
                raise ShapeError(f"relations must have shape {tuple(words.shape[:2])}; got {tuple(relations.shape)}")
            rel = relations[wm].long()
            if rel.numel() and (rel.min() < 0 or rel.max() >= self.n_relations):
                raise ShapeError(f"relation ids must be in [0, {self.n_relations}); got min {int(rel.min())}, "
                                 f"max {int(rel.max())}")
        L, T = words.shape[:2]
        ids = words.long().masked_fill(~wm[..., None], 0)  # padded ids are never looked at
        e = self.word_embedding(ids).reshape(L * T, -1)  # (L T, k * word_dim)
        nr, h = self.n_relations, self.out_features
        out = (e @ self.relation_weight.reshape(nr * h, -1).T).reshape(L * T, nr, h) + self.relation_bias
        if nr == 1:
            out = out[:, 0]
        else:
            rel = relations.long().masked_fill(~wm, 0).reshape(-1) if relations is not None else \
                torch.zeros(L * T, dtype=torch.long, device=words.device)
            out = out[torch.arange(L * T, device=words.device), rel]
        s = torch.relu(out).reshape(L, T, h) * wm[..., None]
        return s, wm

    def forward(self, regions: torch.Tensor, words: torch.Tensor, region_mask: torch.Tensor | None = None,
                word_mask: torch.Tensor | None = None, relations: torch.Tensor | None = None) -> FragmentOutput:
        v, rm = self.embed_regions(regions, region_mask)
        s, wm = self.embed_words(words, word_mask, relations)
        return FragmentOutput(v, s, rm, wm)


def fragment_scores(regions: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """All fragment scores ``v_i^T s_t``: (K, R, h), (L, T, h) -> (K, R, L, T).

    Examples
    --------
    >>> fragment_scores(torch.ones(2, 3, 4), torch.ones(5, 1, 4)).shape
    torch.Size([2, 3, 5, 1])
    """
    if regions.dim() != 3 or words.dim() != 3 or regions.shape[-1] != words.shape[-1]:
        raise ShapeError(f"regions (K, R, h) and words (L, T, h) must be 3-D with the same h; got shapes "
                         f"{tuple(regions.shape)} and {tuple(words.shape)}")
    K, R, h = regions.shape
    L, T, _ = words.shape
    return (regions.reshape(K * R, h) @ words.reshape(L * T, h).T).reshape(K, R, L, T)


@torch.no_grad()
def infer_fragment_labels(scores: torch.Tensor, region_mask: torch.Tensor | None = None,
                          word_mask: torch.Tensor | None = None, positive=None) -> torch.Tensor:
    r"""MIL labels ``y`` of the fragment objective, the paper's heuristic for the multiple-instance objective.

    For a region ``i`` of image ``k`` and fragment ``t`` of sentence ``l``:
    ``y = -1`` if (k, l) do not correspond; otherwise ``y = sign(v_i^T s_t)``
    (+1 for a score > 0), and for every sentence fragment the highest-scoring
    region among its corresponding images is set to +1, so the constraint
    :math:`\sum_{i \in p_t} (y_{it} + 1)/2 \ge 1` holds. With unit weights this
    is the exact constrained minimiser of :math:`\sum \max(0, 1 - y\,v^\top s)`.

    Parameters
    ----------
    scores : (K, R, L, T) fragment scores (:func:`fragment_scores`).
    region_mask, word_mask : (K, R), (L, T) bool, True for real fragments.
    positive : (K, L) bool, which image-sentence pairs correspond (default: identity).

    Returns (K, R, L, T) float labels in {-1, +1}, 0 on padding.

    Examples
    --------
    >>> s = torch.tensor([-0.5, -0.2, 0.3, -1.0]).reshape(1, 2, 1, 2)  # one pair, 2 regions, 2 fragments
    >>> infer_fragment_labels(s).reshape(2, 2).tolist()  # fragment 1: no positive score, best region forced
    [[-1.0, 1.0], [1.0, -1.0]]
    """
    if scores.ndim != 4:
        raise ShapeError(f"scores must have shape (K, R, L, T); got {tuple(scores.shape)}")
    K, R, L, T = scores.shape
    rm = _mask(region_mask, (K, R), "region_mask", scores.device)
    wm = _mask(word_mask, (L, T), "word_mask", scores.device)
    pos = _positive(positive, K, L, scores.device)
    valid = rm[:, :, None, None] & wm[None, None]
    cand = pos[:, None, :, None] & valid  # regions of a corresponding image
    y = torch.where(cand & (scores > 0), 1.0, -1.0).to(scores.dtype)
    flat = scores.masked_fill(~cand, float("-inf")).reshape(K * R, L * T)
    best = flat.argmax(dim=0)  # the highest-scoring candidate region of every sentence fragment
    has = cand.reshape(K * R, L * T).any(dim=0)
    yf = y.reshape(K * R, L * T)
    cols = torch.nonzero(has).flatten()
    yf[best[cols], cols] = 1.0
    return yf.reshape(K, R, L, T) * valid


def fragment_alignment_loss(regions: torch.Tensor, words: torch.Tensor, region_mask: torch.Tensor | None = None,
                            word_mask: torch.Tensor | None = None, *, positive=None, mil: bool = True,
                            normalize: bool = True, margin: float = 1.0) -> torch.Tensor:
    r"""Fragment alignment objective ``C_F`` (Karpathy, Joulin & Fei-Fei, NeurIPS 2014).

    .. math::

        C_0 = \sum_i \sum_j \kappa_{ij} \max(0,\ \Delta - y_{ij}\, v_i^\top s_j),

    over every region ``i`` and sentence fragment ``j`` of the batch, with
    ``y_ij = +1`` when both come from a corresponding image-sentence pair and
    -1 otherwise (``mil=False``). With ``mil=True`` the labels inside a
    corresponding pair are inferred (:func:`infer_fragment_labels`):
    ``C_F = min_y C_0`` subject to every sentence fragment having at least one
    positive region. ``normalize=True`` sets ``kappa`` to 1/(number of positive
    y) for positive and 1/(number of negative y) for negative terms (the
    paper's normalisation by the counts of positive and negative ``y_ij``);
    ``normalize=False`` sums (kappa = 1). ``margin`` is Δ (the paper: 1).

    Parameters
    ----------
    regions : (K, R, h) region embeddings ``v``; words : (L, T, h) fragment embeddings ``s``.
    region_mask, word_mask : (K, R), (L, T) bool (default: all real).
    positive : (K, L) bool corresponding pairs (default: identity, K == L).

    Examples
    --------
    >>> v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]); s = torch.tensor([[[2.0, 0.0]]])
    >>> float(fragment_alignment_loss(v, s, normalize=False))  # y = (+1, -1): hinge 0 + 1
    1.0
    """
    rm, wm = _check_pair(regions, words, region_mask, word_mask)
    K, L = regions.shape[0], words.shape[0]
    pos = _positive(positive, K, L, regions.device)
    scores = fragment_scores(regions, words)
    valid = (rm[:, :, None, None] & wm[None, None]).to(scores.dtype)
    if mil:
        y = infer_fragment_labels(scores.detach(), rm, wm, pos)
    else:
        y = (2.0 * pos[:, None, :, None].to(scores.dtype) - 1.0) * valid
    hinge = torch.relu(margin - y * scores) * valid
    if not normalize:
        return hinge.sum()
    n_pos, n_neg = (y > 0).sum().clamp(min=1), (y < 0).sum().clamp(min=1)
    return (hinge * (y > 0)).sum() / n_pos + (hinge * (y < 0)).sum() / n_neg


def image_sentence_scores(regions: torch.Tensor, words: torch.Tensor, region_mask: torch.Tensor | None = None,
                          word_mask: torch.Tensor | None = None, smoothing: float = 5.0,
                          normalize: str | None = "sentence") -> torch.Tensor:
    r"""Image-sentence scores ``S_kl`` from fragments (Karpathy, Joulin & Fei-Fei, NeurIPS 2014):

    .. math::

        S_{kl} = \frac{1}{|g_l| + n} \sum_{t \in g_l} \sum_{i \in g_k} \max(0,\ v_i^\top s_t),

    the thresholded sum of fragment scores over the regions ``g_k`` of image k
    and the fragments ``g_l`` of sentence l, divided by a fragment count plus
    the smoothing term ``n`` (which keeps short sentences from gaining an
    advantage). ``normalize``: ``"sentence"`` divides by ``|g_l| + n`` as
    above; ``"image"`` by ``|g_k| + n``; ``"both"`` by
    ``sqrt((|g_k| + n)(|g_l| + n))`` (an extension: the thresholded sum
    ignores unmatched fragments of either side, so only "both" penalises extra
    content in images *and* sentences); None: the plain thresholded sum (as
    quoted in Karpathy & Fei-Fei, CVPR 2015, eq. 7). Returns (K, L).

    Examples
    --------
    >>> v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]); s = torch.tensor([[[2.0, -1.0]]])
    >>> image_sentence_scores(v, s, smoothing=1.0).tolist()  # (2 + 0) / (1 + 1)
    [[1.0]]
    """
    rm, wm = _check_pair(regions, words, region_mask, word_mask)
    if normalize not in ("sentence", "image", "both", None):
        raise ConfigError(f"normalize must be 'sentence', 'image', 'both' or None; got {normalize!r}")
    if smoothing < 0:
        raise ConfigError(f"smoothing must be >= 0; got {smoothing!r}")
    scores = torch.relu(fragment_scores(regions, words))
    valid = (rm[:, :, None, None] & wm[None, None]).to(scores.dtype)
    S = (scores * valid).sum(dim=(1, 3))
    n_img = rm.sum(dim=1).to(S.dtype)[:, None] + smoothing
    n_sent = wm.sum(dim=1).to(S.dtype)[None, :] + smoothing
    if normalize == "sentence":
        S = S / n_sent
    elif normalize == "image":
        S = S / n_img
    elif normalize == "both":
        S = S / torch.sqrt(n_img * n_sent)
    return S


def global_ranking_loss(scores: torch.Tensor, positive=None, margin: float = 1.0,
                        reduction: str = "mean") -> torch.Tensor:
    r"""Global ranking objective ``C_G`` (Karpathy, Joulin & Fei-Fei, NeurIPS 2014) on image-sentence scores.

    .. math::

        C_G = \sum_k \Big[\sum_{l \ne k} \max(0, S_{kl} - S_{kk} + \Delta)
              + \sum_{l \ne k} \max(0, S_{lk} - S_{kk} + \Delta)\Big],

    rank sentences for each image, then images for each sentence. With a
    ``positive`` (K, L) matrix every corresponding pair (k, l) is ranked above
    all non-corresponding sentences of image k and images of sentence l. The
    paper's sum also runs over ``l = k`` (a constant 2Δ per pair), left out
    here. ``reduction``: "sum" (the paper) or "mean" (per corresponding pair).

    Examples
    --------
    >>> S = torch.tensor([[2.0, 1.5], [0.0, 1.0]])
    >>> float(global_ranking_loss(S, reduction="sum"))  # image 0: 0.5 + 0; image 1: 0 + sentence 1: 1.5
    2.0
    """
    if scores.ndim != 2:
        raise ShapeError(f"scores must have shape (K, L); got {tuple(scores.shape)}")
    if reduction not in ("sum", "mean"):
        raise ConfigError(f"reduction must be 'sum' or 'mean'; got {reduction!r}")
    K, L = scores.shape
    pos = _positive(positive, K, L, scores.device)
    # rank sentences: image k, positive l, negative l'   -> (K, L, L')
    d_sent = torch.relu(scores[:, None, :] - scores[:, :, None] + margin)
    m_sent = pos[:, :, None] & ~pos[:, None, :]
    # rank images: sentence l, positive k, negative k'  -> (K, L, K')
    d_img = torch.relu(scores.T[None, :, :] - scores[:, :, None] + margin)
    m_img = pos[:, :, None] & ~pos.T[None, :, :]
    total = (d_sent * m_sent).sum() + (d_img * m_img).sum()
    return total if reduction == "sum" else total / pos.sum().clamp(min=1)


@pytree_output
@dataclass
class FragmentLossOutput:
    """What :class:`FragmentAlignmentLoss` returns: the terms of ``C = C_F + beta C_G + alpha ||theta||^2``
    (``total``) as 0-d tensors."""

    total: torch.Tensor
    fragment: torch.Tensor
    global_: torch.Tensor
    l2: torch.Tensor


class FragmentAlignmentLoss(nn.Module):
    r"""The full objective ``C = C_F + beta C_G + alpha ||theta||^2`` (Karpathy, Joulin & Fei-Fei, NeurIPS 2014).

    ``C_F`` is :func:`fragment_alignment_loss` (``mil``, ``normalize``,
    margin 1 as in the paper), ``C_G`` is :func:`global_ranking_loss` (margin
    ``global_margin``) on :func:`image_sentence_scores` (``smoothing``,
    ``score_normalize``).
    ``alpha`` multiplies the squared norm of the ``parameters`` passed to
    ``forward`` (none passed: no penalty; or use the optimiser's weight decay).

    Examples
    --------
    >>> m = FragmentEmbedding(3, 5, embed_dim=4)
    >>> e = m(torch.randn(2, 2, 3), torch.tensor([[1, 2], [3, 4]]))
    >>> out = FragmentAlignmentLoss(beta=0.5, alpha=1e-4)(e, parameters=m.parameters())
    >>> bool(out.total > 0), out.total.shape
    (True, torch.Size([]))
    """

    def __init__(self, beta: float = 1.0, alpha: float = 0.0, mil: bool = True, normalize: bool = True,
                 global_margin: float = 1.0, smoothing: float = 5.0,
                 score_normalize: str | None = "sentence", reduction: str = "mean"):
        super().__init__()
        if beta < 0 or alpha < 0:
            raise ConfigError(f"beta and alpha must be >= 0; got beta={beta!r}, alpha={alpha!r}")
        self.beta, self.alpha, self.mil, self.normalize = beta, alpha, mil, normalize
        self.global_margin, self.smoothing, self.reduction = global_margin, smoothing, reduction
        self.score_normalize = score_normalize

    def forward(self, emb: FragmentOutput, positive=None, parameters=None) -> FragmentLossOutput:
        c_f = fragment_alignment_loss(emb.regions, emb.words, emb.region_mask, emb.word_mask, positive=positive,
                                      mil=self.mil, normalize=self.normalize)
        zero = c_f.new_zeros(())
        c_g = zero
        if self.beta > 0:
            S = image_sentence_scores(emb.regions, emb.words, emb.region_mask, emb.word_mask, self.smoothing,
                                      self.score_normalize)
            c_g = global_ranking_loss(S, positive, self.global_margin, self.reduction)
        l2 = zero
        if self.alpha > 0 and parameters is not None:
            l2 = sum((p.pow(2).sum() for p in parameters), zero)
        return FragmentLossOutput(c_f + self.beta * c_g + self.alpha * l2, c_f, c_g, l2)


@dataclass
class FragmentAlignmentResult:
    """Inferred alignment of corresponding pairs (image k with sentence k).

    ``region`` (K, T): the region each sentence fragment aligns to (its
    highest-scoring region; -1 on padding); ``positive`` (K, R, T) bool: the
    MIL labels ``y = +1`` (sign of the score, best region forced positive);
    ``scores`` (K, R, T): fragment scores ``v^T s`` (-inf on padding)."""

    region: torch.Tensor
    positive: torch.Tensor
    scores: torch.Tensor


@torch.no_grad()
def align_fragments(regions: torch.Tensor, words: torch.Tensor, region_mask: torch.Tensor | None = None,
                    word_mask: torch.Tensor | None = None) -> FragmentAlignmentResult:
    """Word(-fragment)-to-region alignment of each corresponding pair, as the MIL objective infers it.

    ``regions`` (K, R, h) and ``words`` (K, T, h) are the embeddings of K
    corresponding pairs (image k with sentence k). Returns
    :class:`FragmentAlignmentResult`.

    Examples
    --------
    >>> v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]); s = torch.tensor([[[0.1, 2.0], [3.0, 0.0]]])
    >>> align_fragments(v, s).region.tolist()
    [[1, 0]]
    """
    rm, wm = _check_pair(regions, words, region_mask, word_mask)
    K, L = regions.shape[0], words.shape[0]
    if K != L:
        raise ShapeError(f"align_fragments takes corresponding pairs: need as many images as sentences; "
                         f"got {K} and {L}")
    scores = torch.einsum("krh,kth->krt", regions, words)
    valid = rm[:, :, None] & wm[:, None, :]
    scores = scores.masked_fill(~valid, float("-inf"))
    best = scores.argmax(dim=1)
    positive = (scores > 0) & valid
    positive.scatter_(1, best[:, None, :], True)
    positive &= valid
    return FragmentAlignmentResult(region=best.masked_fill(~wm, -1), positive=positive, scores=scores)
