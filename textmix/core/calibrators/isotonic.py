"""``isotonic``: isotonic regression (Zadrozny & Elkan, KDD 2002), one class at a time, with
scikit-learn's ``IsotonicRegression`` (the fitted step function is saved as its thresholds).

The step function is clipped to [1 / (n + 2), (n + 1) / (n + 2)] (n: validation examples; the
add-one estimate of a frequency seen as 0 or n out of n), so no calibrated probability is exactly
0 or 1: the top block of a few hundred validation examples is often all correct, and a raw value of
1 would make every test error in it cost −log(1e-12) ≈ 27.6 nats. The clip keeps the order.

Example::

    >>> calibrator = IsotonicCalibration().fit(val_logits, val_labels)
    >>> calibrated = calibrator(test_logits)  # (N, K), every value strictly inside (0, 1)
"""

from __future__ import annotations

import numpy as np

from textmix.core.calibrators.base import tensor_state
from textmix.core.calibrators.one_vs_rest import OneVsRest


class IsotonicCalibration(OneVsRest):
    name = "isotonic"
    numpy_code = 'p = one_vs_rest(z, s["classes"], lambda m, q: np.interp(q, m["x"], m["y"]))'

    def n_parameters(self, num_classes: int) -> int:
        return 2 * (1 if num_classes == 2 else num_classes)

    def _fit_class(self, p, hits):
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, hits.astype(np.float64))
        floor = 1 / (len(p) + 2)
        return {"x": model.X_thresholds_.astype(np.float64), "y": np.clip(model.y_thresholds_, floor, 1 - floor)}

    def _apply_class(self, state, p):
        return np.interp(p, state["x"], state["y"])  # sklearn's predict: linear between thresholds, clipped

    def state_dict(self) -> dict:  # arrays in memory (np.interp converts no list), lists in JSON
        return {"classes": [{"x": c["x"].tolist(), "y": c["y"].tolist()} for c in self.classes]}

    def load_state_dict(self, state: dict) -> None:
        classes = []
        for entry in self.checked_maps(state["classes"]):
            x = tensor_state(entry["x"], (len(entry["x"]),), "x")
            y = tensor_state(entry["y"], (len(entry["x"]),), "y")
            if len(x) == 0 or (x.diff() < 0).any() or (y.diff() < 0).any() or (y < 0).any() or (y > 1).any():
                raise ValueError("isotonic thresholds must be non-empty, increasing, with values in [0, 1]")
            if (x < 0).any() or (x > 1).any():
                raise ValueError("isotonic thresholds are probabilities: they must lie in [0, 1]")
            classes.append({"x": x.numpy(), "y": y.numpy()})
        self.classes = classes
