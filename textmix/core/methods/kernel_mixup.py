"""``kernel_mixup``: similarity-kernel mixup (Bouniot et al., ICLR 2025, "Tailoring Mixup to Data for
Calibration"). Mixing two distant examples makes labels that contradict the data (manifold
intrusion); this method mixes close pairs strongly and distant pairs weakly by warping λ through a
Beta inverse CDF whose parameter depends on the pair's distance:

    d_i = ‖f_i − f_perm(i)‖² / mean_j ‖f_j − f_perm(j)‖²        (f: the vectors the head reads)
    τ_i = τ_max · exp(−(d_i − 1) / (2 τ_std²))
    λ'_i = F⁻¹_Beta(τ_i, τ_i)(λ_i)

A close pair (d < 1) gets τ > τ_max and a λ' near ½; a distant one a small τ and λ' near 0 or 1.
With λ ~ Beta(1, 1) (the authors' α), λ' ~ Beta(τ_i, τ_i). The authors' CIFAR settings:
``inverse_beta_cdf`` warping, τ_max = 1, τ_std = 0.25, per-sample λ; the features come from a
no-gradient pass of the clean batch (here in eval mode: no dropout noise in the distances).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from textmix.core.methods.base import Method, Param, StepBatch, register_method


@register_method
class KernelMixup(Method):
    name = "kernel_mixup"
    mixing = "full"
    summary = "λ warped by the pair's feature distance: close pairs mix more"
    paper = "Bouniot et al., ICLR 2025"
    passes = "1 + 1 without gradients"
    needs = frozenset({"features"})
    params = {
        "kernel_tau_max": Param(
            1.0,
            "τ_max of method kernel_mixup (warp of a pair at mean distance).",
            lambda v: v > 0,
            "> 0",
            symbol="τ_max",
        ),
        "kernel_tau_std": Param(
            0.25, "τ_std of method kernel_mixup (width of the distance kernel).", lambda v: v > 0, "> 0", symbol="τ_std"
        ),
    }

    def taus(self, features: torch.Tensor, perm: torch.Tensor) -> np.ndarray:
        """(B,) τ of each pair from (B, D) features."""
        dist = (features - features[perm.to(features.device)]).pow(2).sum(dim=1).double().cpu().numpy()
        mean = dist.mean()
        scaled = dist / mean if mean > 0 else np.ones_like(dist)  # one example, or all identical
        # divided twice, not by std²: a huge τ_std would overflow the square (a flat kernel: exp(0))
        return self.kernel_tau_max * np.exp(-(scaled - 1) / 2 / self.kernel_tau_std / self.kernel_tau_std)

    def warp(self, lam: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """λ' = F⁻¹_Beta(τ, τ)(λ), elementwise."""
        from scipy.special import betaincinv  # here: scipy costs every textmix import 0.1 s

        with np.errstate(all="ignore"):
            warped = betaincinv(tau, tau, lam)
        # a τ so small that the inverse CDF underflows is a step at ½: λ' is 0 or 1
        return np.where(np.isfinite(warped), warped, (lam >= 0.5).astype(float))

    def step_loss(self, batch: StepBatch) -> torch.Tensor:
        plan = batch.plan
        tau = self.taus(batch.features(), plan.perm)
        lam = np.broadcast_to(plan.lam.double().cpu().numpy(), tau.shape)
        warped = torch.as_tensor(self.warp(lam, tau), dtype=torch.float32).to(plan.lam.device)
        plan = dataclasses.replace(plan, lam=warped)
        return self.loss(batch.forward(plan), batch.targets(plan))
