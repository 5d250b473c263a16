"""Fusion that degrades gracefully when a modality is noisy, out of distribution or missing.

* :func:`fit_temperature` / :class:`CalibratedProductOfExperts`: each
  modality's classifier is temperature-scaled on held-out data (Guo, Pleiss,
  Sun & Weinberger, "On Calibration of Modern Neural Networks", ICML 2017),
  then the calibrated experts are multiplied (product of experts, Hinton,
  Neural Computation 2002): ``log p(y|x) = sum_m pi_m log softmax(z_m / T_m) + const``.
  A confident (peaked) expert dominates the product, an uncertain (flat) one
  barely moves it; a missing modality (``pi_m = 0``) drops out.
* :class:`ContaminatedProductOfExperts`: the same product, each expert's likelihood epsilon-contaminated
  (Huber 1964), ``(1 - eps_m) softmax(z_m / T_m) + eps_m / C``, with the outlier probability ``eps_m`` a
  logistic function of the calibrated expert's confidence fitted by maximum likelihood on held-out data
  that holds corrupted samples: a confidently wrong off-distribution expert outvotes the others less.
* :class:`GatedExpertFusion`: a learned per-sample gate over the experts,
  ``log p(y|x) = log softmax(sum_m pi_m g_m(x) log softmax(z_m / T_m))``,
  ``g(x) = 2 sigmoid(MLP([h_1, ..., h_M, log p_1, ..., log p_M, q_1, ..., q_M]))``
  predicted from every modality's encoder features, log-probabilities and
  (optionally) signal-quality measures ``q_m`` of its raw input
  (:mod:`polymodal.fusion.quality`: image noise level, audio SNR), trained (on
  frozen experts) with corrupted modalities so that it learns to switch off a
  modality that is noisy or off-distribution. The quality input is the
  stream-reliability weighting of audio-visual speech recognition (Potamianos
  et al., Proc. IEEE 2003): it tells the gate that an input is corrupted even
  where that input's expert is confidently wrong. A mixture-of-experts gate
  (Jacobs, Jordan, Nowlan & Hinton, Neural Computation 1991) acting on a
  log-linear pool; with the gate of a modality at 0 the output is exactly the
  other expert. ``pool="linear"``: the same gates weigh a linear opinion pool
  instead, ``p(y|x) = sum_m w_m softmax(z_m / T_m)``, ``w_m = pi_m g_m / sum_k
  pi_k g_k`` (Stone 1961; Genest & Zidek, Statistical Science 1986): an expert
  can add at most its weight's share of probability to a wrong class and can
  never veto the others' answer, where in the log-linear pool a confidently
  wrong expert (``log p`` of the true class -> -inf) can.
* :class:`GatedFusion` (registered ``"gated"``): the Gated Multimodal Unit
  (Arevalo, Solorio, Montes-y-Gomez & Gonzalez, ICLR Workshops 2017),
  ``h = sum_m g_m * tanh(W_m x_m)``, ``g = softmax_m(V_m [x_1; ...; x_M])``
  per feature dimension (the paper's sigmoid for two modalities is the
  two-way softmax).
* :func:`fit_abstention_threshold`: selective classification with the
  max-softmax score (Hendrycks & Gimpel, ICLR 2017; Geifman & El-Yaniv,
  NeurIPS 2017): an expert abstains on a sample whose top-class probability
  falls below the ``1 - coverage`` quantile of its held-out in-distribution
  confidences; fusion then drops it like a missing modality.
* :func:`expected_calibration_error` (Naeini, Cooper & Hauskrecht, AAAI
  2015), equal-width confidence bins.
* :class:`GroupDRO`: the group distributionally robust loss (Sagawa et al., ICLR 2020) for training a
  fusion model (e.g. the gate) on corrupted data: it weighs the corruption group that does worst,
  optionally relative to a reference per group such as the best single expert's loss there.
* :func:`outlier_exposure_loss`: the Outlier Exposure term for a classifier
  (Hendrycks, Mazeika & Dietterich, ICLR 2019), the cross-entropy from the
  uniform distribution to the softmax on outlier inputs, added to the
  training loss so that an expert learns to be unsure off its distribution.

Modality dropout (Neverova et al., ModDrop, TPAMI 2016) is
:class:`~polymodal.fusion.intermediate.ConcatFusion`'s ``modality_dropout``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.core.registry import register

__all__ = ["fit_temperature", "fit_abstention_threshold", "expected_calibration_error", "CalibratedProductOfExperts",
           "ContaminatedProductOfExperts", "GatedExpertFusion", "GatedFusion", "GroupDRO", "outlier_exposure_loss",
           "top_class_log_odds"]


MAX_CONTAMINATION = 1.0 - 1e-3  # ContaminatedProductOfExperts' cap on eps: an outlier still breaks ties
_MAX_LOGIT_EPS = float(np.log(MAX_CONTAMINATION / (1.0 - MAX_CONTAMINATION)))


def _scores_and_classes(scores, target, what: str, *, probabilities: bool = False):
    """Held-out ``scores`` ``(N, C)`` (finite; each row a distribution when ``probabilities``)
    and integer class indices ``target`` ``(N,)`` in ``[0, C)``, as float64 and int64 arrays,
    or a :class:`ShapeError` naming the first offending sample."""
    scores = np.asarray(scores.detach().cpu() if torch.is_tensor(scores) else scores)
    target = np.asarray(target.detach().cpu() if torch.is_tensor(target) else target)
    if scores.dtype.kind not in "biuf" or target.dtype.kind not in "biuf":
        raise ShapeError(f"{what}: need real-valued {what} and integer class indices, got dtypes "
                         f"{scores.dtype} and {target.dtype}")
    if scores.ndim != 2 or target.shape != (len(scores),) or len(scores) == 0 or scores.shape[1] < 2:
        raise ShapeError(f"{what}: need (N, C) with N >= 1, C >= 2 and target (N,), got "
                         f"{scores.shape} and {target.shape}")
    scores = scores.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores).all(1))
    if bad.size:
        raise ShapeError(f"{what}: NaN or inf at sample {bad[0]} ({bad.size} samples)")
    target_f = target.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(target_f) | (target_f != np.round(target_f)) | (target_f < 0)
                         | (target_f >= scores.shape[1]))
    if bad.size:
        raise ShapeError(f"{what}: target must be class indices in [0, {scores.shape[1]}), got "
                         f"{target[bad[0]].item()!r} at sample {bad[0]}")
    if probabilities:
        bad = np.flatnonzero((scores < 0).any(1) | (scores > 1).any(1) | (np.abs(scores.sum(1) - 1) > 1e-4))
        if bad.size:
            raise ShapeError(f"{what}: each row must be a probability distribution (entries in [0, 1] "
                             f"summing to 1), sample {bad[0]} is {scores[bad[0]][:6].tolist()}")
    return scores, target_f.astype(np.int64)


def fit_temperature(logits: torch.Tensor, target: torch.Tensor, max_iter: int = 100) -> float:
    """The temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)`` on held-out
    ``logits`` ``(N, C)`` and integer ``target`` ``(N,)`` (Guo et al., ICML 2017; L-BFGS on ``log T``).
    Non-finite logits, targets outside ``[0, C)`` or fractional ones raise :class:`ShapeError`."""
    logits, target = _scores_and_classes(logits, target, "logits")
    logits, target = torch.from_numpy(logits), torch.from_numpy(target)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), target)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(1e-3, 1e3))


def expected_calibration_error(probs, target, n_bins: int = 15) -> float:
    """``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal-width bins of the
    top-class confidence (Naeini et al., AAAI 2015; Guo et al., ICML 2017). ``probs`` ``(N, C)``
    rows must be distributions and ``target`` class indices in ``[0, C)`` (else :class:`ShapeError`)."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ConfigError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    probs, target = _scores_and_classes(probs, target, "probs", probabilities=True)
    conf, pred = probs.max(1), probs.argmax(1)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            total += inside.mean() * abs(float((pred[inside] == target[inside]).mean()) - float(conf[inside].mean()))
    return float(total)


def fit_abstention_threshold(probs, coverage: float = 0.95) -> float:
    """Max-softmax threshold ``tau`` that keeps a fraction ``coverage`` of held-out in-distribution
    samples: ``tau = quantile_{1 - coverage}(max_c p(c|x))`` over ``probs`` ``(N, C)`` (Hendrycks &
    Gimpel, ICLR 2017; Geifman & El-Yaniv, NeurIPS 2017). At test time the expert abstains where
    ``probs.max(1) < tau``; pass ``probs.max(1) >= tau`` as its ``present`` mask to drop it.

    Examples
    --------
    >>> fit_abstention_threshold(np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.8, 0.2]]), coverage=0.75)
    0.7
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ShapeError(f"need held-out probs (N, C) with N >= 1, got shape {probs.shape}")
    if not 0.0 < coverage <= 1.0:
        raise ConfigError(f"coverage must be in (0, 1], got {coverage}")
    conf = np.sort(probs.max(1))
    return float(conf[int(np.floor(round((1.0 - coverage) * len(conf), 9)))])  # round: 1 - 0.9 < 0.1


def top_class_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """``log p_top - log(1 - p_top)`` of ``softmax(logits)`` over the last axis, exact where ``p_top -> 1``
    (where the probabilities round to 1 and ``logit(p_top)`` is inf): ``z_top - logsumexp(z_rest)``. The
    confidence ``s_m`` of :class:`ContaminatedProductOfExperts`."""
    top = logits.argmax(-1, keepdim=True)
    return logits.gather(-1, top)[..., 0] - torch.logsumexp(logits.scatter(-1, top, float("-inf")), dim=-1)


def outlier_exposure_loss(logits: torch.Tensor) -> torch.Tensor:
    """Outlier Exposure term of a ``K``-class classifier on a batch of outlier inputs (Hendrycks,
    Mazeika & Dietterich, "Deep Anomaly Detection with Outlier Exposure", ICLR 2019, Sec. 4,
    classification): the cross-entropy from the uniform distribution ``U`` to the softmax,

    ``L_OE = mean_i H(U; softmax(z_i)) = mean_i -(1/K) sum_k log softmax(z_i)_k``,

    which is ``log K`` when the softmax is uniform (its minimum). Training minimises
    ``E_in[CE(f(x), y)] + lambda * E_out[L_OE(f(x'))]`` (the paper uses ``lambda = 0.5`` for
    classifiers), so the classifier keeps its in-distribution accuracy and learns a flat softmax on
    outliers, i.e. a low max-softmax score there.

    Parameters
    ----------
    logits : Tensor ``(N, K)``, ``N >= 1``, ``K >= 2``, of the outlier batch (differentiable).

    Returns
    -------
    Scalar tensor; equal to ``F.cross_entropy(logits, torch.full_like(logits, 1 / K))``.

    Examples
    --------
    >>> round(float(outlier_exposure_loss(torch.zeros(3, 10))), 4)  # uniform softmax: log 10
    2.3026
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ShapeError(f"outlier_exposure_loss needs logits of shape (N, K), got "
                         f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    if logits.shape[0] == 0 or logits.shape[1] < 2:
        raise ShapeError(f"outlier_exposure_loss needs N >= 1 outliers and K >= 2 classes, got logits of shape "
                         f"{tuple(logits.shape)}")
    return -F.log_softmax(logits, dim=1).mean(dim=1).mean()


class GroupDRO:
    """Group distributionally robust loss (Sagawa, Koh, Hashimoto & Liang, "Distributionally Robust Neural
    Networks for Group Shifts", ICLR 2020, Algorithm 1, online exponentiated-gradient weights).

    The training samples fall into ``n_groups`` groups (e.g. which modality is corrupted, and how). Each
    call takes the batch's per-sample losses and groups, computes each group's mean loss ``L_g``, moves the
    group weights ``q_g <- q_g exp(eta (L_g - R_g))`` (groups absent from the batch keep theirs),
    renormalises them and returns ``sum_g q_g L_g``, so training follows the group that is doing worst.
    ``reference`` ``R_g`` (default 0: the paper's rule) measures each group against a baseline instead of
    in absolute terms; e.g. the loss of the best single-modality expert on that group, so that the weight
    goes where the fusion falls furthest behind its best modality and not to groups no model can solve.
    ``eta = 0`` leaves the weights uniform: the mean of the group means.

    Parameters
    ----------
    n_groups : int >= 1
    eta : float >= 0, the weights' step size (the paper: 0.01)
    reference : array-like ``(n_groups,)``, optional

    Attributes
    ----------
    weights : Tensor ``(n_groups,)``, the current ``q`` (sums to 1)

    Examples
    --------
    >>> dro = GroupDRO(2, eta=1.0)
    >>> loss = dro(torch.tensor([1.0, 1.0, 3.0]), torch.tensor([0, 0, 1]))  # group 1 does worse
    >>> [round(float(w), 3) for w in dro.weights]
    [0.119, 0.881]
    """

    def __init__(self, n_groups: int, eta: float = 0.01, reference=None) -> None:
        if isinstance(n_groups, bool) or not float(n_groups).is_integer() or n_groups < 1:
            raise ConfigError(f"GroupDRO needs n_groups >= 1 (an integer), got {n_groups!r}")
        if not np.isfinite(eta) or eta < 0:
            raise ConfigError(f"GroupDRO eta must be a finite number >= 0, got {eta!r}")
        self.n_groups, self.eta = int(n_groups), float(eta)
        ref = torch.zeros(self.n_groups) if reference is None else torch.as_tensor(reference, dtype=torch.float32)
        if ref.shape != (self.n_groups,) or not torch.isfinite(ref).all():
            raise ShapeError(f"GroupDRO reference must be {self.n_groups} finite numbers (one per group), got shape "
                             f"{tuple(ref.shape)}")
        self.reference = ref.detach().clone()
        self.weights = torch.full((self.n_groups,), 1.0 / self.n_groups)

    def __call__(self, losses: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        if not isinstance(losses, torch.Tensor) or losses.ndim != 1 or len(losses) == 0:
            raise ShapeError(f"GroupDRO needs per-sample losses of shape (N,), N >= 1, got "
                             f"{tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__}")
        if not torch.isfinite(losses.detach()).all():
            raise ShapeError("GroupDRO got non-finite losses (NaN or inf): the group weights would become NaN")
        groups = torch.as_tensor(groups)
        if groups.shape != losses.shape or groups.dtype.is_floating_point or groups.dtype == torch.bool:
            raise ShapeError(f"GroupDRO needs integer groups of the losses' shape {tuple(losses.shape)}, got "
                             f"{groups.dtype} {tuple(groups.shape)}")
        if int(groups.min()) < 0 or int(groups.max()) >= self.n_groups:
            raise ShapeError(f"GroupDRO groups must lie in [0, {self.n_groups - 1}], got "
                             f"[{int(groups.min())}, {int(groups.max())}]")
        groups = groups.long()
        count = torch.bincount(groups, minlength=self.n_groups)
        group_loss = torch.zeros(self.n_groups, dtype=losses.dtype).index_add(0, groups, losses) / count.clamp(min=1)
        seen = count > 0  # the weights move first, then weigh this batch (Algorithm 1)
        weights = self.weights.to(losses.dtype).clone()
        weights[seen] = weights[seen] * torch.exp(self.eta * (group_loss.detach()[seen] - self.reference[seen]))
        self.weights = weights / weights.sum()
        return (self.weights * group_loss).sum()


def _present(present, modalities, n, device) -> dict[str, torch.Tensor]:
    present = dict(present or {})
    unknown = [m for m in present if m not in modalities]
    if unknown:
        raise ModalityError(f"present mask for unknown modality {unknown[0]!r}; built for {list(modalities)}")
    return {m: torch.as_tensor(present[m], device=device).bool() if m in present else
            torch.ones(n, dtype=torch.bool, device=device) for m in modalities}


class CalibratedProductOfExperts(nn.Module):
    """Temperature-scaled product of experts over per-modality logits (see the module docstring).

    ``fit(logits, target)`` sets ``temperatures`` from held-out logits (dict of ``(N, C)``);
    ``forward(logits, present=None)`` returns fused log-probabilities ``(N, C)``. A sample with no
    modality present gets the uniform distribution.

    >>> poe = CalibratedProductOfExperts(["a", "b"])
    >>> out = poe({"a": torch.tensor([[2.0, 0.0]]), "b": torch.tensor([[0.0, 1.0]])})
    >>> [round(v, 4) for v in out.exp().flatten().tolist()]
    [0.7311, 0.2689]
    """

    def __init__(self, modalities) -> None:
        super().__init__()
        self.modalities = list(modalities)
        if len(self.modalities) < 1:
            raise ConfigError("CalibratedProductOfExperts needs at least one modality")
        self.register_buffer("log_temperature", torch.zeros(len(self.modalities)))

    @property
    def temperatures(self) -> dict[str, float]:
        return {m: float(t) for m, t in zip(self.modalities, self.log_temperature.exp())}

    def fit(self, logits: Mapping[str, torch.Tensor], target: torch.Tensor) -> CalibratedProductOfExperts:
        for i, m in enumerate(self.modalities):
            if m not in logits:
                raise ModalityError(f"no held-out logits for modality {m!r}")
            self.log_temperature[i] = float(np.log(fit_temperature(logits[m], target)))
        return self

    def expert_log_probs(self, logits: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: F.log_softmax(logits[m] / self.log_temperature[i].exp(), dim=-1)
                for i, m in enumerate(self.modalities)}

    def forward(self, logits: Mapping[str, torch.Tensor], present=None) -> torch.Tensor:
        missing = [m for m in self.modalities if m not in logits]
        if missing:
            raise ModalityError(f"no logits for modality {missing[0]!r}")
        first = logits[self.modalities[0]]
        mask = _present(present, self.modalities, len(first), first.device)
        experts = self.expert_log_probs(logits)
        total = sum(experts[m] * mask[m][:, None].to(first.dtype) for m in self.modalities)
        return F.log_softmax(total, dim=-1)


class ContaminatedProductOfExperts(CalibratedProductOfExperts):
    """Product of calibrated experts whose likelihoods are epsilon-contaminated (Huber, "Robust Estimation
    of a Location Parameter", Ann. Math. Stat. 1964): each expert is right about the class with
    probability ``1 - eps_m(x)`` and otherwise tells nothing (an outlier, e.g. speech in another language
    that a digit classifier answers confidently and wrongly):

    ``log p(y|x) = log softmax_y( sum_m pi_m log[(1 - eps_m) softmax(z_m / T_m)_y + eps_m / C] )``,
    ``eps_m = sigmoid(a_m s_m + b_m + w_m . d_m)``, ``s_m = logit(max_y softmax(z_m / T_m)_y)``

    (``pi_m`` the presence mask, ``C`` classes). The contamination probability follows the calibrated
    expert's confidence ``s_m`` and, optionally, ``k_m`` scores ``d_m`` of an out-of-distribution detector
    of that modality (``detector_scores``; e.g. a Mahalanobis distance, an energy score, a language-ID
    log-odds), with weights ``w_m`` (start 0); ``(a_m, b_m)`` start at ``(-1, 0)``, where ``eps_m = 1 - max_y p_m(y)``
    (an expert is an outlier as often as it doubts), and :meth:`fit_contamination` sets them by
    maximum likelihood of the fused posterior on held-out samples in which the modality is sometimes
    corrupted. ``eps_m -> 0`` is :class:`CalibratedProductOfExperts`; ``eps_m -> 1`` drops the modality.
    Unlike a hard abstention threshold, an expert that is likely an outlier still breaks ties: ``eps_m`` is
    capped at ``1 - 1e-3`` (:data:`MAX_CONTAMINATION`; in float32 a larger one rounds the expert's likelihood
    to the uniform, and where it is the only modality present every class would tie).

    Parameters
    ----------
    modalities : sequence of str
    contaminated : sequence of str, optional
        The modalities whose likelihood is contaminated (default: all); the others are plain
        calibrated experts.
    detector_scores : dict[str, int], optional
        ``{m: k_m}``: contaminated modality ``m``'s contamination also reads ``k_m`` detector scores,
        passed as ``scores={m: (N, k_m)}`` to every call (scale them to order 1).

    >>> pe = ContaminatedProductOfExperts(["image", "audio"], contaminated=["audio"])
    >>> z = {"image": torch.tensor([[2.0, 0.0]]), "audio": torch.tensor([[0.0, 4.0]])}
    >>> [round(v, 3) for v in pe(z).exp().flatten().tolist()]  # eps_audio = 1 - 0.982
    [0.168, 0.832]
    >>> [round(v, 3) for v in CalibratedProductOfExperts(["image", "audio"])(z).exp().flatten().tolist()]
    [0.119, 0.881]
    """

    def __init__(self, modalities, contaminated=None, detector_scores=None) -> None:
        super().__init__(modalities)
        chosen = list(self.modalities if contaminated is None else contaminated)
        unknown = [m for m in chosen if m not in self.modalities]
        if unknown:
            raise ModalityError(f"contaminated modality {unknown[0]!r} is not one of {self.modalities}")
        self.contaminated = [m for m in self.modalities if m in chosen]
        if not self.contaminated:
            raise ConfigError("ContaminatedProductOfExperts needs at least one contaminated modality "
                              "(with none it is CalibratedProductOfExperts)")
        self.register_buffer("contamination_slope", torch.full((len(self.modalities),), -1.0))
        self.register_buffer("contamination_offset", torch.zeros(len(self.modalities)))
        self.detector_scores = dict(detector_scores or {})
        for m, k in self.detector_scores.items():
            if m not in self.contaminated:
                raise ModalityError(f"detector_scores for {m!r}, which is not a contaminated modality "
                                    f"({self.contaminated})")
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ConfigError(f"detector_scores[{m!r}] must be a number of scores >= 1, got {k!r}")
        width = max(self.detector_scores.values(), default=0)
        # w_m in row m, zero-padded to the widest modality's k
        self.register_buffer("contamination_weights", torch.zeros(len(self.modalities), width))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a state dict saved before detector scores existed has no weights: without scores it needs none
        key = prefix + "contamination_weights"
        if key not in state_dict and prefix + "contamination_slope" in state_dict and not self.detector_scores:
            state_dict[key] = torch.zeros(len(self.modalities), 0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def contamination_parameters(self) -> dict[str, tuple[float, ...]]:
        """``{m: (a_m, b_m, *w_m)}`` of the contaminated modalities (``w_m``: the detector scores' weights)."""
        return {m: (float(self.contamination_slope[i]), float(self.contamination_offset[i]),
                    *(float(w) for w in self.contamination_weights[i, :self.detector_scores.get(m, 0)]))
                for i, m in enumerate(self.modalities) if m in self.contaminated}

    def _logit_eps(self, logits: Mapping[str, torch.Tensor], scores, slope, offset, weights) -> dict[str, torch.Tensor]:
        out = {}
        for i, m in enumerate(self.modalities):
            if m in self.contaminated:
                out[m] = slope[i] * top_class_log_odds(logits[m] / self.log_temperature[i].exp()) + offset[i]
                if m in self.detector_scores:
                    d = scores[m].to(out[m].dtype)
                    out[m] = out[m] + d @ weights[i, :d.shape[1]].to(d.dtype)
                out[m] = out[m].clamp(max=_MAX_LOGIT_EPS)
        return out

    def contamination(self, logits: Mapping[str, torch.Tensor], scores=None) -> dict[str, torch.Tensor]:
        """``{m: eps_m}`` ``(N,)`` per contaminated modality."""
        self._check(logits, scores)
        return {m: torch.sigmoid(u) for m, u in self._logit_eps(logits, scores, *self._contamination_tensors()).items()}

    def _contamination_tensors(self):
        return self.contamination_slope, self.contamination_offset, self.contamination_weights

    def _experts(self, logits, scores, slope, offset, weights) -> dict[str, torch.Tensor]:
        experts = CalibratedProductOfExperts.expert_log_probs(self, logits)
        n_classes = next(iter(experts.values())).shape[-1]
        for m, u in self._logit_eps(logits, scores, slope, offset, weights).items():
            # log[(1 - eps) p + eps / C], stably
            experts[m] = torch.logaddexp(F.logsigmoid(-u)[:, None] + experts[m],
                                         F.logsigmoid(u)[:, None] - float(np.log(n_classes)))
        return experts

    def expert_log_probs(self, logits: Mapping[str, torch.Tensor], scores=None) -> dict[str, torch.Tensor]:
        """Each modality's (contaminated) log-likelihood ``(N, C)``, as it enters the product."""
        self._check(logits, scores)
        return self._experts(logits, scores, *self._contamination_tensors())

    def _check(self, logits, scores=None) -> None:
        missing = [m for m in self.modalities if m not in logits]
        if missing:
            raise ModalityError(f"no logits for modality {missing[0]!r}")
        for m in self.modalities:
            z = logits[m]
            if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] < 2:
                raise ShapeError(f"modality {m!r}: logits must be a tensor (N, C) with C >= 2, got "
                                 f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
            if z.shape != logits[self.modalities[0]].shape:
                raise ShapeError(f"modality {m!r}: logits {tuple(z.shape)} do not match modality "
                                 f"{self.modalities[0]!r}'s {tuple(logits[self.modalities[0]].shape)}")
            if not z.is_meta and not torch.isfinite(z).all():  # meta tensors (shape tracing) hold no values
                raise ShapeError(f"modality {m!r}: logits hold NaN or inf")
        scores = dict(scores or {})
        extra = [m for m in scores if m not in self.detector_scores]
        if extra:
            raise ModalityError(f"detector scores for {extra[0]!r}, which was built without them "
                                f"(detector_scores={self.detector_scores})")
        n = logits[self.modalities[0]].shape[0]
        for m, k in self.detector_scores.items():
            d = scores.get(m)
            if d is None:
                raise ModalityError(f"modality {m!r}: no detector scores (built with detector_scores[{m!r}] = {k}); "
                                    f"pass scores={{{m!r}: (N, {k})}}")
            if not isinstance(d, torch.Tensor) or tuple(d.shape) != (n, k):
                raise ShapeError(f"modality {m!r}: detector scores must be a tensor ({n}, {k}), got "
                                 f"{tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__}")
            if not d.is_meta and not torch.isfinite(d).all():
                raise ShapeError(f"modality {m!r}: detector scores hold NaN or inf")

    def _fused(self, logits, present, scores, slope, offset, weights) -> torch.Tensor:
        first = logits[self.modalities[0]]
        mask = _present(present, self.modalities, len(first), first.device)
        experts = self._experts(logits, scores, slope, offset, weights)
        total = sum(experts[m] * mask[m][:, None].to(experts[m].dtype) for m in self.modalities)
        return F.log_softmax(total, dim=-1)

    def forward(self, logits: Mapping[str, torch.Tensor], present=None, scores=None) -> torch.Tensor:
        """Fused log-probabilities ``(N, C)``; ``scores={m: (N, k_m)}`` for the modalities built with
        ``detector_scores``."""
        self._check(logits, scores)
        return self._fused(logits, present, scores, *self._contamination_tensors())

    def fit_contamination(self, logits: Mapping[str, torch.Tensor], target: torch.Tensor, present=None,
                          sample_weight=None, max_iter: int = 200, scores=None) -> ContaminatedProductOfExperts:
        """Set ``(a_m, b_m, w_m)`` by maximum likelihood: minimise the (``sample_weight``-weighted) NLL of
        the fused posterior on held-out ``logits`` (dict of ``(N, C)``) with integer ``target`` ``(N,)``
        (and the detector ``scores``), temperatures fixed (fit them first with :meth:`fit` on clean
        held-out data). The held-out samples should hold the corruptions the fusion must survive (e.g.
        foreign speech next to English), in the proportions that matter; L-BFGS from the current
        parameters."""
        self._check(logits, scores)
        n = logits[self.modalities[0]].shape[0]
        # the target rule of fit_temperature (and so of fit): class indices in [0, C), integral floats allowed
        target = torch.from_numpy(_scores_and_classes(logits[self.modalities[0]], target, "fit_contamination")[1])
        weight = torch.ones(n, dtype=torch.float64) if sample_weight is None else \
            torch.as_tensor(sample_weight, dtype=torch.float64)
        if weight.shape != (n,) or not torch.isfinite(weight).all() or (weight < 0).any() or weight.sum() <= 0:
            raise ShapeError(f"fit_contamination: sample_weight must be {n} finite weights >= 0, not all 0")
        z = {m: logits[m].detach().double() for m in self.modalities}
        d = {m: v.detach().double() for m, v in (scores or {}).items()}
        params = [p.detach().double().clone().requires_grad_(True) for p in self._contamination_tensors()]
        opt = torch.optim.LBFGS(params, max_iter=max_iter, line_search_fn="strong_wolfe")
        weight = weight / weight.sum()

        def closure():
            opt.zero_grad()
            nll = -(self._fused(z, present, d, *params).gather(1, target.long()[:, None])[:, 0] * weight).sum()
            nll.backward()
            return nll

        opt.step(closure)
        if not all(torch.isfinite(p).all() for p in params):
            raise ConfigError("fit_contamination diverged (non-finite parameters)")
        for buffer, p in zip(self._contamination_tensors(), params):
            buffer.copy_(p.detach().to(buffer.dtype))
        return self


class GatedExpertFusion(nn.Module):
    """Learned per-sample gates over calibrated experts (see the module docstring).

    Parameters
    ----------
    in_features : dict[str, int]
        Encoder feature size per modality (the gate's inputs, with the experts' log-probabilities);
        0: the gate does not see that modality's features (``features`` may leave it out).
    n_classes : int
    hidden : int
        Width of the gate MLP.
    quality_features : dict[str, int], optional
        Number of signal-quality measures per modality (modalities left out get none). Then
        ``forward``/``gates`` need ``quality={m: (N, q_m)}`` for those modalities; scale them to
        order 1 (e.g. log noise level, SNR / 10).
    per_modality : bool
        False (default): one gate MLP sees every modality's inputs (a mixture-of-experts gate).
        True: modality ``m``'s gate sees only ``m``'s inputs, ``g_m = 2 sigmoid(MLP_m([h_m, log p_m,
        H(p_m), q_m]))``, so ``g_m`` is a per-sample inverse temperature of expert ``m`` and the
        output is a product of recalibrated experts (Bayes' rule when the modalities are
        conditionally independent given the class and the prior is uniform). Train it with
        :meth:`expert_log_probs` in the loss (each recalibrated expert's own NLL) so that every
        expert is calibrated under corruption, also where the other expert alone would decide.
    pool : {"log-linear", "linear"}
        How the gated experts are combined: ``"log-linear"`` (default), ``log softmax(sum_m g_m log
        p_m)``; ``"linear"``, ``log sum_m w_m p_m`` with ``w_m = g_m / sum_k g_k`` over the present
        modalities (untrained: the mean of the calibrated experts' probabilities).

    ``forward(features, logits, present=None, quality=None)`` -> fused log-probabilities ``(N, C)``;
    ``gates(...)`` -> ``(N, M)``; ``expert_log_probs(...)`` -> ``{m: log_softmax(g_m log p_m)}``.
    A missing modality's gate inputs (features, log-probabilities, quality) are zeros and its
    expert is dropped. Experts' temperatures are copied from a fitted
    :class:`CalibratedProductOfExperts` with :meth:`set_temperatures` (default 1).

    Examples
    --------
    >>> fusion = GatedExpertFusion({"image": 4, "audio": 4}, 3, quality_features={"image": 1})
    >>> z = {"image": torch.tensor([[2.0, 0.0, 0.0]]), "audio": torch.tensor([[0.0, 1.0, 0.0]])}
    >>> h = {"image": torch.zeros(1, 4), "audio": torch.zeros(1, 4)}
    >>> fusion.gates(h, z, quality={"image": torch.tensor([[0.5]])}).tolist()  # untrained: the product
    [[1.0, 1.0]]
    """

    def __init__(self, in_features: Mapping[str, int], n_classes: int, hidden: int = 32,
                 quality_features: Mapping[str, int] | None = None, per_modality: bool = False,
                 pool: str = "log-linear") -> None:
        super().__init__()
        if pool not in ("log-linear", "linear"):
            raise ConfigError(f"GatedExpertFusion pool must be 'log-linear' or 'linear', got {pool!r}")
        self.pool = pool
        self.in_features = dict(in_features)
        if len(self.in_features) < 2 or n_classes < 2:
            raise ConfigError(f"GatedExpertFusion needs >= 2 modalities and >= 2 classes, got "
                              f"{list(self.in_features)}, {n_classes}")
        self.modalities = list(self.in_features)
        self.n_classes = int(n_classes)
        self.quality_features = {m: int(q) for m, q in (quality_features or {}).items()}
        unknown = [m for m in self.quality_features if m not in self.in_features]
        if unknown:
            raise ModalityError(f"quality_features for unknown modality {unknown[0]!r}; built for {self.modalities}")
        if any(int(d) < 0 for d in self.in_features.values()):
            raise ConfigError(f"in_features must be >= 0, got {self.in_features}")
        if any(q < 0 for q in self.quality_features.values()):
            raise ConfigError(f"quality_features must be >= 0, got {self.quality_features}")
        self.per_modality = bool(per_modality)
        widths = {m: d + n_classes + 2 + self.quality_features.get(m, 0) for m, d in self.in_features.items()}
        if self.per_modality:
            self.gate = nn.ModuleDict({m: nn.Sequential(nn.Linear(w, hidden), nn.ReLU(), nn.Linear(hidden, 1))
                                       for m, w in widths.items()})
            last = [self.gate[m][-1] for m in self.modalities]
        else:
            self.gate = nn.Sequential(nn.Linear(sum(widths.values()), hidden), nn.ReLU(),
                                      nn.Linear(hidden, len(self.modalities)))
            last = [self.gate[-1]]
        for layer in last:  # starts as the plain product of experts (gates = 1)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("log_temperature", torch.zeros(len(self.modalities)))

    def set_temperatures(self, temperatures: Mapping[str, float]) -> GatedExpertFusion:
        for i, m in enumerate(self.modalities):
            self.log_temperature[i] = float(np.log(temperatures[m]))
        return self

    def _inputs(self, features, logits, present, quality):
        n = len(logits[self.modalities[0]])
        device = logits[self.modalities[0]].device
        mask = _present(present, self.modalities, n, device)
        quality = dict(quality or {})
        extra = [m for m in quality if self.quality_features.get(m, 0) == 0]
        if extra:
            raise ModalityError(f"quality given for {extra[0]!r}, which was built without quality_features "
                                f"({self.quality_features})")
        experts, parts = {}, {}
        for i, m in enumerate(self.modalities):
            if m not in logits or (self.in_features[m] and m not in features):
                raise ModalityError(f"GatedExpertFusion needs features and logits of {m!r}")
            keep = mask[m][:, None].float()
            lp = F.log_softmax(logits[m].float() / self.log_temperature[i].exp(), dim=-1)
            experts[m] = lp
            entropy = -(lp.exp() * lp).sum(-1, keepdim=True)
            parts[m] = [lp * keep, entropy * keep, keep]
            if self.in_features[m]:  # 0: the gate does not see this modality's features
                parts[m].insert(0, features[m].float() * keep)
            q = self.quality_features.get(m, 0)
            if q:
                if m not in quality:
                    raise ModalityError(f"GatedExpertFusion was built with quality_features for {m!r}: pass "
                                        f"quality={{{m!r}: (N, {q})}}")
                qm = torch.as_tensor(quality[m], device=device).float()
                qm = qm[:, None] if qm.ndim == 1 else qm
                if qm.shape != (n, q):
                    raise ShapeError(f"quality of {m!r} must be (N, {q}) = ({n}, {q}), got {tuple(qm.shape)}")
                qm = torch.where(keep.bool(), qm, torch.zeros_like(qm))  # a missing modality's may be NaN
                if not torch.isfinite(qm).all():
                    raise ShapeError(f"quality of {m!r} holds NaN or inf where {m!r} is present")
                parts[m].append(qm)
        if self.per_modality:
            z = torch.cat([self.gate[m](torch.cat(parts[m], dim=1)) for m in self.modalities], dim=1)
        else:
            z = self.gate(torch.cat([x for m in self.modalities for x in parts[m]], dim=1))
        g = 2.0 * torch.sigmoid(z) * torch.stack([mask[m] for m in self.modalities], 1).float()
        return g, experts

    def gates(self, features, logits, present=None, quality=None) -> torch.Tensor:
        return self._inputs(features, logits, present, quality)[0]

    def expert_log_probs(self, features, logits, present=None, quality=None) -> dict[str, torch.Tensor]:
        """Each expert recalibrated by its gate, ``{m: log_softmax(g_m log p_m)}`` ``(N, C)`` (uniform
        where ``m`` is missing)."""
        if self.pool != "log-linear":
            raise ConfigError("expert_log_probs recalibrates each expert by its gate (log-linear pool); "
                              f"this GatedExpertFusion pools {self.pool!r}")
        g, experts = self._inputs(features, logits, present, quality)
        return {m: F.log_softmax(g[:, i:i + 1] * experts[m], dim=-1) for i, m in enumerate(self.modalities)}

    def forward(self, features: Mapping[str, torch.Tensor], logits: Mapping[str, torch.Tensor],
                present=None, quality=None) -> torch.Tensor:
        g, experts = self._inputs(features, logits, present, quality)
        if self.pool == "linear":
            norm = g.sum(1, keepdim=True)  # missing modalities have g = 0: weight 1e-30, no gradient
            log_w = torch.log((g / norm.clamp_min(1e-12)).clamp_min(1e-30))
            mixed = torch.logsumexp(torch.stack([log_w[:, i:i + 1] + experts[m]
                                                 for i, m in enumerate(self.modalities)]), dim=0)
            return torch.where(norm > 0, mixed, torch.full_like(mixed, -float(np.log(self.n_classes))))
        total = sum(g[:, i:i + 1] * experts[m] for i, m in enumerate(self.modalities))
        return F.log_softmax(total, dim=-1)


@register("fusion", "gated")
class GatedFusion(nn.Module):
    """Gated Multimodal Unit (Arevalo et al., ICLR Workshops 2017) for any number of modalities.

    ``u_m = tanh(W_m h_m)``, ``g = softmax_m(V [h_1; ...; h_M])`` per output dimension,
    ``z = sum_m g_m * u_m`` ``(N, out_features)``. A missing modality (``present`` False) gets gate 0
    (its logit is set to -inf before the softmax); a sample with none present gets zeros.

    >>> GatedFusion({"a": 3, "b": 5}, out_features=4)({"a": torch.ones(2, 3), "b": torch.ones(2, 5)}).shape
    torch.Size([2, 4])
    """

    def __init__(self, in_features: Mapping[str, int], out_features: int = 64) -> None:
        super().__init__()
        self.in_features = dict(in_features)
        if len(self.in_features) < 2:
            raise ConfigError(f"GatedFusion needs >= 2 modalities, got {list(self.in_features)}")
        self.out_features = int(out_features)
        self.proj = nn.ModuleDict({m: nn.Linear(d, out_features) for m, d in self.in_features.items()})
        self.gate = nn.Linear(sum(self.in_features.values()), out_features * len(self.in_features))

    def forward(self, features: Mapping[str, torch.Tensor], present=None) -> torch.Tensor:
        modalities = list(self.in_features)
        n = len(features[modalities[0]])
        mask = _present(present, modalities, n, features[modalities[0]].device)
        h = [features[m] * mask[m][:, None].to(features[m].dtype) for m in modalities]
        u = torch.stack([torch.tanh(self.proj[m](x)) for m, x in zip(modalities, h)], 1)  # (N, M, D)
        logit = self.gate(torch.cat(h, 1)).view(n, len(modalities), self.out_features)
        keep = torch.stack([mask[m] for m in modalities], 1)[:, :, None]
        logit = logit.masked_fill(~keep, float("-inf"))
        g = torch.softmax(logit, dim=1).nan_to_num(0.0)
        return (g * u).sum(1)
