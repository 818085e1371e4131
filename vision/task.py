"""Vision task for the textmix engine: ``task: vision`` recipes train and evaluate image models.

Same recipe sections as text: ``data.name`` is an image dataset (``vision.data.IMAGE_DATASETS``),
``model.name`` an image model (``vision.models.VISION_MODELS``, with ``model.options`` such as
``width`` and ``blocks``), ``mixup.mix_point`` input / manifold / hidden:K. Batches carry
``pixels`` (B, C, H, W) float in [0, 1], ``labels`` and ``index``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from textmix.data.batching import BucketBatchSampler
from textmix.data.splits import stratified_split
from textmix.evaluate import RunData
from textmix.recipe import Recipe
from vision.data import IMAGE_DATASETS, ImageDataError, load_image_dataset, match_images, normalization
from vision.models import VISION_MODELS, create_model, parse_mix_point

OOD_NOISE = "gaussian_noise"


class ImageSet(Dataset):
    """uint8 images (N, C, H, W) and labels → {"image", "label", "index"} items."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": int(self.labels[i]), "index": i}


class NoiseSet(Dataset):
    """Float images x ~ N(mean, std²) per pixel and channel, not clipped to [0, 1]."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.images = mean + std * torch.randn(size, *mean.shape, generator=generator)  # (N, C, H, W)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": 0, "index": i}


def random_crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Per-example random crop of a zero-padded batch and horizontal flip with probability 1/2.

    Uses the global torch RNG (checkpointed by ``accelerator.save_state``). (B, C, H, W) → same.
    """
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    top = torch.randint(0, 2 * padding + 1, (b,)).tolist()
    left = torch.randint(0, 2 * padding + 1, (b,)).tolist()
    out = torch.stack([padded[i, :, t : t + h, s : s + w] for i, (t, s) in enumerate(zip(top, left))])
    flip = torch.rand(b) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def collate_images(items: list[dict], augment: bool) -> dict[str, torch.Tensor]:
    images = torch.stack([it["image"] for it in items])
    pixels = images.float() / 255 if images.dtype == torch.uint8 else images.float()  # (B, C, H, W)
    if augment:
        pixels = random_crop_flip(pixels)
    return {
        "pixels": pixels,
        "labels": torch.tensor([it["label"] for it in items], dtype=torch.long),
        "index": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"pixels": batch["pixels"]}


def perturb(inputs: dict, mu: float, generator: torch.Generator) -> dict:
    """Move each image ``mu`` along its own random unit direction: x + μ·d/‖d‖, d ~ U(−1, 1)^m."""
    x = inputs["pixels"]  # (B, C, H, W)
    d = torch.rand(x.shape, generator=generator).mul_(2).sub_(1).to(x.device)
    d = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return {**inputs, "pixels": x + mu * d}


@dataclass
class ImageInputs:
    """What a saved image model expects (written as featurizer.json next to the weights)."""

    channels: int
    size: tuple[int, int]
    classes: list[str]

    kind = "image"

    def save(self, folder: str | Path) -> None:
        config = {"kind": self.kind, "channels": self.channels, "size": list(self.size), "classes": self.classes}
        Path(folder, "featurizer.json").write_text(json.dumps(config))


def check_names(recipe: Recipe) -> None:
    """Fail before any data is loaded on unknown names or settings text-only runs use."""
    if recipe.data.name not in IMAGE_DATASETS:
        raise ImageDataError(
            f"unknown image dataset data.name={recipe.data.name!r}; known: {', '.join(IMAGE_DATASETS)}"
        )
    if recipe.model.name not in VISION_MODELS:
        raise ValueError(f"unknown image model model.name={recipe.model.name!r}; known: {', '.join(VISION_MODELS)}")
    if recipe.method.startswith("mixup"):
        parse_mix_point(recipe.mixup.mix_point, 5)  # the name; K is checked against the model when built
    for name in recipe.eval.ood:
        if name != OOD_NOISE and name not in IMAGE_DATASETS:
            raise ValueError(
                f"eval.ood entry {name!r} is unknown; use {OOD_NOISE} or one of {', '.join(IMAGE_DATASETS)}"
            )


def _loader(images, labels, batch_size: int, train: bool, seed: int, augment: bool = False) -> DataLoader:
    sampler = BucketBatchSampler(
        [1] * len(images), batch_size, shuffle=train, seed=seed, pool_batches=1, drop_last=train
    )
    return DataLoader(
        ImageSet(images, labels),
        batch_sampler=sampler,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda items: collate_images(items, augment),
    )


def setup(recipe: Recipe) -> RunData:
    """Images → stratified validation split → model with the dataset's normalization → loaders."""
    config = recipe.data
    data = load_image_dataset(config.name, config.path)
    train, val = stratified_split(data.train_labels.numpy(), config.val_fraction, config.split_seed)
    if config.max_train_examples is not None and config.max_train_examples < len(train):
        _, keep = stratified_split(
            data.train_labels[train].numpy(), config.max_train_examples / len(train), config.split_seed + 2
        )
        train = train[keep]
    images = {"train": data.train_images[train], "validation": data.train_images[val], "test": data.test_images}
    labels = {"train": data.train_labels[train], "validation": data.train_labels[val], "test": data.test_labels}
    num_classes = len(data.classes)
    channels, size = images["train"].shape[1], tuple(images["train"].shape[-2:])
    mean, std = normalization(config.name, images["train"])
    try:
        model = create_model(
            recipe.model.name,
            num_classes,
            channels,
            mean=mean,
            std=std,
            dropout=recipe.model.dropout,
            mix_point=recipe.mixup.mix_point if recipe.method.startswith("mixup") else "input",
            **recipe.model.options,
        )
    except TypeError as error:
        raise ValueError(
            f"model.options {recipe.model.options} do not fit model {recipe.model.name!r}: {error}"
        ) from None
    b, eb, seed = recipe.train.batch_size, recipe.train.eval_batch_size, recipe.train.seed
    loaders = {"train": _loader(images["train"], labels["train"], b, True, seed, augment=config.augment)}
    for name in ("validation", "test"):
        loaders[name] = _loader(images[name], labels[name], eb, False, 0)

    def ood_loaders(recipe, model, test_loader) -> dict:
        out = {}
        for name in recipe.eval.ood:
            if name == OOD_NOISE:
                pixels = images["train"].double() / 255
                dataset = NoiseSet(pixels.mean(0).float(), pixels.std(0).float(), len(images["test"]), seed)
            else:
                other = load_image_dataset(name).test_images
                dataset = ImageSet(match_images(other, channels, size), torch.zeros(len(other), dtype=torch.long))
            loader = DataLoader(dataset, batch_size=eb, collate_fn=lambda items: collate_images(items, False))
            out[name] = (loader, len(dataset), model_inputs)
        return out

    return RunData(
        model=model,
        featurizer=ImageInputs(channels, size, data.classes),
        facts={
            "num_classes": num_classes,
            "splits": {name: len(v) for name, v in images.items()},
            "train_label_counts": np.bincount(labels["train"].numpy(), minlength=num_classes).tolist(),
            "image_shape": [channels, *size],
            "normalization": {"mean": list(mean), "std": list(std)},
        },
        label_names=list(data.classes),
        loaders=loaders,
        labels={name: labels[name].numpy() for name in ("validation", "test")},
        inputs_fn=model_inputs,
        ood_loaders=ood_loaders,
        perturb=perturb,
    )
