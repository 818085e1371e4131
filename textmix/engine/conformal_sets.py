"""Conformal prediction sets of a trained model (``eval.conformal``): which validation examples
calibrate them and the calibration scores kept with the model (their metrics on test and shifted
sets: :func:`textmix.core.assessment.assess`)."""

from __future__ import annotations

import warnings

import numpy as np

from textmix.core.conformal import ConformalPredictor, make_score
from textmix.core.conformal.settings import ConformalSettings
from textmix.core.splits import stratified_split


def settings_of(values: dict) -> ConformalSettings:
    return ConformalSettings.parse(values)


def validation_rows(labels: np.ndarray, split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows that select the epoch and fit the calibrators, rows that calibrate the conformal sets):
    both all of validation when ``split`` is 0, else a seeded stratified carve-out of ``split``."""
    everything = np.arange(len(labels))
    if not split:
        return everything, everything
    rest, carved = stratified_split(labels, split, seed)
    return np.sort(rest), np.sort(carved)


def saved_scores(settings: ConformalSettings, probs: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """What ``predict --conformal`` needs, per method (non-randomized; LAC, APS and RAPS always, besides
    ``eval.conformal.methods``, less those that cannot inform on two classes): the score's settings and
    the sorted calibration scores of the true labels (per class for Mondrian sets), so that any α gives
    the exact threshold; no text and no label leaves the run."""
    out = {}
    for method in dict.fromkeys(["lac", "aps", "raps", *settings.methods]):
        score = make_score(method)
        if probs.shape[1] == 2 and score.binary_needs_randomizing:
            continue
        # RAPS tunes k_reg and λ at α = 0.1
        predictor = ConformalPredictor(score, 0.1, settings.mondrian, seed)
        with warnings.catch_warnings():
            if method not in settings.methods:  # stored for predict, not asked for: no tuning-size warning
                warnings.simplefilter("ignore", UserWarning)
            kept_probs, kept = (t.numpy() for t in predictor.prepare(probs, labels))
        scores = predictor.true_label_scores(kept_probs, kept)
        if settings.mondrian:
            sorted_scores = [np.sort(scores[kept == k]).tolist() for k in range(probs.shape[1])]
        else:
            sorted_scores = np.sort(scores).tolist()
        out[method] = {
            "score_state": predictor.score.state_dict(),
            "mondrian": settings.mondrian,
            "sorted_scores": sorted_scores,
        }
    return out
