"""``matrix``: matrix scaling (Guo et al., ICML 2017): softmax(W z + b), a full K × K affine map
fitted by validation NLL (K² + K parameters: it needs a large validation split)."""

from __future__ import annotations

import torch

from textmix.core.calibrators.base import Calibrator, fit_by_nll, tensor_state


class MatrixScaling(Calibrator):
    name = "matrix"
    numpy_code = 'p = softmax(z @ np.array(s["weight"]).T + np.array(s["bias"]))'

    def __init__(self):
        self.weight = self.bias = None

    def n_parameters(self, num_classes: int) -> int:
        return num_classes * num_classes + num_classes

    def _features(self, logits):
        return logits

    def _fit(self, logits, labels) -> None:
        features = self._features(logits)
        k = logits.shape[1]
        weight = torch.eye(k, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(k, dtype=torch.float64, requires_grad=True)
        fit_by_nll([weight, bias], lambda: features @ weight.T + bias, labels, self._penalty(weight, bias))
        self.weight, self.bias = weight, bias

    def _penalty(self, weight, bias):
        return None

    def _scale(self, logits):
        return self._features(logits) @ self.weight.T.to(logits.dtype) + self.bias.to(logits.dtype)

    def state_dict(self) -> dict:
        return {"weight": self.weight.tolist(), "bias": self.bias.tolist()}

    def state_classes(self) -> int:
        return len(self.bias)

    def load_state_dict(self, state: dict) -> None:
        k = len(state["bias"])
        self.weight = tensor_state(state["weight"], (k, k), "weight")
        self.bias = tensor_state(state["bias"], (k,), "bias")
