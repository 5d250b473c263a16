"""Fast, seeded, resumable mini-batch iteration.

`DataLoader` + per-sample ``__getitem__`` + collate costs ~10x more than the
model itself on small tabular views (MultiBench spends 34 ms per epoch on
mfeat just setting it up). When every modality is one dense array,
:class:`IndexBatchLoader` slices pre-built tensors instead. Its shuffling order
is a pure function of ``(seed, epoch)``, so a resumed run sees exactly the
batches an uninterrupted run would, and under DDP each rank takes a disjoint,
equally sized shard (as `DistributedSampler` does). The `DataLoader` path for
variable-length data shuffles with :class:`EpochPermutationSampler`, the same
``(seed, epoch)`` permutation, so it resumes exactly too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist

from polymodal.core.errors import ConfigError
from polymodal.data.batch import Batch
from polymodal.data.collate import collate
from polymodal.data.dataset import MultimodalDataset, as_model_tensor

__all__ = ["EpochPermutationSampler", "IndexBatchLoader", "epoch_permutation", "make_loader"]

GATHER_BYTES = 4 << 20  # IndexBatchLoader gathers whole batches' rows up to about this many bytes at once


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def epoch_permutation(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """This rank's sample order for ``epoch``: a permutation of ``range(n)``
    seeded by ``(seed, epoch)`` alone (or ``arange`` without shuffling), padded
    by wrap-around and strided across DDP ranks as `DistributedSampler` does."""
    if shuffle:
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.arange(n)
    rank, world = _rank_world()
    if world > 1:  # pad by wrapping so every rank gets the same count
        per_rank = -(-n // world)
        order = torch.cat([order, order[: per_rank * world - n]])
        order = order[rank::world]
    return order


class EpochPermutationSampler(torch.utils.data.DistributedSampler):
    """Sampler for `DataLoader`: each epoch's order is
    :func:`epoch_permutation` ``(n, seed, epoch)``, a pure function of the seed
    and the epoch Lightning sets (``set_epoch``), never of a generator's
    history, so a resumed run draws the batches an uninterrupted one would.

    It subclasses `DistributedSampler` only so that Lightning keeps it under
    DDP (it shards by rank itself, found at iteration time). ``generator``
    (the loader's, which seeds worker processes) is re-seeded per epoch too.
    """

    def __init__(self, n: int, seed: int = 0, generator: torch.Generator | None = None) -> None:  # noqa: D107
        self.n = int(n)
        self.seed = int(seed)
        self.epoch = 0
        self.generator = generator
        self.shuffle = True

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.generator is not None:
            self.generator.manual_seed(self.seed * 1_000_003 + self.epoch)

    def __iter__(self):
        return iter(epoch_permutation(self.n, self.seed, self.epoch).tolist())

    def __len__(self) -> int:
        _, world = _rank_world()
        return -(-self.n // world)


def check_batch_size(batch_size) -> None:
    """A batch size is an int >= 1 (a float 2.5 or a bool is refused, not truncated)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")


class IndexBatchLoader:
    """Iterate a dense :class:`MultimodalDataset` in batches of ``batch_size``.

    Parameters
    ----------
    dataset : MultimodalDataset
        Every modality must be one array (``dataset.fixed_shape``).
    batch_size : int
    shuffle : bool
        Shuffle with a permutation seeded by ``seed + epoch``.
    seed : int
    drop_last : bool

    The rows of many batches (about :data:`GATHER_BYTES` of them) are gathered with one indexing per
    modality and each batch's tensors are views of that copy (per batch, indexing every modality cost
    more than the forward pass of a small model); the batches are the same as indexing each alone.
    """

    def __init__(
        self, dataset: MultimodalDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
    ) -> None:
        if not dataset.fixed_shape:
            raise ConfigError("IndexBatchLoader needs dense modalities; use make_loader for sequences")
        check_batch_size(batch_size)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        self.sampler = self  # Lightning calls ``loader.sampler.set_epoch(epoch)``
        self.batch_sampler = None
        self.inputs = {m: as_model_tensor(v) for m, v in dataset.modalities.items()}
        self.present = {m: torch.as_tensor(p) for m, p in dataset.present.items()}
        self.target = None if dataset.target is None else as_model_tensor(np.asarray(dataset.target))
        if self.target is not None and dataset.task == "classification":
            self.target = self.target.long()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rank_world(self) -> tuple[int, int]:
        return _rank_world()

    def _indices(self) -> torch.Tensor:
        return epoch_permutation(len(self.dataset), self.seed, self.epoch, self.shuffle)

    def __len__(self) -> int:
        _, world = self._rank_world()
        n = -(-len(self.dataset) // world)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self._indices()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        # rows gathered at once (one indexing per modality for many batches; each batch is then a view)
        row_bytes = sum(v[:1].numel() * v.element_size() for v in self.inputs.values()) or 1
        chunk = max(1, GATHER_BYTES // (row_bytes * self.batch_size)) * self.batch_size
        for begin in range(0, stop, chunk):
            index = order[begin : min(begin + chunk, stop)]
            inputs = {m: v[index] for m, v in self.inputs.items()}
            target = None if self.target is None else self.target[index]
            present = {m: p[index] for m, p in self.present.items()}
            ids = index.tolist()
            for start in range(0, len(index), self.batch_size):
                rows = slice(start, start + self.batch_size)
                yield Batch(
                    inputs={m: v[rows] for m, v in inputs.items()},
                    target=None if target is None else target[rows],
                    present={m: p[rows] for m, p in present.items()},
                    ids=ids[rows],
                )


def make_loader(
    dataset: MultimodalDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, num_workers: int = 0
):
    """The fastest loader that fits ``dataset``: index batching when dense,
    otherwise a `DataLoader` with :func:`collate` (padding sequences). Either
    way a shuffled order is a function of ``(seed, epoch)`` only."""
    check_batch_size(batch_size)
    if dataset.fixed_shape:
        return IndexBatchLoader(dataset, batch_size, shuffle=shuffle, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    sampler = EpochPermutationSampler(len(dataset), seed, generator) if shuffle else None
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate, num_workers=num_workers, generator=generator
    )
