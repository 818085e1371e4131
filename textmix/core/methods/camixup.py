"""``camixup``: confidence-adjusted mixup (Wen et al., ICLR 2021, "Combining Ensembles and Data
Augmentation Can Harm Your Calibration"). Mixup makes models under-confident; CAMixup mixes only
the examples of classes that are not under-confident on validation (mean confidence at least the
accuracy) and trains the others on their clean inputs and labels. The classes are chosen again
after every epoch's validation; the first epoch mixes nothing (no validation yet), as in the
authors' code.

Each mixed example's λ is max(λ, 1 − λ), so that its own label keeps the larger weight (the
authors' code does this for mixup and CAMixup alike). Per class means per true label: confidence
and accuracy of the validation examples of class c.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from textmix.core.methods.base import Method, StepBatch, register_method


@register_method
class CAMixup(Method):
    name = "camixup"
    mixing = "full"
    summary = "mixup only for the classes not under-confident on validation, chosen each epoch"
    paper = "Wen et al., ICLR 2021"
    needs = frozenset({"validation"})

    def prepare(self, num_examples: int, num_classes: int) -> None:
        self.mix_class = torch.zeros(num_classes, dtype=torch.bool)  # (K,) first epoch: no mixing

    def after_validation(self, probs: np.ndarray, labels: np.ndarray) -> None:
        confidence, correct = probs.max(1), probs.argmax(1) == labels
        for c in range(len(self.mix_class)):
            rows = labels == c
            if rows.any():  # a class absent from validation keeps its choice
                self.mix_class[c] = bool(confidence[rows].mean() >= correct[rows].mean())

    def class_plan(self, batch: StepBatch):
        """The batch's plan with λ_i = max(λ, 1 − λ) for over-confident classes and 1 elsewhere."""
        plan = batch.plan
        lam = plan.lam.expand(plan.batch_size) if plan.lam.dim() == 0 else plan.lam  # (B,)
        mixed = self.mix_class.to(lam.device)[batch.labels.to(lam.device)]  # (B,)
        lam = torch.where(mixed, torch.maximum(lam, 1 - lam), torch.ones_like(lam))
        return dataclasses.replace(plan, lam=lam)

    def step_loss(self, batch: StepBatch) -> torch.Tensor:
        plan = self.class_plan(batch)
        return self.loss(batch.forward(plan), batch.targets(plan))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mix_class": self.mix_class}
