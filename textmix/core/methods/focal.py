"""``focal``: focal loss (Lin et al. 2017) for calibration (Mukhoti et al., NeurIPS 2020):
−Σ_k y_k (1 − p_k)^γ log p_k. With ``loss.focal_gamma: 0`` (the default, FLSD-53) γ depends on the
example: 5 when the target probability p_y < 0.2, else 3; any other value is a fixed γ.

Soft targets (mixup, label smoothing) weight each class's term by y_k; for one-hot targets this is
the paper's −(1 − p_y)^γ log p_y, and the sample-dependent γ reads p_y as Σ_k y_k p_k. The loss is
the batch mean, like every textmix loss (the authors' code sums over the batch: the same gradient
direction, a learning rate B times larger).
"""

import torch

from textmix.core.methods.base import Method, Param, register_method

FLSD_53 = ((0.2, 5.0), (1.0, 3.0))  # (p_y below this, γ): Mukhoti et al.'s schedule


@register_method
class Focal(Method):
    name = "focal"
    summary = "focal loss with the sample-dependent FLSD-53 γ or a fixed γ"
    paper = "Mukhoti et al., NeurIPS 2020"
    params = {
        "focal_gamma": Param(
            0.0,
            "γ of method focal; 0: FLSD-53 (γ = 5 when p_y < 0.2, else 3).",
            lambda v: v >= 0,
            ">= 0",
            symbol="γ",
            named={0.0: "FLSD-53"},
        )
    }

    def gamma(self, p_target: torch.Tensor) -> torch.Tensor:
        """(B,) γ of each example."""
        if self.focal_gamma:
            return torch.full_like(p_target, self.focal_gamma)
        return torch.where(p_target < FLSD_53[0][0], FLSD_53[0][1], FLSD_53[1][1]).to(p_target.dtype)

    def loss(self, logits, targets):
        log_p = torch.log_softmax(logits, dim=-1)  # (B, K)
        p = log_p.exp()
        targets = targets.to(logits.dtype)
        gamma = self.gamma((targets * p).sum(dim=-1).detach())  # (B,) chosen, not differentiated
        weight = (1 - p).clamp(min=0) ** gamma[:, None]
        return -(targets * weight * log_p).sum(dim=-1).mean()
