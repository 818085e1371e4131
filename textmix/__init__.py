"""textmix: embedding-layer mixup and calibration for text classifiers.

The modality-free core (:mod:`textmix.core.mixer`, :mod:`textmix.core.losses`, :mod:`textmix.core.metrics`,
:mod:`textmix.core.plots`, :mod:`textmix.core.sampling`, :mod:`textmix.core.splits`, :mod:`textmix.core.atomic_files`,
:mod:`textmix.core.errors`) imports only torch, numpy, sklearn and matplotlib. The engine lives in
:mod:`textmix.engine`, the text task in :mod:`textmix.text`, the image task in ``vision``.

``import textmix`` imports nothing heavy: each name below is imported from its module when first
used, so ``textmix --help`` and ``from textmix.core.errors import ...`` do not load torch.
"""

from textmix.core.lazy_exports import lazy_exports

__version__ = "0.4.0"

# public name → the module that defines it (imported on first use)
_EXPORTS = {
    "TextmixError": "textmix.core.errors",
    "Assessment": "textmix.core.assessment",
    "Scores": "textmix.core.assessment",
    "assess": "textmix.core.assessment",
    "Registry": "textmix.core.registry",
    "UnknownNameError": "textmix.core.registry",
    "confidence_penalty_loss": "textmix.core.losses",
    "smooth_targets": "textmix.core.losses",
    "soft_target_cross_entropy": "textmix.core.losses",
    "calibration_report": "textmix.core.metrics",
    "expected_calibration_error": "textmix.core.metrics",
    "overconfidence_error": "textmix.core.metrics",
    "Mixup": "textmix.core.mixer",
    "MixupPlan": "textmix.core.mixer",
    "CalibrationReport": "textmix.core.prediction_report",
    "calibrate": "textmix.core.prediction_report",
    "Calibrator": "textmix.core.calibrators",
    "make_calibrator": "textmix.core.calibrators",
    "register_calibrator": "textmix.core.calibrators",
    "ConformalPredictor": "textmix.core.conformal",
    "RiskControl": "textmix.core.risk_control",
    "Method": "textmix.core.methods",
    "register_method": "textmix.core.methods",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def load_model(source, device="cpu", calibrator=None):
    """A trained text model from a run directory, a model folder or a Hub id, with calibrated
    ``predict_proba`` / ``predict`` (see :func:`textmix.text.predict.load_model`). Imports the
    text stack (transformers, gensim) only when called."""
    from textmix.text.predict import load_model as load

    return load(source, device, calibrator)


__all__ = [*_EXPORTS, "load_model"]
