"""textmix: embedding-layer mixup and calibration for text classifiers.

The modality-free core (:mod:`textmix.core.mixer`, :mod:`textmix.core.losses`, :mod:`textmix.core.metrics`,
:mod:`textmix.core.plots`, :mod:`textmix.core.sampling`, :mod:`textmix.core.splits`, :mod:`textmix.core.atomic_files`,
:mod:`textmix.core.errors`) imports only torch, numpy, sklearn and matplotlib. The engine lives in
:mod:`textmix.engine`, the text task in :mod:`textmix.text`, the image task in ``vision``.
"""

from textmix.core.errors import TextmixError
from textmix.core.losses import confidence_penalty_loss, smooth_targets, soft_target_cross_entropy
from textmix.core.metrics import (
    calibration_report,
    expected_calibration_error,
    overconfidence_error,
)
from textmix.core.mixer import Mixup, MixupPlan
from textmix.core.prediction_report import CalibrationReport, calibrate

__version__ = "0.3.0"


def load_model(source, device="cpu", calibrator=None):
    """A trained text model from a run directory, a model folder or a Hub id, with calibrated
    ``predict_proba`` / ``predict`` (see :func:`textmix.text.predict.load_model`). Imports the
    text stack (transformers, gensim) only when called."""
    from textmix.text.predict import load_model as load

    return load(source, device, calibrator)


__all__ = [
    "CalibrationReport",
    "Calibrator",
    "Method",
    "Mixup",
    "MixupPlan",
    "TextmixError",
    "calibrate",
    "calibration_report",
    "confidence_penalty_loss",
    "expected_calibration_error",
    "load_model",
    "make_calibrator",
    "overconfidence_error",
    "register_calibrator",
    "register_method",
    "smooth_targets",
    "soft_target_cross_entropy",
]
