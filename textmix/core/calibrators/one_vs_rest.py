"""Calibrators of probabilities one class at a time (histogram binning, isotonic regression).

For two classes the positive class's probability p₁ is calibrated and p₀ = 1 − p₁'; for K > 2
each class's p_k is calibrated against 1[y = k] and the rows are renormalized (Zadrozny & Elkan,
KDD 2002), a row whose calibrated values are all 0 becoming uniform. No probability is below 1e-12.
"""

from __future__ import annotations

import numpy as np
import torch

from textmix.core.calibrators.base import Calibrator

FLOOR = 1e-12  # calibrated probabilities of exactly 0 become this before the log


class OneVsRest(Calibrator):
    """Subclasses fit ``_fit_class(p (N,), hits (N,) bool) -> state`` and apply
    ``_apply_class(state, p (N,)) -> p' (N,)``."""

    def __init__(self):
        self.classes: list = []  # per calibrated class, its state

    def n_parameters(self, num_classes: int) -> int:
        return 2

    @staticmethod
    def _columns(k: int) -> list[int]:
        return [1] if k == 2 else list(range(k))

    def _fit(self, logits, labels) -> None:
        p = torch.softmax(logits, dim=1).numpy()
        y = labels.numpy()
        self.classes = [self._fit_class(p[:, c], y == c) for c in self._columns(p.shape[1])]

    def _probs(self, logits) -> np.ndarray:
        """Calibrated probabilities, each at least 1e-12 (a step function's exact 0 would make a
        label impossible and its log loss infinite), rows renormalized."""
        p = torch.softmax(logits.double(), dim=1).numpy()
        k = p.shape[1]
        if k == 2:
            p1 = self._apply_class(self.classes[0], p[:, 1])
            out = np.stack([1 - p1, p1], axis=1)
        else:
            out = np.stack([self._apply_class(state, p[:, c]) for c, state in enumerate(self.classes)], axis=1)
            out[out.sum(axis=1) == 0] = 1.0 / k  # no class claims the example: uniform
        out = np.maximum(out, FLOOR)
        return out / out.sum(axis=1, keepdims=True)

    def _scale(self, logits):
        """Log-probabilities, for callers that combine calibrated logits."""
        return torch.from_numpy(np.log(self._probs(logits)))

    def state_classes(self) -> int:
        return 2 if len(self.classes) == 1 else len(self.classes)

    @staticmethod
    def checked_maps(classes) -> list:
        """The stored per-class maps: one for two classes, K for K > 2 (never none, never two)."""
        if not isinstance(classes, list) or len(classes) in (0, 2):
            count = len(classes) if isinstance(classes, list) else type(classes).__name__
            raise ValueError(f"'classes' holds {count} per-class maps; a two-class model stores 1, a K-class model K")
        return classes

    def _fit_class(self, p: np.ndarray, hits: np.ndarray):
        raise NotImplementedError

    def _apply_class(self, state, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError
