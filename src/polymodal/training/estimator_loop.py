"""The one training loop of polymodal's deep scikit-learn estimators.

Deep estimators (DCCA, DCCAE, ... : ``fit(X, y=None)`` on in-memory arrays)
train here; composed models (``MultimodalModel``) and anything that needs
multi-device training, checkpoints or loggers train through the Lightning
engine in :mod:`polymodal.training.engine`.

Why a small shared loop and not Lightning for these: a scikit-learn estimator
is fitted many times in one process (``GridSearchCV``, ``cross_val_score``,
scikit-learn's ~40 estimator checks), on arrays that fit in memory on one
device. Building a ``lightning.Trainer`` per fit costs more than many of these
fits, re-seeds the global RNGs (``seed_everything``) and logs banners; and
several estimators are not "a loss + backward" at all (an RBM's contrastive
divergence sets ``.grad`` from Gibbs statistics; layer-wise pretraining runs
one loop per layer; DCCA's objective wants full batches). One loop with a
``loss_fn`` (autograd) or a ``step`` (any update) serves all of them, and
handles device choice, seeding from ``random_state``, minibatching, the
optimiser, a tqdm progress bar on stderr and early stopping once.

Examples
--------
>>> import torch
>>> net = torch.nn.Linear(1, 1)
>>> x = torch.linspace(-1, 1, 32)[:, None]
>>> fit = train_network(net, lambda n, b: ((n(b[0]) - 3 * b[0]) ** 2).mean(), [x],
...                     max_epochs=200, lr=0.1, batch_size=32, random_state=0)
>>> round(net.weight.item(), 2)
3.0
>>> fit.n_epochs
200
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import Tensor, nn

from polymodal.errors import ConfigError
from polymodal.training.optimizers import LEAN_OPTIMIZERS

__all__ = ["TrainingResult", "make_optimizer", "resolve_device", "seed_from", "seeded", "train_network"]

# the deep estimators take three of the engine's optimisers: the fast loop's (training.optimizers), which
# compute as torch.optim's bit for bit without importing torch._dynamo (~1.2 s of CPU at a process's first fit)
_OPTIMIZERS = {name: LEAN_OPTIMIZERS[name] for name in ("adam", "adamw", "sgd")}


@dataclass
class TrainingResult:
    """What :func:`train_network` did: epochs run, per-epoch training loss
    (batch losses averaged with their sizes as weights), per-epoch validation loss (empty without validation), whether
    early stopping ended the run, and the (0-based) epoch whose weights were kept (None without validation)."""

    n_epochs: int = 0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    @property
    def best_val_loss(self) -> float | None:
        """The validation loss of the kept weights (None without validation)."""
        return None if self.best_epoch is None else self.val_loss[self.best_epoch]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from err


def seed_from(random_state) -> int:
    """An int seed from a scikit-learn ``random_state``: an int is used as it is
    (so ``random_state=s`` seeds torch with ``s``), a RandomState or None draws one."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (e.g. building a network) with torch's global RNG seeded to
    ``seed``, restoring the caller's RNG state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def make_optimizer(params, name: str = "adam", lr: float = 1e-3,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimiser of every deep estimator: ``"adam"``, ``"adamw"`` or ``"sgd"``
    (:mod:`polymodal.training.optimizers`: subclasses of torch's with its arithmetic)."""
    if name not in _OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {sorted(_OPTIMIZERS)}; got {name!r}")
    if not lr > 0:
        raise ConfigError(f"lr must be > 0; got {lr!r}")
    return _OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)


def _check(max_epochs, batch_size, validation_fraction, n):
    if not isinstance(max_epochs, (int, np.integer)) or max_epochs < 1:
        raise ConfigError(f"max_epochs must be an int >= 1; got {max_epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ConfigError(f"batch_size must be None (full batch) or an int >= 1; got {batch_size!r}")
    if validation_fraction is not None:
        if not 0 < validation_fraction < 1:
            raise ConfigError(f"validation_fraction must be in (0, 1) or None; got {validation_fraction!r}")
        if round(n * validation_fraction) < 1 or n - round(n * validation_fraction) < 1:
            raise ConfigError(f"validation_fraction={validation_fraction} leaves an empty split of {n} samples")


def train_network(
    network: nn.Module,
    loss_fn: Callable[[nn.Module, list[Tensor]], Tensor] | None,
    data: Sequence[Tensor],
    *,
    max_epochs: int,
    lr: float = 1e-3,
    batch_size: int | None = None,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    random_state=None,
    device: str | torch.device | None = "cpu",
    verbose: bool = False,
    validation_fraction: float | None = None,
    validation_data: Sequence[Tensor] | None = None,
    n_iter_no_change: int = 5,
    tol: float = 0.0,
    min_batch: int = 1,
    step: Callable[[list[Tensor]], float] | None = None,
    val_loss: Callable[[list[Tensor]], float] | None = None,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    desc: str | None = None,
    max_grad_norm: float | None = None,
) -> TrainingResult:
    """Train ``network`` in place on the row-aligned tensors ``data``.

    Each epoch shuffles the rows (a ``torch.Generator`` seeded from
    ``random_state``; ``shuffle=False`` keeps their order) and visits minibatches of ``batch_size`` rows (None:
    the full batch); a last batch smaller than ``min_batch`` is dropped. A
    batch is a list of the ``data`` tensors' rows, on ``device``.

    ``loss_fn(network, batch) -> scalar`` is minimised by the optimiser
    (:func:`make_optimizer`). ``step(batch) -> float`` instead performs an
    update itself (e.g. contrastive divergence) and returns a loss to report.
    With ``validation_fraction`` a random split of the rows is held out;
    training stops when its loss has not improved by ``tol`` for
    ``n_iter_no_change`` epochs and the best weights are restored (the
    validation loss is ``loss_fn``, or ``val_loss(batch)`` when given, e.g. with
    ``step``). ``validation_data`` (tensors like ``data``, with their own rows)
    is an explicit validation set instead of a split. ``max_grad_norm`` clips
    the gradients' global 2-norm before each optimiser step.
    ``generator`` (CPU) replaces the one seeded from ``random_state``, for a
    ``step`` that draws from the same stream. The progress bar (tqdm, stderr) shows only when ``verbose`` and stderr is a TTY.
    """
    if (loss_fn is None) == (step is None):
        raise ConfigError("give exactly one of loss_fn (autograd) or step (custom update)")
    if step is not None and (validation_fraction is not None or validation_data is not None) and val_loss is None:
        raise ConfigError("validation with a custom step needs val_loss")
    if validation_fraction is not None and validation_data is not None:
        raise ConfigError("give validation_fraction (a split of data) or validation_data, not both")
    if max_grad_norm is not None and (step is not None or not max_grad_norm > 0):
        raise ConfigError(f"max_grad_norm must be None or > 0 and needs loss_fn; got {max_grad_norm!r}")
    n = int(data[0].shape[0])
    _check(max_epochs, batch_size, validation_fraction, n)
    if validation_data is not None and (len(validation_data) != len(data) or len(validation_data[0]) < 1
                                        or any(len(d) != len(validation_data[0]) for d in validation_data)):
        raise ConfigError(f"validation_data must be {len(data)} tensors with the same number (>= 1) of rows; got "
                          f"{[tuple(d.shape) for d in validation_data]}")
    dev = resolve_device(device)
    network.to(dev)
    gen = generator if generator is not None else torch.Generator().manual_seed(seed_from(random_state))
    train_idx, val_idx = torch.arange(n), None
    if validation_fraction is not None:
        perm, n_val = torch.randperm(n, generator=gen), round(n * validation_fraction)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
    opt = make_optimizer(network.parameters(), optimizer, lr, weight_decay) if step is None else None
    bs = len(train_idx) if batch_size is None else min(int(batch_size), len(train_idx))

    def batch_of(idx: Tensor) -> list[Tensor]:
        return [d[idx.to(d.device)].to(dev) for d in data]

    def one_step(batch: list[Tensor]) -> float:
        if step is not None:
            return float(step(batch))
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(network, batch)
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(network.parameters(), max_grad_norm)
        opt.step()
        return float(loss.detach())

    vdata = None if validation_data is None else [d.to(dev) for d in validation_data]
    fit, best, best_state, wait = TrainingResult(), float("inf"), None, 0
    from tqdm.auto import tqdm

    bar = tqdm(range(max_epochs), desc=desc or type(network).__name__, file=sys.stderr,
               disable=not verbose or not sys.stderr.isatty(), leave=False)
    network.train()
    for _ in bar:
        order = train_idx[torch.randperm(len(train_idx), generator=gen)] if shuffle else train_idx
        steps = [(one_step(batch_of(order[i:i + bs])), len(order[i:i + bs])) for i in range(0, len(order), bs)
                 if len(order[i:i + bs]) >= min_batch]
        seen = sum(m for _, m in steps)  # mean loss per sample over the epoch's batches
        fit.train_loss.append(sum(v * m for v, m in steps) / seen if seen else float("nan"))
        fit.n_epochs += 1
        if val_idx is not None or vdata is not None:
            with torch.no_grad():
                network.eval()
                vb = batch_of(val_idx) if vdata is None else vdata
                v = float(loss_fn(network, vb)) if val_loss is None else float(val_loss(vb))
                network.train()
            fit.val_loss.append(v)
            bar.set_postfix(loss=fit.train_loss[-1], val=v)
            if v < best - tol:
                best, wait, fit.best_epoch = v, 0, fit.n_epochs - 1
                best_state = {k: t.detach().clone() for k, t in network.state_dict().items()}
            else:
                wait += 1
                if wait >= n_iter_no_change:
                    fit.stopped_early = True
                    break
        else:
            bar.set_postfix(loss=fit.train_loss[-1])
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return fit
