"""Encoded text splits as padded token tensors, and length-bucketed DataLoaders that cut batches
from them in one indexing op (padded to the batch's longest text)."""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset
from torch.utils.data import DataLoader

from textmix.core.sampling import EpochBatchSampler
from textmix.core.transfer import to_device


def encode_split(split: Dataset, featurizer) -> Dataset:
    """Add ``input_ids`` and ``index`` (row number) with ``datasets.map``."""
    return split.map(
        lambda batch, idx: {"input_ids": [featurizer.encode(t) for t in batch["text"]], "index": idx},
        batched=True,
        with_indices=True,
        remove_columns=["text"],
        desc="encoding",
    )


class TokenBatches(torch.utils.data.Dataset):
    """An encoded split held as padded (N, T_max) token and mask tables with labels, on the host or
    on the accelerator; ``__getitems__`` (which the DataLoader calls with a batch's indices)
    returns the batch padded to its longest text: the same tensors as padding id lists per batch.

    Args:
        encoded: rows with ``input_ids``, ``label`` and ``index``.
        pad_id: id written into padding.
        min_length: pad every batch to at least this length (the widest CNN window).
        pad_multiple: round each batch's length up to a multiple of this (few distinct shapes for
            ``train.compile``); 1: the longest text.
        device: where the tensors live (None: host memory).
    """

    def __init__(self, encoded: Dataset, pad_id: int, min_length: int = 1, pad_multiple: int = 1, device=None):
        ids = encoded["input_ids"]
        self.lengths = np.fromiter((len(seq) for seq in ids), dtype=np.int64, count=len(ids))
        width = max(min_length, int(self.lengths.max(initial=1)))
        table = np.full((len(ids), width), pad_id, dtype=np.int64)
        for row, seq in enumerate(ids):
            table[row, : len(seq)] = seq
        # ids and masks as whole tables, labels and row numbers side by side: a batch is three gathers
        self.ids = torch.from_numpy(table).to(device)  # (N, T_max)
        self.masks = (torch.arange(width)[None, :] < torch.from_numpy(self.lengths)[:, None]).long().to(device)
        self.targets = torch.stack(  # (N, 2): label, index
            [torch.as_tensor(np.asarray(encoded[k]), dtype=torch.long) for k in ("label", "index")], dim=1
        ).to(device)
        self.min_length, self.pad_multiple = min_length, pad_multiple

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        # the batch's width comes from host-side lengths: no device read-back
        width = max(self.min_length, int(self.lengths[indices].max()))
        width = min(-(-width // self.pad_multiple) * self.pad_multiple, self.ids.shape[1])
        rows = to_device(torch.tensor(indices), self.ids.device)  # (B,)
        targets = self.targets[rows]  # (B, 2)
        return {
            "input_ids": self.ids[rows, :width],  # (B, T)
            "attention_mask": self.masks[rows, :width],  # (B, T)
            "labels": targets[:, 0],
            "index": targets[:, 1],
        }


def make_loader(
    encoded: Dataset, featurizer, batch_size: int, shuffle: bool, seed: int, pad_multiple: int = 1, device=None
) -> DataLoader:
    """DataLoader over length buckets with per-batch padding (see :class:`TokenBatches`)."""
    data = TokenBatches(encoded, featurizer.pad_id, featurizer.min_length, pad_multiple, device)
    sampler = EpochBatchSampler(len(data), batch_size, shuffle=shuffle, seed=seed, lengths=data.lengths)
    return DataLoader(
        data,
        batch_sampler=sampler,
        # its own generator: creating an iterator must not draw from the global RNG, or a
        # resumed run (which creates one more iterator) would get different dropout masks
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda batch: batch,  # __getitems__ already made the batch
        pin_memory=data.ids.device.type == "cpu" and torch.cuda.is_available(),  # host data, GPU run
    )


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
