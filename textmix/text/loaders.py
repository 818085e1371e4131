"""Encoded text splits and length-bucketed DataLoaders, padded per batch."""

from __future__ import annotations

import torch
from datasets import Dataset
from torch.utils.data import DataLoader

from textmix.sampling import EpochBatchSampler
from textmix.text.features import collate


def encode_split(split: Dataset, featurizer) -> Dataset:
    """Add ``input_ids`` and ``index`` (row number) with ``datasets.map``."""
    return split.map(
        lambda batch, idx: {"input_ids": [featurizer.encode(t) for t in batch["text"]], "index": idx},
        batched=True,
        with_indices=True,
        remove_columns=["text"],
        desc="encoding",
    )


def make_loader(encoded: Dataset, featurizer, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """DataLoader over length buckets with per-batch padding."""
    lengths = [len(ids) for ids in encoded["input_ids"]]
    sampler = EpochBatchSampler(len(lengths), batch_size, shuffle=shuffle, seed=seed, lengths=lengths)
    return DataLoader(
        encoded,
        batch_sampler=sampler,
        # its own generator: creating an iterator must not draw from the global RNG, or a
        # resumed run (which creates one more iterator) would get different dropout masks
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda examples: collate(examples, featurizer.pad_id, featurizer.min_length),
    )


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
