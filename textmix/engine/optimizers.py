"""What a recipe's ``optim`` section turns into: the optimizer and its learning-rate schedule. The
tables here are where optimizer and schedule names are declared; the recipe validates against them.
"""

from __future__ import annotations

import torch
import torch.nn as nn

OPTIMIZERS = {
    "adadelta": lambda params, o, fast: torch.optim.Adadelta(
        params, lr=o.lr, rho=o.rho, eps=o.eps, weight_decay=o.weight_decay, foreach=fast or None
    ),
    "adamw": lambda params, o, fast: torch.optim.AdamW(
        params, lr=o.lr, eps=o.eps, weight_decay=o.weight_decay, fused=fast or None
    ),
    "sgd": lambda params, o, fast: torch.optim.SGD(
        params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov, weight_decay=o.weight_decay, fused=fast or None
    ),
}


def make_optimizer(settings, model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """The ``optim`` section's optimizer; on a GPU its fused (AdamW, SGD) or foreach (Adadelta)
    step: a few kernel launches per step instead of several per parameter. Elsewhere PyTorch's
    default step, so CPU runs keep their numbers."""
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS[settings.name](params, settings, device.type == "cuda")


def _constant(step: int, warmup: int, total: int) -> float:
    return 1.0


def _linear(step: int, warmup: int, total: int) -> float:
    """Warmup to 1, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    return max(0.0, (total - step) / max(total - warmup, 1))


# name → the lr factor of a step (None: MultiStepLR at the milestone epochs)
SCHEDULES = {"constant": _constant, "linear": _linear, "step": None}


def make_scheduler(settings, optimizer, epochs: int, steps_per_epoch: int, num_processes: int):
    """constant, linear (warmup, then linear decay to 0) or step (× gamma at each milestone epoch).

    Args:
        settings: the recipe's ``optim`` section.
    """
    # accelerate steps a prepared scheduler once per process per optimizer step
    per_epoch = steps_per_epoch * num_processes
    if SCHEDULES[settings.schedule] is None:
        milestones = [m * per_epoch for m in settings.milestones]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=settings.gamma)
    total = per_epoch * epochs
    warmup = int(settings.warmup_ratio * total)
    factor = SCHEDULES[settings.schedule]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step, warmup, total))
