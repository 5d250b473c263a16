"""Cross-modal transfer: a teacher on one modality supervises a student
encoder on another through parallel (paired, unlabelled) data."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from polymodal.core.targets import class_labels
from polymodal.errors import ConfigError, ModalityError, ShapeError
from polymodal.training.estimator_loop import seed_from, seeded, train_network


def distillation_loss(student_logits: torch.Tensor, teacher_log_proba: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """``T^2 KL(softmax(t / T) || softmax(s / T))``, mean over samples
    (Hinton, Vinyals & Dean 2015)."""
    p = torch.log_softmax(teacher_log_proba / temperature, 1)
    q = torch.log_softmax(student_logits / temperature, 1)
    return temperature**2 * (p.exp() * (p - q)).sum(1).mean()


class CrossModalDistillation(ClassifierMixin, BaseEstimator):
    """Train a student on modality B from a teacher on modality A, using only
    paired (A, B) samples without labels; the student is then used on B alone.

    Cross-modal distillation / supervision transfer (Gupta, Hoffman & Malik,
    CVPR 2016; SoundNet, Aytar, Vondrick & Torralba, NeurIPS 2016):

    .. math:: \\min_\\phi \\sum_i T^2\\, \\mathrm{KL}\\big(p_{teacher}(\\cdot \\mid a_i)^{1/T}
              \\,\\|\\, \\mathrm{softmax}(f_\\phi(b_i) / T)\\big)

    Parameters
    ----------
    teacher : fitted classifier with ``predict_proba`` on modality A (scikit-learn),
        or a callable A (n, d_a) array -> (n, C) probabilities; None: the
        labels ``y`` given to ``fit`` are the (one-hot) targets instead
    student : nn.Module mapping (n, d_b) -> (n, C) logits, or None for an MLP
    hidden : hidden sizes of the default MLP student ([] = linear)
    temperature, max_epochs, lr, batch_size, weight_decay, random_state : training settings
        (the shared estimator loop; ``random_state`` seeds the student's init and shuffling)
    device : where the student trains; default the given student's device (else the CPU)

    ``fit(X)`` takes the paired views ``X = [A (n, d_a), B (n, d_b)]``;
    ``predict``/``predict_proba`` take ``B`` alone (or ``[A, B]``, using ``B``).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(200, 2)); y = (a[:, 0] > 0).astype(int); b = a @ [[1, 1], [1, -1]]
    >>> t = LogisticRegression().fit(a[:20], y[:20])
    >>> s = CrossModalDistillation(t, hidden=[], max_epochs=100).fit([a, b])
    >>> bool((s.predict(b) == t.predict(a)).mean() > 0.9)
    True
    """

    _multiview: ClassVar[bool] = True  # fit([A, B]); checked through ColumnBlocks
    _test_params: ClassVar[dict] = {"teacher": None, "hidden": [], "max_epochs": 5}
    _expected_failed_checks: ClassVar[dict[str, str]] = {
        "check_classifiers_train": "the student sees view B only (half of the check's columns): train accuracy < 0.83",
    }

    def __init__(self, teacher: Any = None, student: nn.Module | None = None, hidden: list[int] | None = None,
                 temperature: float = 1.0, max_epochs: int = 100, lr: float = 1e-2, batch_size: int = 128,
                 weight_decay: float = 0.0, random_state: int = 0, device: str | torch.device | None = None,
                 verbose: bool = False) -> None:
        self.teacher = teacher
        self.student = student
        self.hidden = hidden
        self.temperature = temperature
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _teacher_proba(self, A: np.ndarray) -> np.ndarray:
        if hasattr(self.teacher, "predict_proba"):
            return self.teacher.predict_proba(A)
        if callable(self.teacher):
            return np.asarray(self.teacher(A))
        raise ConfigError(f"teacher needs predict_proba or must be callable, got {type(self.teacher).__name__}")

    def fit(self, X: Any, y: Any = None) -> "CrossModalDistillation":
        """``X = [A (n, d_a), B (n, d_b)]``: teacher-modality rows paired with
        student-modality rows (``y`` only used when ``teacher`` is None)."""
        if isinstance(X, Mapping):
            X = list(X.values())
        if isinstance(X, np.ndarray) or not isinstance(X, (list, tuple)) or len(X) != 2:
            raise ModalityError(f"{type(self).__name__}.fit expects the paired views [A, B]; got "
                                f"{type(X).__name__}{'' if not isinstance(X, (list, tuple)) else f' of {len(X)}'}")
        A, B = np.asarray(X[0], dtype=float), np.asarray(X[1], dtype=float)
        if A.shape[0] != B.shape[0]:
            raise ShapeError(f"A and B must be paired row by row, got {A.shape[0]} and {B.shape[0]} rows")
        if self.teacher is None:
            y = class_labels(y, f"{type(self).__name__} with teacher=None")
            if len(y) != A.shape[0]:
                raise ShapeError(f"y has {len(y)} labels for {A.shape[0]} paired rows")
            self.classes_, codes = np.unique(y, return_inverse=True)
            P = np.eye(len(self.classes_))[codes.ravel()]
        else:
            P = self._teacher_proba(A)
            if P.shape[0] != A.shape[0] or np.any(P < 0) or not np.allclose(P.sum(1), 1.0, atol=1e-6):
                raise ShapeError(f"teacher must return (n={A.shape[0]}, C) probabilities, got shape {P.shape}")
            classes = getattr(self.teacher, "classes_", None) if hasattr(self.teacher, "predict_proba") else None
            self.classes_ = np.asarray(classes) if classes is not None and len(classes) else np.arange(P.shape[1])
        self.mean_, self.scale_ = B.mean(0), B.std(0) + 1e-8
        seed = seed_from(self.random_state)
        with seeded(seed):
            if self.student is None:
                from polymodal.encoders.mlp import MLP  # here: the encoders package is slow to import

                hidden = [64] if self.hidden is None else self.hidden
                self.student_ = MLP(B.shape[1], P.shape[1], hidden=hidden).double()
            else:
                self.student_ = copy.deepcopy(self.student).double()  # a refit starts from the given weights
        dev = self._device()
        self.student_.to(dev)
        Xb = torch.as_tensor((B - self.mean_) / self.scale_, device=dev)
        target = torch.as_tensor(np.log(np.clip(P, 1e-12, 1.0)), device=dev)
        fit = train_network(
            self.student_, lambda net, b: distillation_loss(net(b[0]), b[1], self.temperature), [Xb, target],
            max_epochs=self.max_epochs, lr=self.lr, batch_size=self.batch_size, weight_decay=self.weight_decay,
            random_state=seed, device=dev, verbose=self.verbose, desc=type(self).__name__)
        self.loss_history_ = fit.train_loss
        return self

    @torch.no_grad()
    def predict_proba(self, B: Any) -> np.ndarray:
        """Student's class probabilities from modality B alone, (n, C)."""
        check_is_fitted(self, "student_")
        if isinstance(B, (list, tuple)) and len(B) == 2 and np.ndim(B[1]) == 2:
            B = B[1]  # the views [A, B]: the student sees B only
        B = np.asarray(B, dtype=float)
        if B.ndim != 2 or B.shape[1] != len(self.mean_):
            raise ShapeError(f"B: expected shape (n, {len(self.mean_)}), got {B.shape}")
        dev = next(self.student_.parameters()).device
        Xb = torch.as_tensor((B - self.mean_) / self.scale_, device=dev)
        return torch.softmax(self.student_(Xb), 1).cpu().numpy()

    def _device(self) -> torch.device:
        """``device``, else the given student's parameters' device, else the CPU."""
        if self.device is not None:
            return torch.device(self.device)
        params = list(self.student.parameters()) if self.student is not None else []
        return params[0].device if params else torch.device("cpu")

    def predict(self, B: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(B), 1)]
