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

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from textmix.core.atomic_files import atomic_save_npz, atomic_write_json
from textmix.core.bootstrap import bootstrap_intervals
from textmix.core.calibrators import (
    Calibrator,
    as_logits,
    calibrator_names,
    crossfit_probs,
    get_calibrator,
    make_calibrator,
    uncalibrated_probs,
)
from textmix.core.conformal import ConformalPredictor, make_score, set_report
from textmix.core.errors import ArgumentError
from textmix.core.metrics import calibration_report, check_labels, check_probabilities, ood_auroc
from textmix.core.plots import confidence_histogram, reliability_diagram, save_figure

logger = logging.getLogger(__name__)

KINDS = ("probs", "logits")
# bootstrap intervals cost N × resamples random draws; past this (e.g. 200,000 × 1,000) they are
# skipped: ten million predictions would take minutes, for intervals narrower than 1/sqrt(N)
MAX_BOOTSTRAP_DRAWS = 2 * 10**8
# the files of a calibration output folder (textmix calibrate, MixupTrainer's temperature scaling)
CALIBRATION_FILE, RELIABILITY_FILE, CONFIDENCE_FILE = "calibration.json", "reliability.png", "confidence.png"
SHOWN = ("accuracy", "ece", "oe", "mce", "nll", "brier", "mean_confidence")


@dataclass
class Calibrated:
    """One calibrator fitted on the validation split and applied to the test predictions.

    Attributes:
        calibrator: the fitted calibrator.
        metrics: test metrics after it.
        crossfit_val: metrics of its out-of-fold validation probabilities (5-fold cross-fit).
        intervals: 95% bootstrap intervals of test accuracy, ECE, OE and AURC after it.
        probs: (N, K) calibrated test probabilities.
    """

    calibrator: Calibrator
    metrics: dict
    crossfit_val: dict
    intervals: dict
    probs: np.ndarray = field(repr=False)


@dataclass
class CalibrationReport:
    """Metrics of one set of predictions, after each fitted calibrator, and OOD AUROC.

    Attributes:
        metrics: ``calibration_report`` of the predictions (accuracy, ECE, OE, MCE, NLL, Brier...).
        intervals: 95% bootstrap intervals of the uncalibrated test metrics.
        calibrated: calibrator name → :class:`Calibrated` (empty without a validation split).
        chosen: the calibrator with the lowest cross-fitted validation NLL (None without one).
        ood: ``n``, ``auroc`` and ``auroc_<calibrator>`` of the winning score (None without).
        n_bins: reliability bins.
    """

    metrics: dict
    n_bins: int = 15
    intervals: dict = field(default_factory=dict)
    calibrated: dict[str, Calibrated] = field(default_factory=dict)
    chosen: str | None = None
    conformal: dict = field(default_factory=dict)  # α → method → probabilities ("none", chosen) → set metrics
    ood: dict | None = None
    probs: np.ndarray = field(default=None, repr=False)  # (N, K), for the figures
    labels: np.ndarray = field(default=None, repr=False)  # (N,)

    @property
    def calibrator(self) -> Calibrator | None:
        """The chosen fitted calibrator (None without a validation split)."""
        return self.calibrated[self.chosen].calibrator if self.chosen else None

    @property
    def scaled(self) -> dict | None:
        """Test metrics after the chosen calibrator."""
        return self.calibrated[self.chosen].metrics if self.chosen else None

    @property
    def temperature(self) -> float | None:
        """T of temperature scaling when it was fitted (None otherwise)."""
        fitted = self.calibrated.get("temperature")
        return fitted.calibrator.temperature if fitted else None

    def to_dict(self) -> dict:
        out = {"n_bins": self.n_bins, "metrics": self.metrics, "intervals": self.intervals}
        if self.calibrated:
            out["chosen"] = self.chosen
            out["calibrated"] = {
                name: {"calibrator": c.calibrator.to_json(), "test": c.metrics, "crossfit_val": c.crossfit_val,
                       "intervals": c.intervals}
                for name, c in self.calibrated.items()
            }  # fmt: skip
        if self.temperature is not None:  # the keys of textmix 0.2's calibration.json
            out.update(temperature=self.temperature, temperature_scaled=self.calibrated["temperature"].metrics)
        if self.conformal:
            out["conformal"] = self.conformal
        if self.ood is not None:
            out["ood"] = self.ood
        return out

    def conformal_table(self) -> str:
        """Coverage, mean set size (with 95% intervals), singleton and empty rates per α, method and
        probabilities (uncalibrated, after the chosen calibrator)."""
        lines = [f"{'alpha':>6s} {'method':8s} {'probabilities':20s} {'coverage %':>10s} {'95% interval':>16s} "
                 f"{'mean size':>9s} {'95% interval':>14s} {'single %':>8s} {'empty %':>7s}"]  # fmt: skip
        for alpha, methods in self.conformal.items():
            for method, by_probs in methods.items():
                for probs, m in by_probs.items():
                    iv = m.get("intervals", {})
                    cov = f"[{100 * iv['coverage']['low']:.2f}, {100 * iv['coverage']['high']:.2f}]" if iv else "—"
                    size = f"[{iv['mean_size']['low']:.2f}, {iv['mean_size']['high']:.2f}]" if iv else "—"
                    rates = f"{100 * m['singleton_rate']:8.2f} {100 * m['empty_rate']:7.2f}"
                    lines.append(
                        f"{alpha:>6s} {method:8s} {probs:20s} {100 * m['coverage']:10.2f} {cov:>16s} "
                        f"{m['mean_size']:9.2f} {size:>14s} {rates}"
                    )
        return "\n".join(lines)

    def table(self) -> str:
        """Without calibrators: the metrics as an aligned text table (percent; NLL and Brier as they
        are). With calibrators: one row per calibrator (and the uncalibrated one), test accuracy,
        ECE with its 95% interval, adaptive ECE, NLL, Brier and the cross-fitted validation NLL."""
        if not self.calibrated:
            lines = [f"{'metric':16s} {'value':>9s}"]
            for key in SHOWN:
                lines.append(f"{key:16s} {(1 if key in ('nll', 'brier') else 100) * self.metrics[key]:9.3f}")
            lines.append(f"{'n':16s} {self.metrics['n']:9d}")
            if self.ood is not None:
                lines.append(f"{'OOD AUROC':16s} {100 * self.ood['auroc']:9.3f}")
            return "\n".join(lines)
        head = f"{'calibrator':22s} {'acc %':>7s} {'ECE %':>7s} {'ECE 95% interval':>17s} {'adaECE %':>8s} " \
               f"{'NLL':>7s} {'Brier':>7s} {'val NLL (cf)':>12s}"  # fmt: skip
        rows = [("none", self.metrics, self.intervals, None)]
        rows += [(name, c.metrics, c.intervals, c.crossfit_val["nll"]) for name, c in self.calibrated.items()]
        lines = [head]
        for name, m, iv, val_nll in rows:
            ece = iv.get("ece")
            interval = f"[{100 * ece['low']:.2f}, {100 * ece['high']:.2f}]" if ece else "—"
            mark = " *" if name == self.chosen else ""
            lines.append(
                f"{name + mark:22s} {100 * m['accuracy']:7.2f} {100 * m['ece']:7.2f} {interval:>17s} "
                f"{100 * m['adaptive_ece']:8.2f} {m['nll']:7.4f} {m['brier']:7.4f} "
                f"{'' if val_nll is None else f'{val_nll:.4f}':>12s}"
            )
        lines.append(f"n = {self.metrics['n']}; * chosen by the lowest cross-fitted validation NLL")
        if self.ood is not None:
            lines.append("OOD AUROC: " + ", ".join(f"{k.removeprefix('auroc_') or 'none'} {100 * v:.2f}"
                                                   for k, v in self.ood.items() if k.startswith("auroc")))  # fmt: skip
        return "\n".join(lines)

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``calibration.json``, ``reliability.png`` and ``confidence.png`` into ``folder``, and
        per calibrator its test probabilities (``calibrated_<name>.npz``: ``probs``, ``labels``) and
        reliability diagram (``reliability_<name>.png``)."""
        folder = Path(folder)
        written = [
            atomic_write_json(folder / CALIBRATION_FILE, self.to_dict()),
            save_figure(
                reliability_diagram(self.probs, self.labels, self.n_bins, title="uncalibrated"),
                folder / RELIABILITY_FILE,
            ),  # fmt: skip
            save_figure(confidence_histogram(self.probs, self.labels, self.n_bins), folder / CONFIDENCE_FILE),
        ]
        for name, c in self.calibrated.items():
            # uncompressed: probabilities barely compress, and zlib takes seconds a million rows
            written.append(atomic_save_npz(folder / f"calibrated_{name}.npz", False, probs=c.probs, labels=self.labels))
            figure = reliability_diagram(c.probs, self.labels, self.n_bins, title=f"after {name}")
            written.append(save_figure(figure, folder / f"reliability_{name}.png"))
        return written


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
    elif len(x) > 1 and bool((x >= 0).all() and (x <= 1).all()) and float((x.sum(1) - 1).abs().max()) < 1e-6:
        raise ArgumentError(f"{what} are given as logits but every row is a probability vector summing to 1; "
                            "pass them as probabilities (--probs, kind='probs')")  # fmt: skip
    if labels is not None:
        y = np.asarray(labels)
        if not np.issubdtype(y.dtype, np.integer):
            raise ArgumentError(f"labels for {what} must be {len(x)} integers, got {y.dtype}")
        check_labels(torch.from_numpy(y), len(x), x.shape[1], what)
    return x.numpy()


def _probs(x: np.ndarray, kind: str) -> np.ndarray:
    return x if kind == "probs" else uncalibrated_probs(x)


def _logits(x: np.ndarray, kind: str) -> np.ndarray:
    return np.log(np.clip(x, 1e-12, 1.0)) if kind == "probs" else x


def calibrate(
    scores,
    labels,
    *,
    kind: str = "probs",
    val=None,
    ood=None,
    n_bins: int = 15,
    calibrators=("temperature",),
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    conformal=(),
    conformal_methods=("lac", "aps", "raps"),
) -> CalibrationReport:
    """Calibration metrics of predictions, after each calibrator fitted on a validation split, with
    bootstrap intervals and OOD AUROC.

    Args:
        scores: (N, K) probabilities or logits of the test examples (numpy or torch, any float dtype).
        labels: (N,) integer labels in 0..K-1.
        kind: ``probs`` or ``logits``: what ``scores`` (and ``val`` and ``ood``) hold.
        val: optional (scores (M, K), labels (M,)) of a validation split: every calibrator is fitted
            there (and cross-fitted, to choose one honestly) and the report gains ``calibrated``.
        ood: optional (P, K) scores of out-of-distribution inputs: the report gains the AUROC of
            the winning score (test = positive class), also after each calibrator.
        n_bins: equal-width reliability bins for ECE / OE / MCE.
        calibrators: registered calibrator names (or unfitted Calibrators), or ``"all"``: every
            registered one that fits K classes.
        bootstrap_resamples: resamples for the 95% intervals (0: none; skipped, with a notice, when
            N × resamples exceeds MAX_BOOTSTRAP_DRAWS).
        seed: seed of the bootstrap and the cross-fit folds.
        conformal: miscoverage levels α of split-conformal prediction sets calibrated on ``val``
            (coverage, set size...: ``report.conformal``), with raw and calibrated probabilities.
        conformal_methods: conformal scores (lac, aps, raps, saps).
    """
    x = _check(scores, kind, "scores", labels)
    y = np.asarray(labels)
    probs = _probs(x, kind)
    report = CalibrationReport(calibration_report(probs, y, n_bins), n_bins, probs=probs, labels=y)
    bootstrap_resamples = _affordable(len(y), bootstrap_resamples)
    report.intervals = _intervals(probs, y, n_bins, bootstrap_resamples, seed)
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise ArgumentError("val must be a pair (scores (M, K), labels (M,))")
        val_scores, val_labels = val
        v = _check(val_scores, kind, "validation scores", val_labels)
        if v.shape[1] != x.shape[1]:
            raise ArgumentError(f"validation scores have {v.shape[1]} classes, the test scores {x.shape[1]}")
        vz, vy, tz = _logits(v, kind), np.asarray(val_labels), _logits(x, kind)
        for calibrator in _calibrators(calibrators, x.shape[1]):
            calibrator.fit(vz, vy)
            crossfit = calibration_report(crossfit_probs(calibrator.name, vz, vy, seed=seed), vy, n_bins)
            scaled = calibrator(tz)
            report.calibrated[calibrator.name] = Calibrated(
                calibrator, calibration_report(scaled, y, n_bins), crossfit, _intervals(scaled, y, n_bins,
                                                                                         bootstrap_resamples, seed),
                scaled,
            )  # fmt: skip
        report.chosen = min(report.calibrated, key=lambda name: report.calibrated[name].crossfit_val["nll"])
        chosen = report.calibrated[report.chosen]
        for alpha in conformal:
            for method in conformal_methods:
                for name, cal_probs, test_probs in (("none", _probs(v, kind), probs),
                                                    (report.chosen, chosen.calibrator(vz), chosen.probs)):  # fmt: skip
                    predictor = ConformalPredictor(make_score(method), alpha, seed=seed).fit(cal_probs, vy)
                    metrics = set_report(predictor.predict(test_probs), y, alpha, bootstrap_resamples, seed)
                    report.conformal.setdefault(f"{alpha:g}", {}).setdefault(method, {})[name] = metrics
    elif conformal:
        raise ArgumentError("conformal prediction sets need a calibration split: give val (--val)")
    if ood is not None:
        o = _check(ood, kind, "OOD scores")
        if o.shape[1] != x.shape[1]:
            raise ArgumentError(f"OOD scores have {o.shape[1]} classes, the test scores {x.shape[1]}")
        report.ood = {"n": len(o), "auroc": ood_auroc(probs.max(1), _probs(o, kind).max(1))}
        for name, c in report.calibrated.items():
            report.ood[f"auroc_{name}"] = ood_auroc(c.probs.max(1), c.calibrator(_logits(o, kind)).max(1))
    return report


def _affordable(n: int, resamples: int) -> int:
    """``resamples``, or 0 (with a notice) when n × resamples exceeds MAX_BOOTSTRAP_DRAWS."""
    if n * resamples <= MAX_BOOTSTRAP_DRAWS:
        return resamples
    logger.warning(f"notice: no bootstrap intervals for {n:,} examples × {resamples:,} resamples (more than "
                   f"{MAX_BOOTSTRAP_DRAWS:.0e} draws); at this size they are narrower than {1 / np.sqrt(n):.4f} "
                   "(1/sqrt(N)); fewer resamples (--bootstrap) give some")  # fmt: skip
    return 0


def _intervals(probs, labels, n_bins: int, resamples: int, seed: int) -> dict:
    return bootstrap_intervals(probs, labels, n_bins, resamples, seed) if resamples else {}


def _calibrators(spec, num_classes: int) -> list[Calibrator]:
    """Unfitted calibrators for ``spec``: names, Calibrators, or "all" (those that fit K classes)."""
    if isinstance(spec, str):
        if spec != "all":
            return [make_calibrator(spec)]
        spec = [name for name in calibrator_names() if not (get_calibrator(name).binary_only and num_classes != 2)]
    calibrators = [make_calibrator(c) if isinstance(c, str) else c for c in spec]
    names = [c.name for c in calibrators]
    if not calibrators or len(set(names)) != len(names):
        raise ArgumentError(f"calibrators must be distinct names, got {names}")
    return calibrators
