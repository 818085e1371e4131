"""``platt``: Platt scaling (Platt, 1999) for two classes: p₁' = σ(a·s + b) on the model's log-odds
s = z₁ − z₀, fitted with Platt's smoothed targets (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2) so that a
separable validation split does not drive a and b to infinity."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from textmix.core.calibrators.base import Calibrator


def log_odds(logits: torch.Tensor) -> torch.Tensor:
    """(N, 2) logits → (N,) s = z₁ − z₀."""
    return logits[:, 1] - logits[:, 0]


def as_two_class_logits(positive: torch.Tensor) -> torch.Tensor:
    """(N,) logit of class 1 → (N, 2) logits whose softmax is (1 − σ, σ)."""
    return torch.stack([torch.zeros_like(positive), positive], dim=1)


def fit_logistic(
    features: torch.Tensor, targets: torch.Tensor, free: torch.Tensor, max_iter: int = 100
) -> torch.Tensor:
    """Weights w (features' columns, then an intercept) minimizing the binary cross entropy of
    σ(features · w) against ``targets`` in [0, 1]; only the columns ``free`` marks are fitted, the
    others stay 0. Newton's method in float64 (iteratively reweighted least squares: the loss is
    convex), each step halved until the loss does not increase; it stops when a step no longer
    lowers the loss, so a separable split (hard targets, no finite optimum) ends at large finite w."""
    design = torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], dim=1).double()  # (N, F + 1)
    columns = torch.cat([free, torch.tensor([True])]).nonzero().squeeze(1)
    x, t = design[:, columns], targets.double()  # (N, P), (N,)
    w = torch.zeros(len(columns), dtype=torch.float64)
    loss = float(F.binary_cross_entropy_with_logits(x @ w, t))
    for _ in range(max_iter):
        p = torch.sigmoid(x @ w)  # (N,)
        gradient = x.T @ (p - t) / len(t)  # (P,)
        hessian = (x * (p * (1 - p))[:, None]).T @ x / len(t)  # (P, P)
        step = torch.linalg.lstsq(hessian, gradient[:, None], driver="gelsd").solution[:, 0]  # any rank
        scale, new_loss = 1.0, math.inf
        while scale > 1e-10:
            new_loss = float(F.binary_cross_entropy_with_logits(x @ (w - scale * step), t))
            if new_loss <= loss:
                break
            scale /= 2
        if scale <= 1e-10 or not new_loss < loss:  # no step lowers the loss: at the optimum (to rounding)
            break
        w, loss = w - scale * step, new_loss
    out = torch.zeros(design.shape[1], dtype=torch.float64)
    out[columns] = w
    return out


class PlattScaling(Calibrator):
    name = "platt"
    numpy_code = (
        'q = s["a"] * (z[:, 1] - z[:, 0]) + s["b"]  # calibrated log-odds of class 1\n'
        "p = softmax(np.stack([np.zeros_like(q), q], axis=1))"
    )
    binary_only = True

    def __init__(self):
        self.a, self.b = 1.0, 0.0

    def n_parameters(self, num_classes: int) -> int:
        return 2

    def _fit(self, logits, labels) -> None:
        positives = float((labels == 1).sum())
        negatives = len(labels) - positives
        targets = torch.where(labels == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2)).double()
        w = fit_logistic(log_odds(logits)[:, None], targets, torch.tensor([True]))
        self.a, self.b = float(w[0]), float(w[1])

    def _scale(self, logits):
        return as_two_class_logits(self.a * log_odds(logits) + self.b)

    def state_dict(self) -> dict:
        return {"a": self.a, "b": self.b}

    def load_state_dict(self, state: dict) -> None:
        self.a, self.b = float(state["a"]), float(state["b"])
        if not all(map(torch.isfinite, torch.tensor([self.a, self.b]))):
            raise ValueError(f"a and b must be finite, got {self.a}, {self.b}")
