"""Seeded, epoch-aware batch sampling, optionally grouped by length (padding per batch, never to
the global maximum)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of example indices in a reproducible order per epoch.

    Training (``shuffle=True``): shuffle; with ``lengths``, cut into pools of ``pool_batches``
    batches and sort each pool by length; cut into batches; shuffle the batch order. Evaluation
    (``shuffle=False``): every example in order (by length when ``lengths`` is given), cut
    consecutively, so every batch but the last is full.

    Args:
        size: number of examples.
        batch_size: examples per batch.
        shuffle: training order (seeded by ``seed`` and the epoch) or fixed evaluation order.
        seed: base seed; call :meth:`set_epoch` each epoch for a new, reproducible order.
        lengths: token count (or any size) of each example, to batch similar lengths together;
            None: no grouping.
        pool_batches: pool size in batches when grouping by length.
        drop_last: drop a final incomplete batch.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        lengths: Sequence[int] | None = None,
        pool_batches: int = 50,
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if lengths is not None and len(lengths) != size:
            raise ValueError(f"lengths has {len(lengths)} entries for {size} examples")
        self.size = size
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool_batches = pool_batches
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        if not self.shuffle:
            order = np.arange(self.size) if self.lengths is None else np.argsort(self.lengths, kind="stable")
            return self._cut(order)
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(self.size)
        if self.lengths is None:
            batches = self._cut(order)
        else:
            pool = self.batch_size * self.pool_batches
            batches = []
            for start in range(0, len(order), pool):
                chunk = order[start : start + pool]
                batches += self._cut(chunk[np.argsort(self.lengths[chunk], kind="stable")])
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, order: np.ndarray) -> list[list[int]]:
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        if not self.shuffle:
            full, rest = divmod(self.size, self.batch_size)
            return full + (rest > 0 and not self.drop_last)
        return len(self._batches())
