"""textmix: embedding-layer mixup and calibration for text classifiers.

The modality-free core (:mod:`textmix.mixup`, :mod:`textmix.losses`, :mod:`textmix.calibration`,
:mod:`textmix.plots`, :mod:`textmix.sampling`, :mod:`textmix.splits`, :mod:`textmix.io`,
:mod:`textmix.errors`) imports only torch, numpy, sklearn and matplotlib. The engine lives in
:mod:`textmix.engine`, the text task in :mod:`textmix.text`, the image task in ``vision``.
"""

from textmix.calibrate import CalibrationReport, calibrate
from textmix.calibration import (
    calibration_report,
    expected_calibration_error,
    overconfidence_error,
)
from textmix.errors import TextmixError
from textmix.losses import confidence_penalty_loss, smooth_targets, soft_target_cross_entropy
from textmix.mixup import Mixup, MixupPlan

__version__ = "0.2.0"


def load_model(source, device="cpu"):
    """A trained text model from a run directory, a model folder or a Hub id, with calibrated
    ``predict_proba`` / ``predict`` (see :func:`textmix.text.predict.load_model`). Imports the
    text stack (transformers, gensim) only when called."""
    from textmix.text.predict import load_model as load

    return load(source, device)


__all__ = [
    "CalibrationReport",
    "Mixup",
    "MixupPlan",
    "TextmixError",
    "calibrate",
    "calibration_report",
    "confidence_penalty_loss",
    "expected_calibration_error",
    "load_model",
    "overconfidence_error",
    "smooth_targets",
    "soft_target_cross_entropy",
]
