"""Late (decision-level) and hybrid fusion.

Late fusion trains one predictor per modality and combines their decisions
(Baltrušaitis et al., TPAMI 2019, Sec. 6.1): by the mean of probabilities,
by majority vote, by fixed weights, by weights learned on held-out
predictions, or by a combiner learned on held-out predictions (stacking;
Wolpert, Neural Networks 1992). Hybrid fusion adds an
early-fusion predictor on all modalities as one more voter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from polymodal.errors import ModalityError
from polymodal.core.interfaces import DecisionLevelFusion
from polymodal.core.outputs import ModelOutput
from polymodal.core.registry import build, register
from polymodal.representation.joint._base import check_features

__all__ = ["LateFusion", "HybridFusion", "COMBINE_RULES"]

COMBINE_RULES = ("mean", "product", "vote", "weights", "learned", "stacking")
_DEFAULT_HEAD = {"name": "mlp", "hidden": [128]}


@register("fusion", "late")
class LateFusion(DecisionLevelFusion, nn.Module):
    r"""One predictor per modality, decisions combined.

    For classification with branch probabilities :math:`p_m(y|x_m)` and present
    masks :math:`\pi_m \in \{0, 1\}`:

    - ``mean``: :math:`p(y) = \sum_m \pi_m p_m(y) / \sum_m \pi_m`
    - ``weights``: the same with fixed weights :math:`w_m \pi_m`
    - ``product``: the product of experts / log-linear pool (Hinton, Neural
      Computation 2002), :math:`p(y) \propto \prod_m p_m(y)^{\pi_m}`
    - ``vote``: share of present branches whose argmax is :math:`y`
      (ties broken by the mean probability)
    - ``learned``: the weighted log-linear pool
      :math:`p(y) \propto \prod_m p_m(y)^{w_m \pi_m}`, :math:`w_m =
      \mathrm{softplus}(\theta_m) \ge 0`, with :math:`\theta` minimising the
      negative log-likelihood of the fused prediction on held-out data
      (:meth:`fit_combiner`, L-BFGS; M parameters, so a few hundred
      validation samples suffice; the weights also calibrate the pool's
      temperature). A missing modality's factor is dropped. For regression:
      a convex combination with weights :math:`\mathrm{softmax}(\theta)`.
    - ``stacking``: multinomial logistic regression on the concatenated branch
      log-probabilities (Wolpert, Neural Networks 1992), fitted on held-out
      predictions by :meth:`fit_combiner` (a missing branch contributes the
      uniform distribution). With M x C x C parameters it overfits small
      validation sets and is fragile when a modality goes missing.

    Missing modalities are renormalised away (mean, weights, vote). For
    regression the branch outputs are averaged (mean/weights) or combined by a
    least-squares fit (stacking). The output ``logits`` are log-probabilities
    (classification), logits of the mean probability (multilabel) or values.

    Parameters
    ----------
    in_features : dict[str, int]
        Encoder output size per modality (identity encoders: raw sizes).
    n_outputs : int
    head : dict
        Config of each branch's predictor (a registered head), default
        ``{"name": "mlp", "hidden": [128]}``.
    combine : {"mean", "product", "vote", "weights", "learned", "stacking"}
    weights : dict[str, float], optional
        For ``combine="weights"``.
    task : {"classification", "regression", "multilabel"}
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        n_outputs: int,
        head: Mapping[str, Any] | None = None,
        combine: str = "mean",
        weights: Mapping[str, float] | None = None,
        task: str = "classification",
    ) -> None:
        super().__init__()
        if combine not in COMBINE_RULES:
            raise ValueError(f"combine must be one of {COMBINE_RULES}, got {combine!r}")
        if combine == "vote" and task != "classification":
            raise ValueError("combine='vote' needs task='classification'")
        self.in_features = dict(in_features)
        self.n_outputs = n_outputs
        self.combine = combine
        self.task = task
        self._head = dict(head or _DEFAULT_HEAD)
        self.branches = nn.ModuleDict(
            {b: build("head", spec, where=where, in_features=d, out_features=n_outputs)
             for b, (d, spec, where) in self._branch_specs().items()}
        )
        names = list(self.branches)
        if combine == "weights":
            if not weights or set(weights) != set(names):
                raise ValueError(f"combine='weights' needs a weight for each of {names}, got {weights}")
            if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
        w = torch.tensor([float((weights or {}).get(b, 1.0)) for b in names])
        self.register_buffer("branch_weights", w)
        k = len(names) * n_outputs
        self.register_buffer("combiner_weight", torch.zeros(n_outputs, k))
        self.register_buffer("combiner_bias", torch.zeros(n_outputs))
        self.register_buffer("combiner_fitted", torch.tensor(False))
        start = 0.0 if task == "regression" else float(np.log(np.expm1(1.0)))  # unfitted: the plain pool
        self.register_buffer("learned_theta", torch.full((len(names),), start))

    # -- branches ------------------------------------------------------------
    def _branch_specs(self) -> dict[str, tuple[int, dict, str]]:
        """Branch name -> (input size, head config, config key for errors)."""
        return {m: (d, self._head, "model.fusion.head") for m, d in self.in_features.items()}

    def _branch_inputs(self, features, present):
        n = next(iter(features.values())).shape[0]
        device = next(iter(features.values())).device
        ones = torch.ones(n, dtype=torch.bool, device=device)
        return {m: (features[m], present.get(m, ones)) for m in self.in_features}

    @property
    def needs_fit(self) -> bool:
        """Whether :meth:`fit_combiner` must run after the branches are trained."""
        return self.combine in ("learned", "stacking")

    def forward(self, features, present=None) -> ModelOutput:
        check_features(features, self.in_features, type(self).__name__)
        present = dict(present or {})
        unknown = [m for m in present if m not in self.in_features]
        if unknown:
            raise ModalityError(f"present mask for unknown modality {unknown[0]!r}; built for {list(self.in_features)}")
        inputs = self._branch_inputs(features, present)
        logits = {b: self.branches[b](x) for b, (x, _) in inputs.items()}
        masks = {b: p for b, (_, p) in inputs.items()}
        return ModelOutput(self.combine_logits(logits, masks), logits, masks)

    # -- combination ---------------------------------------------------------
    def _branch_probs(self, logits: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack([logits[b] for b in self.branches], dim=1)  # (N, M, C)
        if self.task == "classification":
            return torch.softmax(stacked, dim=-1)
        if self.task == "multilabel":
            return torch.sigmoid(stacked)
        return stacked

    def _finish(self, fused: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return torch.log(fused.clamp_min(1e-12))
        if self.task == "multilabel":
            fused = fused.clamp(1e-7, 1 - 1e-7)
            return torch.log(fused) - torch.log1p(-fused)
        return fused

    def _stack_features(self, logits, masks) -> torch.Tensor:
        feats = []
        for b in self.branches:
            z = torch.log_softmax(logits[b], dim=-1) if self.task == "classification" else logits[b]
            if self.task == "classification":
                fill = torch.full_like(z, -float(np.log(self.n_outputs)))
            else:
                fill = torch.zeros_like(z)
            feats.append(torch.where(masks[b][:, None], z, fill))
        return torch.cat(feats, dim=1)

    def combine_logits(self, logits: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Fuse per-branch outputs ``(N, C)`` given present masks ``(N,)``."""
        if self.combine == "stacking" and bool(self.combiner_fitted):
            z = self._stack_features(logits, masks) @ self.combiner_weight.T + self.combiner_bias
            return torch.log_softmax(z, dim=-1) if self.task == "classification" else z
        if self.combine == "learned":
            return self._combine_with(logits, masks, self.learned_theta)
        if self.combine == "product" and self.task != "regression":
            return self._log_linear_pool(logits, masks, torch.ones_like(self.branch_weights))
        probs = self._branch_probs(logits)  # (N, M, C)
        present = torch.stack([masks[b] for b in self.branches], dim=1).to(probs.dtype)  # (N, M)
        weight = present * self._weights().to(probs.dtype)
        none = weight.sum(dim=1, keepdim=True) == 0
        weight = torch.where(none, torch.ones_like(weight), weight)  # nothing present: prior-free average
        if self.combine == "vote":
            votes = torch.nn.functional.one_hot(probs.argmax(-1), self.n_outputs).to(probs.dtype)
            mean = (weight[..., None] * probs).sum(1) / weight.sum(1, keepdim=True)
            score = (weight[..., None] * votes).sum(1) + 1e-3 * mean  # ties -> mean probability
            return self._finish(score / score.sum(dim=1, keepdim=True))
        fused = (weight[..., None] * probs).sum(1) / weight.sum(1, keepdim=True)
        return self._finish(fused)

    def _log_linear_pool(self, logits, masks, weight: torch.Tensor) -> torch.Tensor:
        """``sum_m w_m pi_m log p_m`` renormalised (classification) or
        ``sum_m w_m pi_m logit_m`` (multilabel: a product of Bernoulli experts)."""
        stacked = torch.stack([logits[b] for b in self.branches], dim=1)
        present = torch.stack([masks[b] for b in self.branches], dim=1).to(stacked.dtype)
        w = (present * weight.to(stacked.dtype))[..., None]
        if self.task == "classification":
            return torch.log_softmax((w * torch.log_softmax(stacked, dim=-1)).sum(1), dim=-1)
        return (w * stacked).sum(1)

    def _weights(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        if self.combine == "weights":
            return self.branch_weights
        return torch.ones_like(self.branch_weights)

    def fit_combiner(self, logits: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], target: torch.Tensor) -> None:
        """Fit the ``learned`` weights or the ``stacking`` combiner on held-out
        branch outputs (``logits``/``masks`` as in :class:`ModelOutput`)."""
        if self.combine == "learned":
            self._fit_weights(logits, masks, target)
        else:
            self._fit_stacking(logits, masks, target)
        self.combiner_fitted.fill_(True)

    def _fit_weights(self, logits, masks, target) -> None:
        logits = {b: v.detach().double() for b, v in logits.items()}
        start = 0.0 if self.task == "regression" else float(np.log(np.expm1(1.0)))  # softplus(start) = 1
        theta = torch.full((len(self.branches),), start, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([theta], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

        def objective():
            optimizer.zero_grad()
            fused = self._combine_with(logits, masks, theta)
            if self.task == "classification":
                loss = torch.nn.functional.nll_loss(fused, target.long())
            elif self.task == "multilabel":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(fused, target.double())
            else:
                loss = torch.nn.functional.mse_loss(fused, target.double().reshape(fused.shape))
            loss = loss + 1e-4 * ((theta - start) ** 2).sum()  # weak pull to the unweighted pool
            loss.backward()
            return loss

        optimizer.step(objective)
        with torch.no_grad():
            self.learned_theta.copy_(theta.detach().to(self.learned_theta.dtype))

    def _combine_with(self, logits, masks, theta):
        if self.task == "regression":
            probs = self._branch_probs(logits)
            present = torch.stack([masks[b] for b in self.branches], dim=1).to(probs.dtype)
            weight = present * torch.softmax(theta.to(probs.dtype), dim=0)
            return (weight[..., None] * probs).sum(1) / weight.sum(1, keepdim=True).clamp_min(1e-12)
        return self._log_linear_pool(logits, masks, torch.nn.functional.softplus(theta))

    @torch.no_grad()
    def _fit_stacking(self, logits, masks, target) -> None:
        from sklearn.linear_model import LinearRegression, LogisticRegression

        x = self._stack_features(logits, masks).double().cpu().numpy()
        y = target.cpu().numpy()
        if self.task == "classification":
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
            w = np.zeros((self.n_outputs, x.shape[1]))
            b = np.full(self.n_outputs, -1e4)  # classes unseen in held-out data get ~0 probability
            if len(clf.classes_) == 2:  # sklearn's binary parameterisation: one logit
                w[clf.classes_[1]], b[clf.classes_[1]] = clf.coef_[0], clf.intercept_[0]
                b[clf.classes_[0]] = 0.0
            else:
                w[clf.classes_], b[clf.classes_] = clf.coef_, clf.intercept_
        else:
            reg = LinearRegression().fit(x, y.reshape(len(y), -1))
            w, b = reg.coef_.reshape(self.n_outputs, -1), np.asarray(reg.intercept_).reshape(-1)
        self.combiner_weight.copy_(torch.as_tensor(w, dtype=self.combiner_weight.dtype))
        self.combiner_bias.copy_(torch.as_tensor(b, dtype=self.combiner_bias.dtype))



@register("fusion", "hybrid")
class HybridFusion(LateFusion):
    """Hybrid fusion: the unimodal predictors of :class:`LateFusion` plus a
    joint (early-fusion) predictor on the concatenated features, all combined
    at the decision level (Baltrušaitis et al., TPAMI 2019, Sec. 6.1).

    The joint branch sees missing modalities as zeros (mean imputation after
    standardisation) and counts as present while any modality is present.

    Parameters as :class:`LateFusion`, plus ``joint_head`` (config of the
    joint predictor; default the same as ``head``).
    """

    def __init__(
        self,
        in_features: Mapping[str, int],
        n_outputs: int,
        head: Mapping[str, Any] | None = None,
        joint_head: Mapping[str, Any] | None = None,
        combine: str = "mean",
        weights: Mapping[str, float] | None = None,
        task: str = "classification",
    ) -> None:
        self._joint_head = dict(joint_head or head or _DEFAULT_HEAD)
        super().__init__(in_features, n_outputs, head, combine, weights, task)

    def _branch_specs(self) -> dict[str, tuple[int, dict, str]]:
        specs = super()._branch_specs()
        specs["joint"] = (sum(self.in_features.values()), self._joint_head, "model.fusion.joint_head")
        return specs

    def _branch_inputs(self, features, present):
        inputs = super()._branch_inputs(features, present)
        masks = [p for _, p in inputs.values()]
        joint = torch.cat([x * p[:, None].to(x.dtype) for x, p in inputs.values()], dim=1)
        inputs["joint"] = (joint, torch.stack(masks, 1).any(1))
        return inputs
