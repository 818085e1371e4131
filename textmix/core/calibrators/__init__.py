"""Post-hoc calibrators: one file each, registered under their names (see :mod:`.base`)."""

from textmix.core.calibrators.base import (
    CALIBRATORS,
    Calibrator,
    as_logits,
    calibrator_names,
    check_calibrators,
    get_calibrator,
    make_calibrator,
    register_calibrator,
    softmax_probs,
    uncalibrated_probs,
)
from textmix.core.calibrators.beta import BetaCalibration
from textmix.core.calibrators.dirichlet import DirichletCalibration
from textmix.core.calibrators.ensemble_temperature import EnsembleTemperatureScaling
from textmix.core.calibrators.histogram import HistogramBinning
from textmix.core.calibrators.isotonic import IsotonicCalibration
from textmix.core.calibrators.matrix import MatrixScaling
from textmix.core.calibrators.platt import PlattScaling
from textmix.core.calibrators.selection import can_crossfit, choose_calibrator, crossfit_probs, crossfit_reports
from textmix.core.calibrators.stored import calibrator_from_json
from textmix.core.calibrators.temperature import TemperatureScaling
from textmix.core.calibrators.vector import VectorScaling

# the built-in calibrators, in the order of names in help, docs and reports
BUILT_IN = (
    TemperatureScaling, VectorScaling, MatrixScaling, DirichletCalibration, EnsembleTemperatureScaling,
    HistogramBinning, IsotonicCalibration, PlattScaling, BetaCalibration,
)  # fmt: skip
for _cls in BUILT_IN:
    register_calibrator(_cls)

__all__ = [
    "CALIBRATORS",
    "BetaCalibration",
    "Calibrator",
    "DirichletCalibration",
    "EnsembleTemperatureScaling",
    "HistogramBinning",
    "IsotonicCalibration",
    "MatrixScaling",
    "PlattScaling",
    "VectorScaling",
    "TemperatureScaling",
    "as_logits",
    "calibrator_from_json",
    "check_calibrators",
    "get_calibrator",
    "calibrator_names",
    "choose_calibrator",
    "crossfit_probs",
    "crossfit_reports",
    "can_crossfit",
    "make_calibrator",
    "register_calibrator",
    "softmax_probs",
    "uncalibrated_probs",
]
