"""Calibration of any model's predictions: ``textmix.calibrate(scores, labels, ...)``.

    report = textmix.calibrate(logits, labels, kind="logits", val=(val_logits, val_labels))
    print(report.table())
    report.save("calibration/")      # calibration.json, reliability.png, confidence.png

Scores are probabilities (N, K) or logits (N, K). With a validation split, a calibrator (temperature
scaling by default) is fitted there (on logits; probabilities are turned into log-probabilities,
which softmax maps back) and the metrics are reported before and after; with out-of-distribution
scores, the AUROC of the winning score tells them apart from the test inputs. Imports numpy, torch and matplotlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from textmix.core.atomic_files import atomic_write_json
from textmix.core.calibrators import Calibrator, TemperatureScaling, as_logits, make_calibrator, softmax_probs
from textmix.core.errors import ArgumentError
from textmix.core.metrics import calibration_report, check_labels, check_probabilities, ood_auroc
from textmix.core.plots import confidence_histogram, reliability_diagram, save_figure

KINDS = ("probs", "logits")
# the files of a calibration output folder (textmix calibrate, MixupTrainer's temperature scaling)
CALIBRATION_FILE, RELIABILITY_FILE, CONFIDENCE_FILE = "calibration.json", "reliability.png", "confidence.png"
SHOWN = ("accuracy", "ece", "oe", "mce", "nll", "brier", "mean_confidence")


@dataclass
class CalibrationReport:
    """Metrics of one set of predictions (and after a fitted calibrator, and OOD AUROC).

    Attributes:
        metrics: ``calibration_report`` of the predictions (accuracy, ECE, OE, MCE, NLL, Brier...).
        calibrator: the calibrator fitted on the validation split (None without one).
        scaled: the metrics after the calibrator (None without a validation split).
        ood: ``n``, ``auroc`` (and ``auroc_temperature_scaled``) of the winning score (None without).
        n_bins: reliability bins.
    """

    metrics: dict
    n_bins: int = 15
    calibrator: Calibrator | None = None
    scaled: dict | None = None
    ood: dict | None = None
    probs: np.ndarray = field(default=None, repr=False)  # (N, K), for the figures
    labels: np.ndarray = field(default=None, repr=False)  # (N,)

    @property
    def temperature(self) -> float | None:
        """T of a temperature-scaling calibrator (None for others and without one)."""
        return self.calibrator.temperature if isinstance(self.calibrator, TemperatureScaling) else None

    def to_dict(self) -> dict:
        out = {"n_bins": self.n_bins, "metrics": self.metrics}
        if self.calibrator is not None:
            out.update(calibrator=self.calibrator.to_json(), calibrated=self.scaled)
        if self.temperature is not None:  # the keys of textmix 0.2's calibration.json
            out.update(temperature=self.temperature, temperature_scaled=self.scaled)
        if self.ood is not None:
            out["ood"] = self.ood
        return out

    def table(self) -> str:
        """The metrics as an aligned text table (percent, NLL and Brier as they are)."""
        head = f"{'metric':16s} {'value':>9s}" + (f" {'after T':>9s}" if self.scaled else "")
        lines = [head]
        for key in SHOWN:
            scale = 1 if key in ("nll", "brier") else 100
            row = f"{key:16s} {scale * self.metrics[key]:9.3f}"
            lines.append(row + (f" {scale * self.scaled[key]:9.3f}" if self.scaled else ""))
        lines.append(f"{'n':16s} {self.metrics['n']:9d}")
        if self.temperature is not None:
            lines.append(f"{'temperature':16s} {self.temperature:9.4f}")
        if self.ood is not None:
            lines.append(f"{'OOD AUROC':16s} {100 * self.ood['auroc']:9.3f}" + (
                f" {100 * self.ood['auroc_temperature_scaled']:9.3f}" if self.scaled else ""
            ))  # fmt: skip
        return "\n".join(lines)

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``calibration.json``, ``reliability.png`` and ``confidence.png`` into ``folder``."""
        folder = Path(folder)
        return [
            atomic_write_json(folder / CALIBRATION_FILE, self.to_dict()),
            save_figure(reliability_diagram(self.probs, self.labels, self.n_bins), folder / RELIABILITY_FILE),
            save_figure(confidence_histogram(self.probs, self.labels, self.n_bins), folder / CONFIDENCE_FILE),
        ]


def _check(scores, kind: str, what: str, labels=None) -> np.ndarray:
    """(N, K) float64 scores, checked: finite, and for probabilities in [0, 1] with rows summing to 1;
    labels in 0..K-1. Messages name the row and the fix."""
    if kind not in KINDS:
        raise ArgumentError(f"kind={kind!r} must be one of {', '.join(KINDS)}")
    x = as_logits(scores.detach().cpu() if isinstance(scores, torch.Tensor) else np.asarray(scores), what).double()
    if len(x) == 0:
        raise ArgumentError(f"{what} must have shape (N, K) with N >= 1, got {tuple(x.shape)}")
    if kind == "probs":
        check_probabilities(x, what, fix="use --logits (kind='logits')")
    if labels is not None:
        y = np.asarray(labels)
        if not np.issubdtype(y.dtype, np.integer):
            raise ArgumentError(f"labels for {what} must be {len(x)} integers, got {y.dtype}")
        check_labels(torch.from_numpy(y), len(x), x.shape[1], what)
    return x.numpy()


def _probs(x: np.ndarray, kind: str) -> np.ndarray:
    return x if kind == "probs" else softmax_probs(torch.from_numpy(x))


def _logits(x: np.ndarray, kind: str) -> np.ndarray:
    return np.log(np.clip(x, 1e-12, 1.0)) if kind == "probs" else x


def calibrate(
    scores, labels, *, kind: str = "probs", val=None, ood=None, n_bins: int = 15, calibrator="temperature"
) -> CalibrationReport:
    """Calibration metrics of predictions, optionally calibrated and with OOD AUROC.

    Args:
        scores: (N, K) probabilities or logits of the test examples (numpy or torch).
        labels: (N,) integer labels in 0..K-1.
        kind: ``probs`` or ``logits``: what ``scores`` (and ``val`` and ``ood``) hold.
        val: optional (scores (M, K), labels (M,)) of a validation split: ``calibrator`` is fitted
            there and the report gains ``calibrator`` and ``scaled``.
        ood: optional (P, K) scores of out-of-distribution inputs: the report gains the AUROC of
            the winning score (test = positive class).
        n_bins: equal-width reliability bins for ECE / OE / MCE.
        calibrator: a registered calibrator's name or an unfitted :class:`Calibrator`.
    """
    x = _check(scores, kind, "scores", labels)
    y = np.asarray(labels)
    probs = _probs(x, kind)
    report = CalibrationReport(calibration_report(probs, y, n_bins), n_bins, probs=probs, labels=y)
    scaled_probs = None
    if val is not None:
        val_scores, val_labels = val
        v = _check(val_scores, kind, "validation scores", val_labels)
        if v.shape[1] != x.shape[1]:
            raise ArgumentError(f"validation scores have {v.shape[1]} classes, the test scores {x.shape[1]}")
        report.calibrator = make_calibrator(calibrator) if isinstance(calibrator, str) else calibrator
        report.calibrator.fit(_logits(v, kind), np.asarray(val_labels))
        scaled_probs = report.calibrator(_logits(x, kind))
        report.scaled = calibration_report(scaled_probs, y, n_bins)
    if ood is not None:
        o = _check(ood, kind, "OOD scores")
        if o.shape[1] != x.shape[1]:
            raise ArgumentError(f"OOD scores have {o.shape[1]} classes, the test scores {x.shape[1]}")
        report.ood = {"n": len(o), "auroc": ood_auroc(probs.max(1), _probs(o, kind).max(1))}
        if scaled_probs is not None:
            scaled_ood = report.calibrator(_logits(o, kind))
            report.ood["auroc_temperature_scaled"] = ood_auroc(scaled_probs.max(1), scaled_ood.max(1))
    return report
