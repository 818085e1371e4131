"""Image classifiers for 32×32 inputs with mix points at the input and after each stage.

Every model is an :class:`ImageClassifier`: normalization → stem → stages → pooled head. It takes
pixels in [0, 1] and applies a :class:`textmix.core.mixer.MixupPlan` at its mix point:

- ``input``: pixel mixup (site 0, before normalization; normalization is affine, so mixing
  before or after it is the same),
- ``hidden:K``: after stage K (1 ≤ K ≤ number of stages),
- ``manifold``: a random site per batch among {input, after stage 1, after stage 2}
  (Verma et al. 2019), drawn by the mixer (``mix_sites``).

ResNet-18/34 and VGG-16-BN are torchvision's, with the usual CIFAR adaptation (3×3 stride-1 stem
without max-pooling for ResNets; a 512 → K head for VGG). PreAct ResNet (He et al. 2016b), which
torchvision lacks, is defined here, with a width and block counts small enough for CPU runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from textmix.core.mixer import HIDDEN, MixPoint

MANIFOLD_SITES = 3  # input, after stage 1, after stage 2 (Verma et al.)


MIX_POINTS = ("input", "manifold", HIDDEN)


def fixed_site(mix_point: str, num_stages: int) -> int | None:
    """The site a model always mixes at: ``input`` → 0, ``hidden:K`` → K; ``manifold`` → None (drawn
    per batch)."""
    point = MixPoint.parse(mix_point, MIX_POINTS, num_stages)
    return {"input": 0, "manifold": None}.get(point.kind, point.layer)


class ImageClassifier(nn.Module):
    """Args:
    stem: first layers, (B, C, H, W) → (B, D0, H', W').
    stages: blocks after the stem; mixing site k > 0 is the output of ``stages[k - 1]``.
    features: channels of the last stage's output.
    num_classes: K.
    mean: per-channel input mean (normalization).
    std: per-channel input standard deviation.
    dropout: dropout on the pooled features before the output layer (also what MC dropout samples).
    mix_point: input, manifold or hidden:K.
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: list[nn.Module],
        features: int,
        num_classes: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        dropout: float = 0.0,
        mix_point: str = "input",
    ):
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.fixed_site = fixed_site(mix_point, len(stages))
        self.mix_sites = MANIFOLD_SITES if self.fixed_site is None else 1

    def forward(self, pixels: torch.Tensor, plan=None) -> torch.Tensor:  # (B, C, H, W) → (B, K)
        site = -1 if plan is None else (plan.site if self.fixed_site is None else self.fixed_site)
        x = plan.mix(pixels) if site == 0 else pixels
        x = self.stem((x - self.mean) / self.std)
        for k, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if site == k:
                x = plan.mix(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # (B, D)
        return self.fc(self.dropout(x))


def _cifar_resnet(depth: int, in_channels: int, **kw) -> ImageClassifier:
    from torchvision.models import resnet18, resnet34

    net = {18: resnet18, 34: resnet34}[depth](weights=None)
    stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
    return ImageClassifier(stem, [net.layer1, net.layer2, net.layer3, net.layer4], 512, **kw)


def _cifar_vgg16_bn(in_channels: int, **kw) -> ImageClassifier:
    from torchvision.models import vgg16_bn

    layers = list(vgg16_bn(weights=None).features)
    if in_channels != 3:
        layers[0] = nn.Conv2d(in_channels, 64, 3, padding=1)
    stages, current = [], []
    for layer in layers:  # five stages, each ending with its max-pool
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
    return ImageClassifier(nn.Identity(), stages, 512, **kw)


class PreActBlock(nn.Module):
    """BN-ReLU-conv ×2 with an identity (or 1×1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


def preact_resnet(in_channels: int, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2), **kw) -> ImageClassifier:
    """PreAct ResNet; ``width=64, blocks=(2, 2, 2, 2)`` is PreAct ResNet-18.

    Args:
        width: channels of the first stage (doubled at each later stage).
        blocks: residual blocks per stage.
    """
    if width < 1 or not blocks or any(b < 1 for b in blocks):
        raise ValueError(
            f"preact_resnet needs width >= 1 and blocks >= 1 per stage, got width={width}, blocks={blocks}"
        )
    stages, cin = [], width
    for i, count in enumerate(blocks):
        cout = width * 2**i
        layers = [PreActBlock(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1) for j in range(count)]
        if i == len(blocks) - 1:  # pre-activation nets end with BN-ReLU
            layers += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        stages.append(nn.Sequential(*layers))
        cin = cout
    stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
    return ImageClassifier(stem, stages, cin, **kw)


VISION_MODELS: dict[str, Callable[..., ImageClassifier]] = {
    "resnet18": lambda in_channels, **kw: _cifar_resnet(18, in_channels, **kw),
    "resnet34": lambda in_channels, **kw: _cifar_resnet(34, in_channels, **kw),
    "vgg16_bn": _cifar_vgg16_bn,
    "preact_resnet18": lambda in_channels, **kw: preact_resnet(in_channels, 64, (2, 2, 2, 2), **kw),
    "preact_resnet": preact_resnet,
}


def create_model(name: str, num_classes: int, in_channels: int = 3, **kwargs) -> ImageClassifier:
    """Build ``VISION_MODELS[name]``.

    Args:
        name: resnet18, resnet34, vgg16_bn, preact_resnet18, or preact_resnet (with ``width``
            and ``blocks`` options).
        num_classes: K.
        in_channels: image channels.
        kwargs: ``mean``, ``std``, ``dropout``, ``mix_point`` (see :class:`ImageClassifier`), and
            the model's own options.
    """
    if name not in VISION_MODELS:
        raise ValueError(f"unknown image model model.name={name!r}; known: {', '.join(VISION_MODELS)}")
    kwargs.setdefault("mean", (0.5,) * in_channels)
    kwargs.setdefault("std", (0.25,) * in_channels)
    return VISION_MODELS[name](in_channels, num_classes=num_classes, **kwargs)
