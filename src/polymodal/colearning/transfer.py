"""Cross-modal transfer: a teacher on one modality supervises a student
encoder on another through parallel (paired, unlabelled) data."""

from __future__ import annotations

import copy

from typing import Any

import numpy as np
import torch
from torch import nn

from polymodal.errors import ConfigError, ShapeError


def distillation_loss(student_logits: torch.Tensor, teacher_log_proba: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """``T^2 KL(softmax(t / T) || softmax(s / T))``, mean over samples
    (Hinton, Vinyals & Dean 2015)."""
    p = torch.log_softmax(teacher_log_proba / temperature, 1)
    q = torch.log_softmax(student_logits / temperature, 1)
    return temperature**2 * (p.exp() * (p - q)).sum(1).mean()


class CrossModalDistillation:
    """Train a student on modality B from a teacher on modality A, using only
    paired (A, B) samples without labels; the student is then used on B alone.

    Cross-modal distillation / supervision transfer (Gupta, Hoffman & Malik,
    CVPR 2016; SoundNet, Aytar, Vondrick & Torralba, NeurIPS 2016):

    .. math:: \\min_\\phi \\sum_i T^2\\, \\mathrm{KL}\\big(p_{teacher}(\\cdot \\mid a_i)^{1/T}
              \\,\\|\\, \\mathrm{softmax}(f_\\phi(b_i) / T)\\big)

    Parameters
    ----------
    teacher : fitted classifier with ``predict_proba`` on modality A (scikit-learn),
        or a callable A (n, d_a) array -> (n, C) probabilities
    student : nn.Module mapping (n, d_b) -> (n, C) logits, or None for an MLP
    hidden : hidden sizes of the default MLP student ([] = linear)
    temperature, n_epochs, lr, batch_size, weight_decay, random_state : training settings
    device : where the student trains; default the given student's device (else the CPU)

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(200, 2)); y = (a[:, 0] > 0).astype(int); b = a @ [[1, 1], [1, -1]]
    >>> t = LogisticRegression().fit(a[:20], y[:20])
    >>> s = CrossModalDistillation(t, hidden=[], n_epochs=100).fit(a, b)
    >>> bool((s.predict(b) == t.predict(a)).mean() > 0.9)
    True
    """

    def __init__(self, teacher: Any, student: nn.Module | None = None, hidden: list[int] | None = None,
                 temperature: float = 1.0, n_epochs: int = 100, lr: float = 1e-2, batch_size: int = 128,
                 weight_decay: float = 0.0, random_state: int = 0, device: str | torch.device | None = None) -> None:
        self.teacher = teacher
        self.student = student
        self.hidden = [64] if hidden is None else hidden
        self.temperature = temperature
        self.n_epochs, self.lr, self.batch_size = n_epochs, lr, batch_size
        self.weight_decay, self.random_state = weight_decay, random_state
        self.device = device

    def _teacher_proba(self, A: np.ndarray) -> np.ndarray:
        if hasattr(self.teacher, "predict_proba"):
            return self.teacher.predict_proba(A)
        if callable(self.teacher):
            return np.asarray(self.teacher(A))
        raise ConfigError(f"teacher needs predict_proba or must be callable, got {type(self.teacher).__name__}")

    def fit(self, A: Any, B: Any) -> "CrossModalDistillation":
        """A (n, d_a) teacher-modality rows paired with B (n, d_b) student-modality rows."""
        A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
        if A.shape[0] != B.shape[0]:
            raise ShapeError(f"A and B must be paired row by row, got {A.shape[0]} and {B.shape[0]} rows")
        P = self._teacher_proba(A)
        if P.shape[0] != A.shape[0] or np.any(P < 0) or not np.allclose(P.sum(1), 1.0, atol=1e-6):
            raise ShapeError(f"teacher must return (n={A.shape[0]}, C) probabilities, got shape {P.shape}")
        classes = getattr(self.teacher, "classes_", None) if hasattr(self.teacher, "predict_proba") else None
        self.classes_ = np.asarray(classes) if classes is not None and len(classes) else np.arange(P.shape[1])
        torch.manual_seed(self.random_state)
        self.mean_, self.scale_ = B.mean(0), B.std(0) + 1e-8
        if self.student is None:
            from polymodal.encoders.mlp import MLP  # here: the encoders package is slow to import

            self.student_ = MLP(B.shape[1], P.shape[1], hidden=self.hidden).double()
        else:
            self.student_ = copy.deepcopy(self.student).double()  # a refit starts from the given weights
        dev = self._device()
        self.student_.to(dev)
        Xb = torch.as_tensor((B - self.mean_) / self.scale_, device=dev)
        target = torch.as_tensor(np.log(np.clip(P, 1e-12, 1.0)), device=dev)
        opt = torch.optim.Adam(self.student_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        g = torch.Generator().manual_seed(self.random_state)
        self.loss_history_: list[float] = []
        for _ in range(self.n_epochs):
            total = 0.0
            for idx in torch.randperm(len(Xb), generator=g).to(dev).split(self.batch_size):
                opt.zero_grad()
                loss = distillation_loss(self.student_(Xb[idx]), target[idx], self.temperature)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            self.loss_history_.append(total / len(Xb))
        return self

    @torch.no_grad()
    def predict_proba(self, B: Any) -> np.ndarray:
        """Student's class probabilities from modality B alone, (n, C)."""
        if not hasattr(self, "student_"):
            raise ConfigError("CrossModalDistillation is not fitted: call fit(A, B) first")
        dev = next(self.student_.parameters()).device
        Xb = torch.as_tensor((np.asarray(B, dtype=float) - self.mean_) / self.scale_, device=dev)
        return torch.softmax(self.student_(Xb), 1).cpu().numpy()

    def _device(self) -> torch.device:
        """``device``, else the given student's parameters' device, else the CPU."""
        if self.device is not None:
            return torch.device(self.device)
        params = list(self.student.parameters()) if self.student is not None else []
        return params[0].device if params else torch.device("cpu")

    def predict(self, B: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(B), 1)]
