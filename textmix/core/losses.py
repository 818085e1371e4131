"""Training losses on soft targets: mixup cross entropy, ε-label smoothing, confidence penalty.

Every loss takes logits (B, K) and targets (B, K) whose rows are probability vectors, so the same
code serves hard labels (one-hot), mixup targets and smoothed targets. Imports torch only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy −Σ_k y_k log softmax(z)_k against probability targets.

    Args:
        logits: (B, K) unnormalized scores.
        targets: (B, K) probability vectors (one-hot, mixed or smoothed).
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    return F.cross_entropy(logits, targets.to(logits.dtype))


def smooth_targets(targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """ε-label smoothing (Szegedy et al. 2016): y' = (1 − ε)·y + ε/K.

    ε is spread over *all* K classes, including the true one, which is the convention of
    ``F.cross_entropy(..., label_smoothing=ε)``: the true class gets 1 − ε + ε/K.

    Args:
        targets: (B, K) probability vectors.
        epsilon: smoothing mass in [0, 1].
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"label smoothing epsilon must be in [0, 1], got {epsilon}")
    num_classes = targets.shape[-1]
    return (1.0 - epsilon) * targets + epsilon / num_classes


def predictive_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy H(softmax(z)) of each row, in nats: (B, K) → (B,)."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def confidence_penalty_loss(logits: torch.Tensor, targets: torch.Tensor, kappa: float) -> torch.Tensor:
    """Entropy-regularized loss (Pereyra et al. 2017): CE(z, y) − κ·mean H(softmax(z)).

    Args:
        logits: (B, K).
        targets: (B, K) probability vectors.
        kappa: penalty strength κ >= 0; larger κ pushes towards less confident predictions.
    """
    if kappa < 0:
        raise ValueError(f"confidence penalty kappa must be >= 0, got {kappa}")
    return soft_target_cross_entropy(logits, targets) - kappa * predictive_entropy(logits).mean()
