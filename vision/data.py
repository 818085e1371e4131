"""Image datasets as uint8 tensors (N, C, H, W) in memory: torchvision sets, ImageFolder trees,
and the local copies in ``$TEXTMIX_DATA_DIR`` (``cifar10/cifar10-jpg.tar.gz``, a JPEG archive;
``mnist5k/mnist_5k.csv.gz``, 5000 digits).

Where data comes from, in order: ``data.path`` (a folder with ``train/`` and ``test/`` class
sub-folders, a folder holding the local file, or a torchvision root), ``$TEXTMIX_DATA_DIR`` (the
local file), then a
torchvision download into the cache (online only; offline this fails with a message naming the
three ways). Decoded images are cached under ``$TEXTMIX_CACHE/vision`` so JPEGs decode once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textmix.core import paths
from textmix.core.atomic_files import atomic_save_npz
from textmix.core.errors import DataError
from textmix.core.splits import stratified_split


@dataclass(frozen=True)
class ImageDatasetInfo:
    """Facts about one dataset (the only place they live).

    Args:
        torchvision: class name in ``torchvision.datasets`` (None: local files only).
        mean: per-channel mean of the training images in [0, 1] (normalization).
        std: per-channel standard deviation.
        local: ``folder/file`` under ``$TEXTMIX_DATA_DIR`` read without torchvision (None: none).
        split_arg: how the torchvision class selects a split: ``train`` (bool) or ``split`` (str).
    """

    torchvision: str | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    local: str | None = None
    split_arg: str = "train"

    @property
    def local_file(self) -> str | None:
        return self.local and self.local.split("/")[-1]


IMAGE_DATASETS: dict[str, ImageDatasetInfo] = {
    "cifar10": ImageDatasetInfo(
        "CIFAR10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar10/cifar10-jpg.tar.gz"
    ),
    "cifar100": ImageDatasetInfo("CIFAR100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ImageDatasetInfo("STL10", (0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713), split_arg="split"),
    "fashion_mnist": ImageDatasetInfo("FashionMNIST", (0.2860,), (0.3530,)),
    "mnist": ImageDatasetInfo("MNIST", (0.1307,), (0.3081,), "mnist5k/mnist_5k.csv.gz"),
    "imagefolder": ImageDatasetInfo(None, (), ()),  # data.path: train/ and test/ class folders
}


@dataclass
class ImageSplits:
    """Decoded images: uint8 (N, C, H, W) tensors with int64 labels, and class names."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]


def cache_dir() -> Path:
    return paths.cache_dir("vision")


def load_image_dataset(name: str, path: str | None = None) -> ImageSplits:
    """Train and test images of ``name`` (see module docstring for where they come from)."""
    if name not in IMAGE_DATASETS:
        raise DataError(f"unknown image dataset data.name={name!r}; known: {', '.join(IMAGE_DATASETS)}")
    info = IMAGE_DATASETS[name]
    if path is not None:
        root = Path(path).expanduser()
        if not root.exists():
            raise DataError(f"data.path={str(root)!r} does not exist")
        if (root / "train").is_dir() and (root / "test").is_dir():
            return _cached(root, lambda: _read_image_folders(root / "train", root / "test"))
        if info.local and (root / info.local_file).is_file():
            file = root / info.local_file
            return _cached(file, lambda: _read_local(file))
        if name == "imagefolder":
            raise DataError(f"data.path={str(root)!r} must hold train/ and test/ folders of class sub-folders")
        return _read_torchvision(name, root, download=False)
    if name == "imagefolder":
        raise DataError("data.name=imagefolder needs data.path: a folder with train/ and test/ class sub-folders")
    shared = paths.data_dir()
    if shared and info.local and (shared / info.local).is_file():
        file = shared / info.local
        return _cached(file, lambda: _read_local(file))
    return _read_torchvision(name, cache_dir() / "torchvision", download=True)


def _cached(source: Path, read) -> ImageSplits:
    """Decode once; later loads read a uint8 .npz keyed by the source's path, size and mtime."""
    stat = source.stat()
    key = hashlib.sha1(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    file = cache_dir() / f"{source.name}-{key}.npz"
    if file.is_file():
        with np.load(file) as saved:
            return ImageSplits(
                *(torch.from_numpy(saved[k]) for k in ("train_images", "train_labels", "test_images", "test_labels")),
                classes=[str(c) for c in saved["classes"]],
            )
    splits = read()
    atomic_save_npz(
        file,
        compress=False,  # JPEG-decoded pixels barely compress; loading stays fast
        train_images=splits.train_images.numpy(),
        train_labels=splits.train_labels.numpy(),
        test_images=splits.test_images.numpy(),
        test_labels=splits.test_labels.numpy(),
        classes=np.asarray(splits.classes),
    )
    return splits


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    array = np.asarray(image.convert("RGB" if image.mode not in ("L", "1") else "L"))
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)


def _stack(images: list[np.ndarray], labels: list[int], where: str) -> tuple[torch.Tensor, torch.Tensor]:
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DataError(f"images in {where} have different shapes {sorted(shapes)[:3]}; resize them to one size")
    # np.stack keeps the decoded (H, W, C) memory order of the (C, H, W) views; a cache load is
    # C-contiguous. One layout for both, or the first run after a cache miss computes differently.
    return torch.from_numpy(np.ascontiguousarray(np.stack(images))), torch.tensor(labels, dtype=torch.long)


def _read_image_folders(train: Path, test: Path) -> ImageSplits:
    """``<split>/<class>/<image>`` trees (ImageFolder layout); classes sorted by name."""
    classes = sorted(d.name for d in train.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"{train} has no class sub-folders")
    parts = []
    for folder in (train, test):
        images, labels = [], []
        for label, cls in enumerate(classes):
            for file in sorted((folder / cls).glob("*")) if (folder / cls).is_dir() else []:
                images.append(_decode(file.read_bytes()))
                labels.append(label)
        if not images:
            raise DataError(f"{folder} holds no images in the class folders {classes}")
        parts.extend(_stack(images, labels, str(folder)))
    return ImageSplits(*parts, classes=classes)


def _read_local(file: Path) -> ImageSplits:
    if file.name.endswith(".tar.gz"):
        return _read_jpeg_archive(file)
    return _read_mnist_csv(file)


def _read_jpeg_archive(file: Path) -> ImageSplits:
    """A tar of ``<prefix>/<train|test>/<class>/<n>.jpg`` (the shared CIFAR-10 JPEG copy)."""
    found = {"train": {}, "test": {}}
    with tarfile.open(file) as archive:
        for member in archive:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] not in found:
                continue
            found[parts[-3]].setdefault(parts[-2], []).append((parts[-1], archive.extractfile(member).read()))
    classes = sorted(found["train"])
    if not classes or sorted(found["test"]) != classes:
        raise DataError(f"{file} must hold train/<class>/ and test/<class>/ images for the same classes")
    parts = []
    for split in ("train", "test"):
        images, labels = [], []
        for label, cls in enumerate(classes):
            for _, data in sorted(found[split][cls]):
                images.append(_decode(data))
                labels.append(label)
        parts.extend(_stack(images, labels, f"{file}:{split}"))
    return ImageSplits(*parts, classes=classes)


def _read_mnist_csv(file: Path, test_fraction: float = 0.2) -> ImageSplits:
    """The MNIST 5k CSV (784 pixels, then the label); a stratified 20% (seed 0) is the test split."""
    with gzip.open(file, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{file} must have 785 columns (784 pixels + label), got shape {table.shape}")
    images = torch.from_numpy(table[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(table[:, 784])
    train, test = stratified_split(labels.numpy(), test_fraction, seed=0)
    return ImageSplits(images[train], labels[train], images[test], labels[test], [str(d) for d in range(10)])


def _read_torchvision(name: str, root: Path, download: bool) -> ImageSplits:
    import torchvision.datasets

    info = IMAGE_DATASETS[name]
    cls = getattr(torchvision.datasets, info.torchvision)
    parts = []
    for split in ("train", "test"):
        kwargs = {"train": split == "train"} if info.split_arg == "train" else {"split": split}
        try:
            dataset = cls(str(root), download=download, **kwargs)
        except Exception as error:  # noqa: BLE001 - torchvision raises URLError, RuntimeError, ...
            raise DataError(
                f"could not {'download' if download else 'read'} {info.torchvision} at {root} ({error}). Offline? "
                f"Set data.path to a torchvision root or a folder with train/ and test/ class folders"
                + (f", or set TEXTMIX_DATA_DIR to a folder holding {info.local}" if info.local else "")
            ) from None
        images = getattr(dataset, "data", None)
        images = torch.as_tensor(np.asarray(images))
        if images.dim() == 3:  # (N, H, W) grayscale
            images = images[:, None]
        elif images.shape[-1] in (1, 3):  # (N, H, W, C)
            images = images.permute(0, 3, 1, 2)
        labels = getattr(dataset, "targets", None)
        if labels is None:
            labels = dataset.labels
        parts.extend([images.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.long)])
    classes = list(getattr(dataset, "classes", [str(i) for i in range(int(parts[1].max()) + 1)]))
    return ImageSplits(*parts, classes=classes)


def normalization(name: str, images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) in [0, 1]: the table's values, computed from ``images`` otherwise. A
    constant channel gets std 1 (it is only centred): dividing by 0 would make every input NaN."""
    info = IMAGE_DATASETS[name]
    if info.mean and len(info.mean) == images.shape[1]:
        return info.mean, info.std
    x = images.double() / 255  # (N, C, H, W)
    std = x.std(dim=(0, 2, 3))
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(torch.where(std > 0, std, 1.0).tolist())


def match_images(images: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (N, C', H', W') → uint8 (N, channels, *size): grey ↔ RGB and bilinear resizing, so one
    dataset can be fed to a model trained on another (OOD sets such as MNIST for CIFAR-10)."""
    import torch.nn.functional as F

    x = images
    if x.shape[1] != channels:
        if x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        elif channels == 1:
            x = (x.float().mean(1, keepdim=True)).round().to(torch.uint8)
        else:
            raise DataError(f"cannot convert {x.shape[1]}-channel images to {channels} channels")
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()
