"""``histogram``: histogram binning (Zadrozny & Elkan, ICML 2001), one class at a time: each class's
probability falls into a bin, and its calibrated value is the bin's frequency of that class on
validation. Equal-mass bins by default (each holds about N / bins validation examples).

Frequencies are m-estimates (Zadrozny & Elkan 2001, section 4): (hits + m · midpoint) / (count + m)
with m = ``smoothing`` (default 2) and the bin's midpoint as prior, so no calibrated probability is
exactly 0 or 1. A raw frequency of 1 in a bin of a few dozen validation examples would make every
test error in that bin cost −log(1e-12) ≈ 27.6 nats, doubling NLL. An empty bin gets its midpoint.

Example::

    >>> calibrator = HistogramBinning(bins=10).fit(val_logits, val_labels)
    >>> calibrated = calibrator(test_logits)  # (N, K), every value strictly inside (0, 1)
"""

from __future__ import annotations

import numpy as np

from textmix.core.calibrators.base import tensor_state
from textmix.core.calibrators.one_vs_rest import OneVsRest


class HistogramBinning(OneVsRest):
    """Args:
    bins: bins per class.
    equal_mass: equal-mass bins (True) or equal-width bins over [0, 1] (False).
    smoothing: m of the m-estimate (0: raw frequencies, which may be exactly 0 or 1).
    """

    name = "histogram"
    numpy_code = (
        "def bin_value(m, q):  # the value of the bin (edges[i], edges[i + 1]] holding q\n"
        '    return np.asarray(m["values"])[np.clip(np.searchsorted(m["edges"], q) - 1, 0, len(m["edges"]) - 2)]\n'
        "\n"
        "\n"
        'p = one_vs_rest(z, s["classes"], bin_value)'
    )

    def __init__(self, bins: int = 15, equal_mass: bool = True, smoothing: float = 2.0):
        super().__init__()
        self.bins, self.equal_mass, self.smoothing = bins, equal_mass, smoothing

    def n_parameters(self, num_classes: int) -> int:
        return self.bins * (1 if num_classes == 2 else num_classes)

    def _fit_class(self, p, hits):
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        if self.equal_mass:
            edges = np.quantile(p, edges)
            edges[0], edges[-1] = 0.0, 1.0
        index = self._bin(edges, p)
        counts = np.bincount(index, minlength=self.bins)
        hit_counts = np.bincount(index, weights=hits.astype(np.float64), minlength=self.bins)
        midpoints = (edges[:-1] + edges[1:]) / 2
        m = self.smoothing
        values = np.where(counts > 0, (hit_counts + m * midpoints) / np.maximum(counts + m, 1), midpoints)
        return {"edges": edges.tolist(), "values": values.tolist()}

    @staticmethod
    def _bin(edges: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Bin of each p: (edge_m, edge_m+1], the first bin also holding edge_0."""
        return np.clip(np.searchsorted(edges, p, side="left") - 1, 0, len(edges) - 2)

    def _apply_class(self, state, p):
        return np.asarray(state["values"])[self._bin(np.asarray(state["edges"]), p)]

    def state_dict(self) -> dict:
        return {"bins": self.bins, "equal_mass": self.equal_mass, "smoothing": self.smoothing, "classes": self.classes}

    def load_state_dict(self, state: dict) -> None:
        bins = int(state["bins"])
        classes = []
        for entry in self.checked_maps(state["classes"]):
            edges = tensor_state(entry["edges"], (bins + 1,), "edges")
            values = tensor_state(entry["values"], (bins,), "values")
            if (values < 0).any() or (values > 1).any() or (edges.diff() < 0).any():
                raise ValueError("bin values must lie in [0, 1] and edges must not decrease")
            if edges[0] != 0 or edges[-1] != 1:
                raise ValueError(f"bin edges must run from 0 to 1, got {float(edges[0])} to {float(edges[-1])}")
            classes.append({"edges": edges.tolist(), "values": values.tolist()})
        self.bins, self.equal_mass, self.classes = bins, bool(state["equal_mass"]), classes
        self.smoothing = float(state.get("smoothing", 0.0))  # states of textmix 0.3 hold raw frequencies
