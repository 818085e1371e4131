"""vision: the paper's image experiments on textmix's mixer, losses and calibration evaluator.

Imports only the modality-free parts of textmix (never its text pipeline).
"""

from textmix.core.losses import soft_target_cross_entropy
from textmix.core.metrics import calibration_report
from textmix.core.mixer import Mixup, MixupPlan

__all__ = ["Mixup", "MixupPlan", "calibration_report", "soft_target_cross_entropy"]
