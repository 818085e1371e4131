"""Out-of-distribution inputs for text models: another dataset, random tokens, Gaussian noise."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from textmix.core.errors import RecipeError
from textmix.engine.tasks import EvalSet
from textmix.text.datasets import load_text_dataset
from textmix.text.features import collate, pad_batch
from textmix.text.loaders import encode_split, make_loader, model_inputs

OOD_NOISE = ("random_tokens", "gaussian_noise")


class _RandomTokens(Dataset):
    """Sequences of token ids drawn uniformly from the non-special vocabulary."""

    def __init__(self, lengths, featurizer, seed: int):
        rng = np.random.default_rng(seed)
        allowed = np.setdiff1d(np.arange(featurizer.vocab_size), sorted(featurizer.special_ids()))
        self.items = []
        for i, length in enumerate(lengths):
            ids = rng.choice(allowed, size=int(length)).tolist()
            if hasattr(featurizer, "tokenizer") and hasattr(featurizer.tokenizer, "build_inputs_with_special_tokens"):
                ids = featurizer.tokenizer.build_inputs_with_special_tokens(ids[: max(1, len(ids) - 2)])
            self.items.append({"input_ids": ids, "label": 0, "index": i})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class _GaussianEmbeddings(Dataset):
    """Word-feature sequences x ~ N(μ, σ²) per dimension, μ and σ from the embedding table."""

    def __init__(self, lengths, mean: torch.Tensor, std: torch.Tensor, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.items = [
            {"inputs_embeds": mean + std * torch.randn(int(length), len(mean), generator=generator), "index": i}
            for i, length in enumerate(lengths)
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _collate_embeds(items, min_length: int):
    width = max(min_length, max(len(it["inputs_embeds"]) for it in items))
    dim = items[0]["inputs_embeds"].shape[1]
    embeds = torch.zeros(len(items), width, dim)
    _, mask = pad_batch([[1] * len(it["inputs_embeds"]) for it in items], min_length=min_length)
    for row, it in enumerate(items):
        embeds[row, : len(it["inputs_embeds"])] = it["inputs_embeds"]
    return {"inputs_embeds": embeds, "attention_mask": mask, "index": torch.tensor([it["index"] for it in items])}


def _embeds_inputs(batch):
    return {"inputs_embeds": batch["inputs_embeds"], "attention_mask": batch["attention_mask"]}


def ood_sets(
    names: list[str], featurizer, model, test_lengths: np.ndarray, seed: int, batch_size: int
) -> dict[str, EvalSet]:
    """An EvalSet for every name of ``eval.ood``: a dataset's test split, or noise.

    Noise sets have as many sequences as the test split, with lengths drawn from its token counts
    ``test_lengths`` (N,).
    """
    rng = np.random.default_rng(seed)
    lengths = rng.choice(test_lengths, size=len(test_lengths))
    out = {}
    for name in names:
        if name == "random_tokens":
            data = _RandomTokens(lengths, featurizer, seed)
            loader = DataLoader(
                data,
                batch_size=batch_size,
                collate_fn=lambda items: collate(items, featurizer.pad_id, featurizer.min_length),
            )
            out[name] = EvalSet(loader, len(data), model_inputs)
        elif name == "gaussian_noise":
            if not hasattr(model, "embed"):
                raise RecipeError(
                    f"eval.ood gaussian_noise needs a model with an embed() method; {type(model).__name__} has none"
                )
            table = (
                model.embed(torch.arange(2, featurizer.vocab_size, device=next(model.parameters()).device))
                .detach()
                .cpu()
            )
            data = _GaussianEmbeddings(lengths, table.mean(0), table.std(0), seed)
            loader = DataLoader(
                data, batch_size=batch_size, collate_fn=lambda items: _collate_embeds(items, featurizer.min_length)
            )
            out[name] = EvalSet(loader, len(data), _embeds_inputs)
        else:
            split = load_text_dataset(name)["test"]
            encoded = encode_split(split, featurizer)
            out[name] = EvalSet(make_loader(encoded, featurizer, batch_size, False, 0), len(encoded), model_inputs)
    return out
