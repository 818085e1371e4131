"""The vision task: ``task: vision`` recipes train and evaluate image models on the engine.

``data.name`` is an image dataset (``vision.data.IMAGE_DATASETS``), ``model.name`` an image model
(``vision.models.VISION_MODELS``, with ``model.options`` such as ``width`` and ``blocks``),
``mixup.mix_point`` input / manifold / hidden:K. Batches carry ``pixels`` (B, C, H, W) float in
[0, 1], ``labels`` and ``index``. Imports the core and the engine, never the text task.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from textmix.core.errors import DataError, RecipeError
from textmix.core.mixer import MixPoint
from textmix.core.sampling import EpochBatchSampler
from textmix.core.splits import stratified_split, stratified_subset
from textmix.core.transfer import to_device
from textmix.engine.recipe import Recipe
from textmix.engine.run_directory import RunDir
from textmix.engine.sections import TrainConfig
from textmix.engine.tasks import EvalSet, TaskData, data_device
from vision.augment import random_crop_flip
from vision.config import LEGACY_KEYS, VisionDataConfig, VisionModelConfig
from vision.data import IMAGE_DATASETS, load_image_dataset, match_images, normalization
from vision.models import MIX_POINTS, VISION_MODELS, create_model

OOD_NOISE = "gaussian_noise"
INPUTS_FILE = "image_inputs.json"  # in model/: what the saved model expects


class ImageSet(Dataset):
    """Images (N, C, H, W), uint8 or float, and labels (N,), on the host or on the accelerator.

    Batches are cut in one indexing op (``__getitems__``, which the DataLoader calls with a batch's
    indices) on the images' device: {"image" (B, C, H, W), "label" (B,), "index" (B,)}.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, device: torch.device | None = None):
        self.images, self.labels = images.to(device), labels.to(device)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = to_device(torch.tensor(indices), self.images.device)  # (B,)
        return {"image": self.images[index], "label": self.labels[index], "index": index}


def noise_set(mean: torch.Tensor, std: torch.Tensor, size: int, seed: int) -> ImageSet:
    """Float images x ~ N(mean, std²) per pixel and channel, not clipped to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    images = mean + std * torch.randn(size, *mean.shape, generator=generator)  # (N, C, H, W)
    return ImageSet(images, torch.zeros(size, dtype=torch.long))


def collate_images(batch: dict[str, torch.Tensor], augment: bool) -> dict[str, torch.Tensor]:
    """A cut batch → {"pixels" (B, C, H, W) float in [0, 1], "labels", "index"}; crop and flip
    (``data.augment``) run on the uint8 images, on their device."""
    images = random_crop_flip(batch["image"]) if augment else batch["image"]
    pixels = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    return {"pixels": pixels, "labels": batch["label"], "index": batch["index"]}


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"pixels": batch["pixels"]}


def perturb(inputs: dict, mu: float, generator: torch.Generator) -> dict:
    """Move each image ``mu`` along its own random unit direction: x + μ·d/‖d‖, d ~ U(−1, 1)^m."""
    x = inputs["pixels"]  # (B, C, H, W)
    d = torch.rand(x.shape, generator=generator).mul_(2).sub_(1).to(x.device)
    d = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return {**inputs, "pixels": x + mu * d}


def _loader(data: ImageSet, batch_size: int, train: bool, seed: int, augment: bool = False) -> DataLoader:
    sampler = EpochBatchSampler(len(data), batch_size, shuffle=train, seed=seed, drop_last=train)
    return DataLoader(
        data,
        batch_sampler=sampler,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda batch: collate_images(batch, augment),
        pin_memory=data.images.device.type == "cpu" and torch.cuda.is_available(),  # host data, GPU run
    )


def build_model(
    config: VisionModelConfig, mix_point: str, num_classes: int, channels: int, mean=None, std=None
) -> torch.nn.Module:
    """The model section's image model, mixing at ``mix_point``; option errors name the section."""
    kwargs = {} if mean is None else {"mean": mean, "std": std}
    try:
        return create_model(
            config.name, num_classes, channels, dropout=config.dropout, mix_point=mix_point, **kwargs, **config.options
        )
    except (TypeError, ValueError) as error:
        raise RecipeError(
            f"model {config.name!r} cannot be built with model.options {config.options}: {error}"
        ) from None


def save_image_model(model: torch.nn.Module, folder: Path, inputs: dict) -> None:
    from safetensors.torch import save_model

    save_model(model, str(folder / RunDir.WEIGHTS))
    (folder / INPUTS_FILE).write_text(json.dumps(inputs))


class VisionTask:
    """``task: vision``: image datasets, CIFAR-style ResNets / VGG / PreAct ResNets, pixel, hidden and
    manifold mixup, OOD image sets and the perturbation study."""

    sections = {"data": VisionDataConfig, "model": VisionModelConfig}
    legacy_keys = LEGACY_KEYS
    default_mix_point = "input"
    repetition_keys = ("data.split_seed",)

    def validate(self, recipe: Recipe) -> None:
        """Names, mix point and OOD sets, before any data is loaded."""
        if recipe.data.name not in IMAGE_DATASETS:
            raise DataError(f"unknown image dataset data.name={recipe.data.name!r}; known: {', '.join(IMAGE_DATASETS)}")
        if recipe.model.name not in VISION_MODELS:
            known = ", ".join(VISION_MODELS)
            raise RecipeError(f"unknown image model model.name={recipe.model.name!r}; known: {known}")
        if recipe.mixes:
            try:  # the name; K is checked against the model when it is built
                MixPoint.parse(recipe.mixup.mix_point, MIX_POINTS)
            except ValueError as error:
                raise RecipeError(str(error)) from None
        if recipe.eval.shift:
            raise RecipeError("eval.shift is not supported for vision recipes yet; leave it empty")
        for name in recipe.eval.ood:
            if name != OOD_NOISE and name not in IMAGE_DATASETS:
                known = ", ".join(IMAGE_DATASETS)
                raise RecipeError(f"eval.ood entry {name!r} is unknown; use {OOD_NOISE} or one of {known}")

    def setup(self, recipe: Recipe) -> TaskData:
        """Images → stratified validation split → model with the dataset's normalization → loaders."""
        images, labels, classes = _splits(recipe.data)
        channels, size = images["train"].shape[1], tuple(images["train"].shape[-2:])
        mean, std = normalization(recipe.data.name, images["train"])
        model = build_model(
            recipe.model, recipe.mixup.mix_point if recipe.mixes else "input", len(classes), channels, mean, std
        )
        b, seed = recipe.train.batch_size, recipe.train.seed
        device = _data_device(recipe.data.device_resident, images)
        train = ImageSet(images["train"], labels["train"], device)
        loaders = {"train": _loader(train, b, True, seed, augment=recipe.data.augment)}
        facts = {
            "num_classes": len(classes),
            "splits": {name: len(v) for name, v in images.items()},
            "train_label_counts": np.bincount(labels["train"].numpy(), minlength=len(classes)).tolist(),
            "image_shape": [channels, *size],
            "normalization": {"mean": list(mean), "std": list(std)},
        }
        return _task_data(recipe.eval.ood, recipe.train, model, images, labels, classes, loaders, facts, device)

    def load_for_evaluation(self, recipe: Recipe, model_dir: Path) -> TaskData:
        from safetensors.torch import load_model

        images, labels, classes = _splits(recipe.data)
        inputs = json.loads((model_dir / INPUTS_FILE).read_text())
        model = build_model(
            recipe.model,
            recipe.mixup.mix_point if recipe.mixes else "input",
            len(inputs["classes"]),
            inputs["channels"],
        )
        try:
            load_model(model, str(model_dir / RunDir.WEIGHTS))  # normalization buffers included
        except Exception as error:  # noqa: BLE001 - truncated or foreign weights: name the file
            raise DataError(f"{model_dir / RunDir.WEIGHTS} is unreadable ({type(error).__name__}: {error})") from None
        device = _data_device(recipe.data.device_resident, images)
        return _task_data(recipe.eval.ood, recipe.train, model, images, labels, classes, {}, {}, device)


def _splits(config: VisionDataConfig) -> tuple[dict, dict, list[str]]:
    """uint8 images and labels of train / validation / test (validation carved from train)."""
    data = load_image_dataset(config.name, config.path)
    train, val = stratified_split(data.train_labels.numpy(), config.val_fraction, config.split_seed)
    if config.max_train_examples is not None and config.max_train_examples < len(train):
        train = train[
            stratified_subset(data.train_labels[train].numpy(), config.max_train_examples, config.split_seed + 2)
        ]
    images = {"train": data.train_images[train], "validation": data.train_images[val], "test": data.test_images}
    labels = {"train": data.train_labels[train], "validation": data.train_labels[val], "test": data.test_labels}
    return images, labels, list(data.classes)


def _data_device(setting: bool | str, images: dict) -> torch.device:
    return data_device(setting, sum(x.nbytes for x in images.values()))


def _task_data(ood_names, train: TrainConfig, model, images, labels, classes, loaders, facts, device) -> TaskData:
    eb, seed = train.eval_batch_size, train.seed
    for name in ("validation", "test"):
        loaders[name] = _loader(ImageSet(images[name], labels[name], device), eb, False, 0)
    channels, size = images["train"].shape[1], tuple(images["train"].shape[-2:])

    def ood_sets(unwrapped) -> dict[str, EvalSet]:
        out = {}
        for name in ood_names:
            if name == OOD_NOISE:
                pixels = images["train"].double() / 255
                dataset = noise_set(pixels.mean(0).float(), pixels.std(0).float(), len(images["test"]), seed)
            else:
                other = load_image_dataset(name).test_images
                dataset = ImageSet(match_images(other, channels, size), torch.zeros(len(other), dtype=torch.long))
            # no generator of its own: its iterator draws from the global RNG, which MC dropout on
            # OOD sets is seeded through
            loader = DataLoader(dataset, batch_size=eb, collate_fn=lambda batch: collate_images(batch, False))
            out[name] = EvalSet(loader, len(dataset), model_inputs)
        return out

    inputs = {"channels": channels, "size": list(size), "classes": classes}
    return TaskData(
        model=model,
        facts=facts,
        label_names=classes,
        loaders=loaders,
        labels={name: labels[name].numpy() for name in ("validation", "test")},
        inputs_fn=model_inputs,
        save_model=lambda model, folder: save_image_model(model, folder, inputs),
        ood_sets=ood_sets if ood_names else None,
        perturb=perturb,
        mix_sites=model.mix_sites,
        on_device=fixed_shape_convnet_on_device,
    )


def fixed_shape_convnet_on_device(model: torch.nn.Module, device: torch.device, mixed_precision: bool) -> None:
    """Every batch of an image model has one shape: on a GPU let cuDNN time its convolution
    algorithms once and, under mixed precision, store the model channels-last (NHWC), the layout
    tensor cores read."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if mixed_precision:
            model.to(memory_format=torch.channels_last)
