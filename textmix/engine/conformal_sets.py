"""Conformal prediction sets of a trained model (``eval.conformal``): which validation examples
calibrate them, their metrics on test, and the calibration scores kept with the model."""

from __future__ import annotations

import numpy as np

from textmix.core.calibrators import Calibrator, uncalibrated_probs
from textmix.core.conformal import SCORES, ConformalPredictor, make_score, score_names, set_report
from textmix.core.splits import stratified_split
from textmix.engine.sections import ConformalSettings


def settings_of(values: dict) -> ConformalSettings:
    return ConformalSettings.parse(values, score_names())


def validation_rows(labels: np.ndarray, split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows that select the epoch and fit the calibrators, rows that calibrate the conformal sets):
    both all of validation when ``split`` is 0, else a seeded stratified carve-out of ``split``."""
    everything = np.arange(len(labels))
    if not split:
        return everything, everything
    rest, carved = stratified_split(labels, split, seed)
    return np.sort(rest), np.sort(carved)


def conformal_report(
    settings: ConformalSettings, calibrators: dict[str, Calibrator], val: tuple, test: tuple, resamples: int, seed: int
) -> dict:
    """Per α and method: set metrics on test with uncalibrated probabilities ("none") and after
    each fitted calibrator (by its name), so that every method × calibrator cell has its sets.

    Args:
        calibrators: the run's fitted calibrators by name.
        val: (logits, labels) of the conformal calibration rows.
        test: (logits, labels) of the split the sets are measured on (test, or a shifted domain).
        resamples: bootstrap resamples for the intervals of coverage and size (0: none).
    """
    probabilities = {"none": uncalibrated_probs, **calibrators}
    scored = {name: (probs(val[0]), probs(test[0])) for name, probs in probabilities.items()}
    results = {}
    for alpha in settings.alpha:
        for method in settings.methods:
            for name, (val_probs, test_probs) in scored.items():
                sets = fitted(settings, method, alpha, val_probs, val[1], seed).predict(test_probs)
                report = set_report(sets, test[1], alpha, resamples, seed)
                results.setdefault(f"{alpha:g}", {}).setdefault(method, {})[name] = report
    return results


def fitted(settings: ConformalSettings, method: str, alpha: float, probs, labels, seed: int) -> ConformalPredictor:
    score = make_score(method, settings.randomized and SCORES.get(method).can_randomize)
    return ConformalPredictor(score, alpha, settings.mondrian, seed).fit(probs, labels)


def saved_scores(settings: ConformalSettings, probs: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """What ``predict --conformal`` needs, per method (non-randomized): the score's settings and the
    sorted calibration scores of the true labels (per class for Mondrian sets), so that any α gives
    the exact threshold; no text and no label leaves the run."""
    out = {}
    for method in settings.methods:
        # non-randomized, as predict uses them; RAPS tunes k_reg and λ at α = 0.1
        predictor = ConformalPredictor(make_score(method), 0.1, settings.mondrian, seed).fit(probs, labels)
        rows = predictor.calibration_rows
        scores, kept = predictor.true_label_scores(probs[rows], labels[rows]), labels[rows]
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
