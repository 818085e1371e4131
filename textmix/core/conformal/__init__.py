"""Conformal prediction sets: scores (one class each), thresholds, set metrics (see :mod:`.base`)."""

from textmix.core.conformal.base import (
    SCORES,
    ConformalPredictor,
    ConformalScore,
    make_score,
    register_score,
    score_names,
    threshold,
)
from textmix.core.conformal.scores import APS, LAC, RAPS, SAPS
from textmix.core.conformal.set_metrics import set_report

BUILT_IN = (LAC, APS, RAPS, SAPS)
for _cls in BUILT_IN:
    register_score(_cls)

__all__ = [
    "SCORES",
    "APS",
    "LAC",
    "RAPS",
    "SAPS",
    "ConformalPredictor",
    "ConformalScore",
    "make_score",
    "register_score",
    "score_names",
    "set_report",
    "threshold",
]
