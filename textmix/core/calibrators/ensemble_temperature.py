"""``ensemble_temperature``: ensemble temperature scaling (Zhang et al., ICML 2020, "Mix-n-Match"):
p = w₁·softmax(z / T) + w₂·softmax(z) + w₃·1/K with T from temperature scaling and the weights on
the simplex fitted by validation NLL (their code offers NLL or squared error; NLL here)."""

from __future__ import annotations

import math

import torch

from textmix.core.calibrators.base import Calibrator, fit_by_nll, tensor_state
from textmix.core.calibrators.temperature import TemperatureScaling


class EnsembleTemperatureScaling(Calibrator):
    name = "ensemble_temperature"
    numpy_code = 'w = s["weights"]\np = w[0] * softmax(z / s["temperature"]) + w[1] * softmax(z) + w[2] / z.shape[1]'

    def __init__(self):
        self.temperature, self.weights = 1.0, None

    def n_parameters(self, num_classes: int) -> int:
        return 3  # T and two free weights

    def _mixture(self, logits, weights):
        k = logits.shape[1]
        scaled = torch.softmax(logits / self.temperature, dim=1)
        return weights[0] * scaled + weights[1] * torch.softmax(logits, dim=1) + weights[2] / k  # (N, K)

    def _fit(self, logits, labels) -> None:
        temperature = TemperatureScaling()
        temperature._fit(logits, labels)
        self.temperature = temperature.temperature
        free = torch.tensor([2.0, 0.0, -2.0], dtype=torch.float64, requires_grad=True)  # start near TS alone
        fit_by_nll([free], lambda: torch.log(self._mixture(logits, torch.softmax(free, 0))), labels)
        self.weights = torch.softmax(free, 0)

    def _scale(self, logits):
        return torch.log(self._mixture(logits.double(), self.weights))

    def state_dict(self) -> dict:
        return {"temperature": self.temperature, "weights": self.weights.tolist()}

    def load_state_dict(self, state: dict) -> None:
        temperature = float(state["temperature"])
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be > 0 and finite, got {temperature!r}")
        weights = tensor_state(state["weights"], (3,), "weights")
        if (weights < 0).any() or abs(float(weights.sum()) - 1) > 1e-6:
            raise ValueError(f"weights must be >= 0 and sum to 1, got {weights.tolist()}")
        self.temperature, self.weights = temperature, weights
