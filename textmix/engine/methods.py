"""What a recipe's method, loss and optimizer sections turn into: mixer, loss, optimizer, schedule.

Each is a table lookup; names are validated with the recipe, so an unknown name never reaches
here (a KeyError would be a bug, not a fallback).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from textmix.engine.recipe import Recipe
from textmix.losses import confidence_penalty_loss, smooth_targets, soft_target_cross_entropy
from textmix.mixup import Mixup, one_hot_targets

MIX_MODES = {"mixup": "full", "mixup_features_only": "features_only", "regmixup": "full"}


def make_mixer(recipe: Recipe, seed: int, sites: int = 1) -> Mixup | None:
    """The method's mixer (None for methods that do not mix), seeded for this rank."""
    if recipe.method not in MIX_MODES:
        return None
    return Mixup(
        alpha=recipe.mixup.alpha,
        per_sample=recipe.mixup.per_sample,
        mode=MIX_MODES[recipe.method],
        sites=sites,
        generator=torch.Generator().manual_seed(seed),
    )


def training_loss(recipe: Recipe, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The method's loss on (B, K) logits and (B, K) probability targets."""
    if recipe.method == "label_smoothing":
        targets = smooth_targets(targets, recipe.loss.label_smoothing)
    if recipe.method == "erl":
        return confidence_penalty_loss(logits, targets, recipe.loss.erl_kappa)
    return soft_target_cross_entropy(logits, targets)


def step_loss(recipe: Recipe, model: nn.Module, inputs: dict, labels: torch.Tensor, num_classes: int, plan):
    """The loss of one training batch. RegMixup (Pinto et al. 2022) adds η × the mixup loss of a mixed
    copy to the clean cross entropy: two forward passes."""
    if recipe.method == "regmixup":
        clean = model(**inputs, plan=None)  # (B, K)
        mixed = model(**inputs, plan=plan)  # (B, K)
        extra = recipe.loss.regmixup_eta * soft_target_cross_entropy(mixed, plan.mix_targets(labels, num_classes))
        return training_loss(recipe, clean, one_hot_targets(labels, num_classes)) + extra
    logits = model(**inputs, plan=plan)  # (B, K)
    targets = plan.mix_targets(labels, num_classes) if plan is not None else one_hot_targets(labels, num_classes)
    return training_loss(recipe, logits, targets)


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


def make_optimizer(recipe: Recipe, model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """The recipe's optimizer; on a GPU its fused (AdamW, SGD) or foreach (Adadelta) step: a few
    kernel launches per step instead of several per parameter. Elsewhere PyTorch's default step, so
    CPU runs keep their numbers."""
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS[recipe.optim.name](params, recipe.optim, device.type == "cuda")


def make_scheduler(recipe: Recipe, optimizer, steps_per_epoch: int, num_processes: int):
    """constant, linear (warmup, then linear decay to 0) or step (× gamma at each milestone epoch)."""
    o = recipe.optim
    # accelerate steps a prepared scheduler once per process per optimizer step
    per_epoch = steps_per_epoch * num_processes
    if o.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, [m * per_epoch for m in o.milestones], gamma=o.gamma)
    total = per_epoch * recipe.train.epochs
    warmup = int(o.warmup_ratio * total)

    def linear(step):
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return max(0.0, (total - step) / max(total - warmup, 1))

    factor = {"linear": linear, "constant": lambda step: 1.0}[o.schedule]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
