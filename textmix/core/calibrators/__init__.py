"""Post-hoc calibrators: one file each, registered under their names (see :mod:`.base`)."""

from textmix.core.calibrators.base import (
    Calibrator,
    as_logits,
    calibrator_from_json,
    calibrator_names,
    make_calibrator,
    register_calibrator,
    softmax_probs,
)
from textmix.core.calibrators.temperature import TemperatureScaling

__all__ = [
    "Calibrator",
    "TemperatureScaling",
    "as_logits",
    "calibrator_from_json",
    "calibrator_names",
    "make_calibrator",
    "register_calibrator",
    "softmax_probs",
]
