"""``temperature``: temperature scaling (Guo et al., ICML 2017), softmax(z / T) with the T > 0 that
minimizes the validation NLL."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from textmix.core.calibrators.base import Calibrator


class TemperatureScaling(Calibrator):
    """Args:
    temperature: T (1.0 until fitted).
    max_iter: L-BFGS iterations of the fit.
    """

    name = "temperature"
    numpy_code = 'p = softmax(z / s["temperature"])'

    def __init__(self, temperature: float = 1.0, max_iter: int = 100):
        self.max_iter = max_iter
        self.load_state_dict({"temperature": temperature})

    def _fit(self, logits, labels) -> None:
        """L-BFGS on log T from T = 1, so T stays positive; if it ends worse than T = 1 (it should
        not), T = 1, so the validation NLL never increases. Accuracy is unchanged by any T > 0."""
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(logits / log_t.exp(), labels)
            loss.backward()
            return loss

        initial = float(F.cross_entropy(logits, labels))
        optimizer.step(closure)
        temperature = float(log_t.detach().exp())
        final = float(F.cross_entropy(logits / temperature, labels))
        self.temperature = 1.0 if not math.isfinite(temperature) or final > initial else temperature

    def _scale(self, logits):
        return logits / self.temperature

    def state_dict(self) -> dict:
        return {"temperature": self.temperature}

    def load_state_dict(self, state: dict) -> None:
        temperature = state["temperature"]
        number = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
        if not number or not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be > 0 and finite, got {temperature!r}")
        self.temperature = float(temperature)
