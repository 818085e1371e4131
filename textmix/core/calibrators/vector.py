"""``vector``: vector scaling (Guo et al., ICML 2017): softmax(w ⊙ z + b), a scale and a bias per
class, fitted by validation NLL."""

from __future__ import annotations

import torch

from textmix.core.calibrators.base import Calibrator, fit_by_nll, tensor_state


class VectorScaling(Calibrator):
    name = "vector"
    numpy_code = 'p = softmax(z * np.array(s["weight"]) + np.array(s["bias"]))'

    def __init__(self):
        self.weight = self.bias = None

    def n_parameters(self, num_classes: int) -> int:
        return 2 * num_classes

    def _fit(self, logits, labels) -> None:
        k = logits.shape[1]
        weight = torch.ones(k, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(k, dtype=torch.float64, requires_grad=True)
        fit_by_nll([weight, bias], lambda: logits * weight + bias, labels)
        self.weight, self.bias = weight, bias

    def _scale(self, logits):
        return logits * self.weight.to(logits.dtype) + self.bias.to(logits.dtype)

    def state_dict(self) -> dict:
        return {"weight": self.weight.tolist(), "bias": self.bias.tolist()}

    def state_classes(self) -> int:
        return len(self.bias)

    def load_state_dict(self, state: dict) -> None:
        k = len(state["weight"])
        self.weight = tensor_state(state["weight"], (k,), "weight")
        self.bias = tensor_state(state["bias"], (k,), "bias")
