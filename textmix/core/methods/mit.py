"""``mit``: Mixup Inference in Training (Wang et al., CVPR 2023, "On the Pitfall of Mixup for
Uncertainty Calibration"), the MIT-L variant. Two mixes of the same pair, x̃₁ = λ₁·x_i +
(1 − λ₁)·x_j and x̃₂ = λ₂·x_i + (1 − λ₂)·x_j with λ₁ = max(λ, 1 − λ) and λ₂ = min(λ', 1 − λ') from
two Beta(α, α) draws, redrawn while λ₁ − λ₂ < ``mit_margin``; the outputs are decoupled as if the
model were linear in its input,

    z_i = ((1 − λ₂)·z̃₁ − (1 − λ₁)·z̃₂) / (λ₁ − λ₂),    z_j = (λ₁·z̃₂ − λ₂·z̃₁) / (λ₁ − λ₂),

and each recovered output is trained on its own one-hot label: ½·CE(z_i, y_i) + ½·CE(z_j, y_j).
The model never sees a mixed label, so mixup's push towards under-confidence is gone. Two forward
passes per step. With a per-sample λ every example has its own pair of weights.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from textmix.core.methods.base import Method, Param, StepBatch, register_method

MAX_REDRAWS = 100


MIN_REACH = 0.2


def margin_reach(alpha: float, margin: float, draws: int = 20_000) -> float:
    """P(λ₁ − λ₂ >= margin) for λ₁ = max(λ, 1 − λ), λ₂ = min(λ', 1 − λ'), λ, λ' ~ Beta(α, α)
    independent (Monte Carlo, seeded: the same answer on every machine)."""
    rng = np.random.default_rng(0)
    lam, other = rng.beta(alpha, alpha, size=(2, draws))
    return float((np.maximum(lam, 1 - lam) - np.minimum(other, 1 - other) >= margin).mean())


@register_method
class MixupInferenceInTraining(Method):
    name = "mit"
    mixing = "full"
    summary = "two mixes of one pair, outputs decoupled and trained on one-hot labels"
    paper = "Wang et al., CVPR 2023"
    passes = "2"
    params = {
        "mit_margin": Param(
            0.0, "smallest λ₁ − λ₂ of method mit (weights redrawn below it).", lambda v: 0 <= v < 1, "in [0, 1)"
        )
    }

    @classmethod
    def recipe_checks(cls, loss, train, mixup) -> list[tuple[bool, str, str]]:
        """A margin that Beta(α, α) pairs reach in fewer than 20% of draws would, sooner or later in a
        long run, exhaust the 100 redraws of some example (0.8¹⁰⁰ ≈ 2e-10 per example at 20%)."""
        if loss.mit_margin == 0 or not mixup.alpha > 0:
            return []
        reach = margin_reach(mixup.alpha, loss.mit_margin)
        expected = f"reachable by Beta({mixup.alpha:g}, {mixup.alpha:g}) pairs (in {reach:.1%} of draws; 20% needed)"
        return [(reach >= MIN_REACH, "loss.mit_margin", expected)]

    def weights(self, batch: StepBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """λ₁ >= 0.5 >= λ₂ (shape of the plan's λ): λ₁ from the plan, λ₂ from the mixer's next draw;
        a pair closer than the margin is redrawn (λ₁, then λ₂), element by element."""
        size = batch.plan.batch_size

        def draw(larger: bool) -> torch.Tensor:
            lam = batch.mixer.sample_lam(size).to(batch.plan.lam.device)
            return torch.maximum(lam, 1 - lam) if larger else torch.minimum(lam, 1 - lam)

        lam1 = torch.maximum(batch.plan.lam, 1 - batch.plan.lam)
        lam2 = draw(larger=False)
        for _ in range(MAX_REDRAWS):
            # λ₁ = λ₂ = 0.5 cannot be decoupled: redrawn even with margin 0
            bad = ~((lam1 - lam2 >= self.mit_margin) & (lam1 > lam2))
            if not bool(bad.any()):
                return lam1, lam2
            lam1, lam2 = torch.where(bad, draw(larger=True), lam1), torch.where(bad, draw(larger=False), lam2)
        raise ValueError(
            f"loss.mit_margin={self.mit_margin}: no λ pair this far apart in {MAX_REDRAWS} draws; lower it"
        )

    def step_loss(self, batch: StepBatch) -> torch.Tensor:
        lam1, lam2 = self.weights(batch)
        out1 = batch.forward(dataclasses.replace(batch.plan, lam=lam1))  # (B, K)
        out2 = batch.forward(dataclasses.replace(batch.plan, lam=lam2))
        shape = (-1, 1) if lam1.dim() == 1 else ()
        l1, l2 = lam1.to(out1.dtype).reshape(shape), lam2.to(out1.dtype).reshape(shape)
        own = ((1 - l2) * out1 - (1 - l1) * out2) / (l1 - l2)  # (B, K) z_i
        partner = (l1 * out2 - l2 * out1) / (l1 - l2)  # z_j, j = perm[i]
        labels = batch.labels.to(out1.device)
        return 0.5 * F.cross_entropy(own, labels) + 0.5 * F.cross_entropy(partner, labels[batch.plan.perm])
