"""``mbls``: margin-based label smoothing (Liu et al., CVPR 2022): cross entropy plus
λ · mean over examples and classes of ReLU(max_k z_k − z_j − m), penalising logit gaps larger than
the margin m (their defaults: m = 10, λ = 0.1)."""

import torch

from textmix.core.losses import soft_target_cross_entropy
from textmix.core.methods.base import Method, Param, register_method


@register_method
class MarginLabelSmoothing(Method):
    name = "mbls"
    summary = "margin-based label smoothing: CE + λ × mean ReLU(logit gap − m)"
    paper = "Liu et al., CVPR 2022"
    params = {
        "mbls_margin": Param(
            10.0, "m of method mbls (largest logit gap left free).", lambda v: v >= 0, ">= 0", symbol="m"
        ),  # fmt: skip
        "mbls_weight": Param(
            0.1, "λ of method mbls (weight of the margin penalty).", lambda v: v >= 0, ">= 0", symbol="λ"
        ),  # fmt: skip
    }

    def loss(self, logits, targets):
        gaps = logits.max(dim=-1, keepdim=True).values - logits  # (B, K), >= 0
        penalty = torch.relu(gaps - self.mbls_margin).mean()
        return soft_target_cross_entropy(logits, targets) + self.mbls_weight * penalty
