"""Length-bucketed batches, padded per batch (never to the global maximum)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of examples of similar length.

    Training (``shuffle=True``): shuffle, cut into pools of ``pool_batches`` batches, sort each
    pool by length, cut into batches, shuffle the batch order. Evaluation (``shuffle=False``):
    sort all examples by length and cut consecutively, so every batch but the last is full.

    Args:
        lengths: token count of each example.
        batch_size: examples per batch.
        shuffle: training order (seeded by ``seed`` and the epoch) or fixed evaluation order.
        seed: base seed; call :meth:`set_epoch` each epoch for a new, reproducible order.
        pool_batches: pool size in batches; 1 disables bucketing of the shuffled order.
        drop_last: drop a final incomplete batch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        pool_batches: int = 50,
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths)
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
            order = np.argsort(self.lengths, kind="stable")
            return self._cut(order)
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths))
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
            full, rest = divmod(len(self.lengths), self.batch_size)
            return full + (rest > 0 and not self.drop_last)
        return len(self._batches())


def pad_batch(sequences: list[list[int]], min_length: int = 1, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest in the batch (at least ``min_length``).

    Returns:
        input_ids (B, T) int64 and attention_mask (B, T) int64 (1 = real token).
    """
    width = max(min_length, max(len(s) for s in sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
