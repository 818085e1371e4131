"""``beta``: Beta calibration (Kull, Silva Filho & Flach, AISTATS 2017) for two classes:
logit(p₁') = a·ln p₁ − b·ln(1 − p₁) + c with a, b >= 0 (the paper's three-parameter map, which
contains the identity and Platt scaling on log-odds when a = b). As in the paper, a logistic
regression on (ln p₁, −ln(1 − p₁)) is fitted, and refitted without a feature whose weight came out
negative."""

from __future__ import annotations

import math

import torch

from textmix.core.calibrators.base import Calibrator
from textmix.core.calibrators.platt import as_two_class_logits, fit_logistic

EPS = 1e-12  # p₁ is clipped to [EPS, 1 − EPS] before the logs


def beta_features(logits: torch.Tensor) -> torch.Tensor:
    """(N, 2) logits → (N, 2) features (ln p₁, −ln(1 − p₁)), from log-softmax (no 0 · log 0)."""
    log_p = torch.log_softmax(logits.double(), dim=1).clamp(math.log(EPS), math.log1p(-EPS))
    return torch.stack([log_p[:, 1], -log_p[:, 0]], dim=1)


class BetaCalibration(Calibrator):
    name = "beta"
    numpy_code = (
        "log_p = np.clip(log_softmax(z), np.log(1e-12), np.log1p(-1e-12))\n"
        'q = s["a"] * log_p[:, 1] - s["b"] * log_p[:, 0] + s["c"]  # calibrated log-odds of class 1\n'
        "p = softmax(np.stack([np.zeros_like(q), q], axis=1))"
    )
    binary_only = True

    def __init__(self):
        self.a, self.b, self.c = 1.0, 1.0, 0.0

    def n_parameters(self, num_classes: int) -> int:
        return 3

    def _fit(self, logits, labels) -> None:
        features, targets = beta_features(logits), (labels == 1).double()
        free = torch.tensor([True, True])
        w = fit_logistic(features, targets, free)
        if (w[:2] < 0).any():
            w = fit_logistic(features, targets, w[:2] >= 0)
        self.a, self.b, self.c = float(w[0]), float(w[1]), float(w[2])

    def _scale(self, logits):
        features = beta_features(logits)
        return as_two_class_logits(self.a * features[:, 0] + self.b * features[:, 1] + self.c)

    def state_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "c": self.c}

    def load_state_dict(self, state: dict) -> None:
        a, b, c = float(state["a"]), float(state["b"]), float(state["c"])
        if not all(math.isfinite(v) for v in (a, b, c)) or a < 0 or b < 0:
            raise ValueError(f"a and b must be finite and >= 0, c finite; got {a}, {b}, {c}")
        self.a, self.b, self.c = a, b, c
