"""The metrics textmix reports, as facts in one table: name, label, unit, direction, range, and
whether tables show it by default. Every output reads this table (``calibration_report`` adds
registered metrics, ``textmix calibrate``'s and ``textmix report``'s tables, the model card,
``MixupTrainer``'s ``calibration_metrics``), so a new metric is one declaration::

    from textmix.core.metric_table import MetricInfo, register_metric

    register_metric(MetricInfo("top2_gap", "top-2 gap", "%", lower_is_better=False, shown=True,
                               compute=lambda probs, labels, n_bins: float(...)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from textmix.core.registry import Registry

UNIT_SCALE = {"%": 100.0, "× 100": 100.0, "": 1.0, "count": 1.0}


@dataclass(frozen=True)
class MetricInfo:
    """Facts about one metric of ``calibration_report``.

    Args:
        name: its key in ``metrics.json`` and every report.
        label: how tables and cards name it ("ECE", "NLL").
        unit: how it is shown: ``%`` and ``× 100`` (value × 100), ``""`` (as it is) or ``count``.
        lower_is_better: its direction (None: neither, e.g. a mean confidence or a count).
        low, high: the range of its values (high may be ``inf``); intervals are clipped to it.
        shown: in the default tables (calibrate, report, model card).
        compute: ``compute(probs (N, K) float64, labels (N,), n_bins) -> float`` for a metric
            ``calibration_report`` does not compute itself (None: a built-in).
    """

    name: str
    label: str
    unit: str = "%"
    lower_is_better: bool | None = True
    low: float = 0.0
    high: float = 1.0
    shown: bool = False
    compute: Callable[[np.ndarray, np.ndarray, int], float] | None = None

    def show(self, value: float) -> str:
        """The value as tables print it (two decimals in its unit; counts as integers)."""
        if self.unit == "count":
            return f"{int(value)}"
        return f"{UNIT_SCALE[self.unit] * value:.2f}"

    @property
    def heading(self) -> str:
        return f"{self.label} {self.unit}".strip() if self.unit != "count" else self.label


def _check(name: str, info: MetricInfo) -> None:
    if info.unit not in UNIT_SCALE:
        raise ValueError(f"metric {name}: unit must be one of {list(UNIT_SCALE)}, got {info.unit!r}")
    if name != info.name:
        raise ValueError(f"metric registered as {name!r} is named {info.name!r}")


METRICS: Registry[MetricInfo] = Registry("metric", check=_check)


def register_metric(info: MetricInfo) -> MetricInfo:
    """Add a metric to every output (see the module docstring)."""
    return METRICS.add(info.name, info)


def shown_metrics() -> list[MetricInfo]:
    """The metrics the default tables show, in registration order."""
    return [info for info in METRICS.values() if info.shown]


for _info in (
    MetricInfo("accuracy", "accuracy", lower_is_better=False, shown=True),
    MetricInfo("ece", "ECE", shown=True),
    MetricInfo("oe", "OE", shown=True),
    MetricInfo("mce", "MCE", shown=True),
    MetricInfo("nll", "NLL", "× 100", high=float("inf"), shown=True),
    MetricInfo("brier", "Brier", "× 100", high=2.0, shown=True),
    MetricInfo("mean_confidence", "mean confidence", lower_is_better=None),
    MetricInfo("mean_entropy", "mean entropy", "", lower_is_better=None, high=float("inf")),
    MetricInfo("n", "n", "count", lower_is_better=None, high=float("inf")),
    MetricInfo("adaptive_ece", "adaptive ECE"),
    MetricInfo("smooth_ece", "smooth ECE", shown=True),
    MetricInfo("debiased_ece", "debiased L2-ECE", shown=True),
    MetricInfo("classwise_ece", "classwise ECE"),
    MetricInfo("aurc", "AURC"),
    MetricInfo("eaurc", "E-AURC"),
    MetricInfo("accuracy_at_80", "accuracy at 80% coverage", lower_is_better=False),
    MetricInfo("accuracy_at_90", "accuracy at 90% coverage", lower_is_better=False),
):
    register_metric(_info)
