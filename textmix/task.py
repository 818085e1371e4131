"""Text task: from a recipe to data, featurizer, model and loaders (everything before the first step)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from datasets import Dataset, DatasetDict
from torch.utils.data import DataLoader

from textmix.data.batching import BucketBatchSampler
from textmix.data.datasets import DATASETS, DataError, load_custom_dataset, load_text_dataset
from textmix.data.features import HFFeaturizer, WordFeaturizer, collate
from textmix.data.splits import stratified_split
from textmix.data.tokenize import Vocabulary
from textmix.evaluate import RunData
from textmix.models import MODELS
from textmix.models.transformer import resolve_checkpoint
from textmix.recipe import DataConfig, Recipe

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = {"words": 400, "hf": 128}


def load_splits(config: DataConfig) -> DatasetDict:
    """The recipe's dataset as train / validation / test (``text``, ``label``)."""
    if config.name == "custom":
        splits = load_custom_dataset(
            config.path,
            config.text_column,
            config.label_column,
            config.val_fraction,
            config.test_fraction,
            config.split_seed,
        )
    else:
        if config.name not in DATASETS:
            raise DataError(f"unknown dataset data.name={config.name!r}; known: {', '.join(DATASETS)}, custom")
        splits = load_text_dataset(
            config.name,
            config.path,
            config.label_set,
            config.val_fraction,
            config.test_fraction,
            config.split_seed,
            config.cv_folds,
            config.fold,
        )
    if config.max_train_examples is not None and config.max_train_examples < len(splits["train"]):
        fraction = config.max_train_examples / len(splits["train"])
        _, keep = stratified_split(np.asarray(splits["train"]["label"]), fraction, config.split_seed + 2)
        splits["train"] = splits["train"].select(keep)
    for name, split in splits.items():
        if len(split) == 0:
            raise DataError(f"the {name} split of {config.name!r} is empty")
    return splits


def label_names(splits: DatasetDict) -> list[str]:
    return list(splits["train"].features["label"].names)


def build_featurizer(recipe: Recipe, splits: DatasetDict, kv=None):
    """Kim tokenizer + vocabulary (``words``) or the checkpoint's tokenizer (``hf``)."""
    kind = MODELS[recipe.model.name].featurizer
    max_length = recipe.data.max_length or DEFAULT_MAX_LENGTH[kind]
    if kind == "hf":
        return HFFeaturizer.from_pretrained(resolve_checkpoint(recipe.model.pretrained), max_length)
    tokenize = WordFeaturizer(Vocabulary(["<pad>", "<unk>"]), recipe.data.lowercase, max_length).tokenize
    train_tokens = [tokenize(t) for t in splits["train"]["text"]]
    # Like Kim's code, evaluation words that have a pretrained vector get their own id (no labels
    # are used); other unseen words map to <unk>.
    extra = []
    if kv is not None:
        extra = [
            t
            for name in ("validation", "test")
            for text in splits[name]["text"]
            for t in tokenize(text)
            if t in kv.key_to_index
        ]
    vocab = Vocabulary.build(train_tokens, recipe.data.min_freq, extra)
    min_length = max(recipe.model.filter_sizes) if recipe.model.name == "kim_cnn" else 1
    return WordFeaturizer(vocab, recipe.data.lowercase, max_length, min_length)


def build_model(recipe: Recipe, splits: DatasetDict) -> tuple[nn.Module, object, dict]:
    """Model, featurizer and a dict of facts to log (vector coverage)."""
    from textmix.data.vectors import embedding_matrix, load_vectors, token_coverage

    if recipe.model.name not in MODELS:
        raise ValueError(f"unknown model model.name={recipe.model.name!r}; known: {', '.join(sorted(MODELS))}")
    entry = MODELS[recipe.model.name]
    num_classes = len(label_names(splits))
    facts: dict = {"num_classes": num_classes, "splits": {k: len(v) for k, v in splits.items()}}
    embeddings, kv = None, None
    if entry.featurizer == "words":
        use_vectors = recipe.data.vectors.lower() != "none" and recipe.model.variant != "rand"
        kv = load_vectors(recipe.data.vectors) if use_vectors else None
        featurizer = build_featurizer(recipe, splits, kv)
        embeddings = embedding_matrix(
            featurizer.vocab, kv, None if kv is not None else recipe.model.embed_dim, seed=recipe.train.seed
        )
        if kv is not None:
            coverage = token_coverage([featurizer.tokenize(t) for t in splits["train"]["text"]], kv)
            logger.info("%s (train split, %s)", coverage, recipe.data.vectors)
            facts["coverage"] = {
                "types": coverage.type_rate,
                "tokens": coverage.token_rate,
                "types_found": coverage.types_found,
                "types_total": coverage.types_total,
            }
    else:
        featurizer = build_featurizer(recipe, splits)
    model = entry.build(featurizer, num_classes, embeddings, _ModelArgs(recipe))
    return model, featurizer, facts


@dataclass
class _ModelArgs:
    """The model section plus the mix point, as one namespace for build functions."""

    recipe: Recipe

    def __getattr__(self, name):
        if name == "mix_point":
            return self.recipe.mixup.mix_point
        if hasattr(self.recipe.model, name):
            return getattr(self.recipe.model, name)
        return self.recipe.model.options[name]


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
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
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


def check_names(recipe: Recipe) -> None:
    """Fail before any data is loaded when a dataset or model name is unknown."""
    if recipe.data.name not in DATASETS and recipe.data.name != "custom":
        raise DataError(f"unknown dataset data.name={recipe.data.name!r}; known: {', '.join(DATASETS)}, custom")
    if recipe.model.name not in MODELS:
        raise ValueError(f"unknown model model.name={recipe.model.name!r}; known: {', '.join(sorted(MODELS))}")


def setup(recipe: Recipe) -> RunData:
    """Splits → featurizer and model → encoded splits → length-bucketed loaders."""
    from textmix.ood import ood_loaders

    splits = load_splits(recipe.data)
    model, featurizer, facts = build_model(recipe, splits)
    encoded = {name: encode_split(split, featurizer) for name, split in splits.items()}
    facts["train_label_counts"] = np.bincount(encoded["train"]["label"], minlength=facts["num_classes"]).tolist()
    loaders = {"train": make_loader(encoded["train"], featurizer, recipe.train.batch_size, True, recipe.train.seed)}
    for name in ("validation", "test"):
        loaders[name] = make_loader(encoded[name], featurizer, recipe.train.eval_batch_size, False, 0)
    return RunData(
        model=model,
        featurizer=featurizer,
        facts=facts,
        label_names=label_names(splits),
        loaders=loaders,
        labels={name: np.asarray(encoded[name]["label"]) for name in ("validation", "test")},
        inputs_fn=model_inputs,
        ood_loaders=lambda recipe, model, test_loader: ood_loaders(recipe, featurizer, model, test_loader),
    )
