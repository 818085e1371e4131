"""textmix: embedding-layer mixup and calibration for text classifiers.

The modality-free core (:mod:`textmix.mixup`, :mod:`textmix.losses`, :mod:`textmix.calibration`)
imports only torch, numpy and sklearn; text dependencies load with the modules that need them.
"""

from textmix.calibration import (
    calibration_report,
    expected_calibration_error,
    overconfidence_error,
)
from textmix.losses import confidence_penalty_loss, smooth_targets, soft_target_cross_entropy
from textmix.mixup import Mixup, MixupPlan

__version__ = "0.1.0"


def __getattr__(name):
    # load_model needs the text stack (transformers, gensim); import it only when asked for
    if name == "load_model":
        from textmix.hub import load_model

        return load_model
    raise AttributeError(f"module 'textmix' has no attribute {name!r}")


__all__ = [
    "Mixup",
    "MixupPlan",
    "calibration_report",
    "load_model",
    "confidence_penalty_loss",
    "expected_calibration_error",
    "overconfidence_error",
    "smooth_targets",
    "soft_target_cross_entropy",
]
