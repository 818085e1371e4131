"""``temperature``: temperature scaling (Guo et al., ICML 2017), softmax(z / T) with the T > 0 that
minimizes the validation NLL."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from textmix.core.calibrators.base import Calibrator


class TemperatureScaling(Calibrator):
    """Args:
    temperature: T (1.0 until fitted).
    max_iter: Newton iterations of the fit (it converges in under ten on real logits).

    The validation NLL is convex in s = 1/T (a log-sum-exp of functions linear in s, minus one),
    so Newton's method on s with step halving finds its minimum exactly, in a few passes over the
    logits and without an optimizer (L-BFGS cost a ``torch._dynamo`` import, seconds, per process).

    Example::

        >>> cal = TemperatureScaling().fit(val_logits, val_labels)
        >>> probs = cal(test_logits)  # softmax(test_logits / cal.temperature), float64
    """

    name = "temperature"
    numpy_code = 'p = softmax(z / s["temperature"])'
    max_temperature: ClassVar[float] = 1e6  # the bound for logits with no positive relation to the labels

    def __init__(self, temperature: float = 1.0, max_iter: int = 100):
        self.max_iter = max_iter
        self.load_state_dict({"temperature": temperature})

    def _fit(self, logits, labels) -> None:
        """The root of f′(s) = mean(E_p[z] − z_y), p = softmax(s·z), increasing in s because f is
        convex: Newton steps −f′/f″ (f″ = mean(Var_p[z])) kept inside the bracket of s where f′
        changes sign, bisecting when a step leaves it; one pass over the logits an iteration. Where
        f′ ≥ 0 already at s → 0 (logits anti-related to the labels, the NLL falls towards uniform
        probabilities), T is capped at ``max_temperature``."""
        z = logits.to(torch.float64)  # (N, K)
        z = z - z.max(1, keepdim=True).values  # changes no derivative; keeps E[z²] − E[z]² exact
        z_true = z.gather(1, labels.view(-1, 1)).squeeze(1)  # (N,)
        informative = bool((z < 0).any())  # some row's logits differ: T changes the probabilities
        if informative and float((z.mean(1) - z_true).mean()) >= 0:  # f′(0) ≥ 0: no s > 0 beats s → 0
            self.temperature = self.max_temperature
            return
        low, high, s = 0.0, math.inf, 1.0  # f′(low) < 0 ≤ f′(high)
        for _ in range(self.max_iter):
            gradient, curvature = _derivatives(z, z_true, s)
            if gradient == 0 or not curvature > 0:  # at the root, or every row's logits equal
                break
            step = -gradient / curvature
            if abs(step) <= 1e-9 * s:  # quadratic convergence: the error after this step is below rounding
                s += step
                break
            low, high = (s, high) if gradient < 0 else (low, s)
            s = s + step if low < s + step < high else (low + high) / 2 if math.isfinite(high) else 2 * s
        self.temperature = 1 / s

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


def _derivatives(z, z_true, s: float) -> tuple[float, float]:
    """f′(s) and f″(s) of f(s) = mean(logsumexp(s·z) − s·z_y), the NLL of softmax(s·z)."""
    pz = torch.softmax(s * z, dim=1).mul_(z)  # (N, K) p·z
    mean_z = pz.sum(1)  # (N,) E_p[z]
    variance = pz.mul_(z).sum(1) - mean_z.square()  # (N,) Var_p[z]: rows ≤ 0 with a 0, no cancellation
    return float((mean_z - z_true).mean()), float(variance.mean())
