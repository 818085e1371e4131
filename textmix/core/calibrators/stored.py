"""A stored calibrator is input (``to_json()`` output read back by :func:`calibrator_from_json`):
before a model uses it, its state is checked against the model's
class count and tried on a fixed probe of logits. What cannot be right is refused in one line
(a state for another class count, a binary-only calibrator on K > 2, probabilities that are not a
distribution); what is finite but says nothing about the model is a warning naming the value (every
probability 0 or 1, the same probabilities for every input, the model's order reversed): a fit on
real validation data does not produce these, a hand-edited or damaged file does.

Example::

    >>> calibrator = calibrator_from_json(saved, "textmix.json field 'calibrator'", num_classes=2)
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from textmix.core.calibrators.base import Calibrator, check_fittable, make_calibrator
from textmix.core.errors import ArgumentError

logger = logging.getLogger(__name__)
PROBE_ROWS, PROBE_SCALE = 512, 4.0  # logits N(0, 4²): a trained classifier's usual spread
ONE_HOT, SAME = 1e-9, 1e-9


def probe_logits(num_classes: int) -> torch.Tensor:
    """The fixed probe: (512, K) float64 logits, the same on every machine."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(PROBE_ROWS, num_classes, generator=generator, dtype=torch.float64) * PROBE_SCALE


def describe(calibrator: Calibrator) -> str:
    """The calibrator with its scalar settings, for messages: ``temperature (temperature=1e-05)``."""
    values = [f"{k}={v:.4g}" for k, v in calibrator.state_dict().items() if isinstance(v, float)]
    return f"{calibrator.name} ({', '.join(values)})" if values else calibrator.name


def check_stored(calibrator: Calibrator, num_classes: int, where: str) -> Calibrator:
    """Refuse a loaded calibrator that cannot serve a ``num_classes`` model; warn about one that is
    finite but degenerate. Returns it."""
    try:
        check_fittable(type(calibrator), num_classes)
    except ArgumentError as error:
        raise ArgumentError(f"{where}: {error}") from None
    classes = calibrator.state_classes()
    if classes is not None and classes != num_classes:
        raise ArgumentError(f"{where} ({calibrator.name}) holds a state for {classes} classes but the model has "
                            f"{num_classes}: it belongs to another model")  # fmt: skip
    raw = torch.softmax(probe_logits(num_classes), dim=1).numpy()
    probs = calibrator(probe_logits(num_classes))
    if not np.isfinite(probs).all() or np.abs(probs.sum(axis=1) - 1).max() > 1e-6 or (probs < 0).any():
        raise ArgumentError(f"{where}: {describe(calibrator)} gives values that are not probabilities "
                            "(NaN, negative or rows not summing to 1); fit the calibrator again")  # fmt: skip
    said = f"{where}: {describe(calibrator)}"
    if (probs.max(axis=1) >= 1 - ONE_HOT).mean() >= 0.99:
        logger.warning("%s makes nearly every probability 0 or 1: its confidences carry no information", said)
    elif probs.std(axis=0).max() < SAME:
        logger.warning("%s gives the same probabilities whatever the model says", said)
    elif np.mean([np.corrcoef(raw[:, k], probs[:, k])[0, 1] for k in range(num_classes)]) < 0:
        logger.warning("%s reverses the order of the model's scores (a likelier class gets less probability)", said)
    return calibrator


def calibrator_from_json(saved, where: str = "the saved calibrator", num_classes: int | None = None) -> Calibrator:
    """A fitted calibrator from ``to_json()`` output; a damaged or unknown one is named. With
    ``num_classes`` (the model's), the state is also checked against it
    (:func:`check_stored`)."""
    if (
        not isinstance(saved, dict)
        or not isinstance(saved.get("name"), str)
        or not isinstance(saved.get("state"), dict)
    ):
        raise ArgumentError(f"{where} must be {{'name': str, 'state': {{...}}}}, got {str(saved)[:100]}")
    calibrator = make_calibrator(saved["name"])
    try:
        calibrator.load_state_dict(saved["state"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArgumentError(f"{where} ({saved['name']}) holds an invalid state: {error}") from None
    if num_classes is not None:
        check_stored(calibrator, num_classes, where)
    return calibrator
