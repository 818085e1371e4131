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

from textmix.core.assessment import NONE, Assessment, Block, Scores, assess, conformal_predictor, source_probs
from textmix.core.atomic_files import atomic_save_npz, atomic_write_json
from textmix.core.calibrators import Calibrator, as_logits, calibrator_names, get_calibrator, make_calibrator
from textmix.core.conformal.settings import ConformalSettings
from textmix.core.errors import ArgumentError
from textmix.core.metric_table import shown_metrics
from textmix.core.metrics import check_labels, check_probabilities
from textmix.core.noise_floor import DRAWS as FLOOR_DRAWS
from textmix.core.noise_floor import FLOOR_MARK, floor_mark, show_floor
from textmix.core.plots import confidence_histogram, reliability_diagram, save_figure

logger = logging.getLogger(__name__)

KINDS = ("probs", "logits")
# bootstrap intervals cost N × resamples random draws; past this (e.g. 200,000 × 1,000) they are
# skipped: ten million predictions would take minutes, for intervals narrower than 1/sqrt(N)
MAX_BOOTSTRAP_DRAWS = 2 * 10**8
# calibrate's cost grows with N × K in every metric and fit (one N × K softmax a Newton step of the
# temperature fit, tens to hundreds for the calibrators fitted by L-BFGS); a score glob that caught
# other columns usually explains more classes than this
MAX_CLASSES = 1000
# the files of a calibration output folder (textmix calibrate, MixupTrainer's temperature scaling)
CALIBRATION_FILE, RELIABILITY_FILE, CONFIDENCE_FILE = "calibration.json", "reliability.png", "confidence.png"
OOD_SET = "ood"  # the name of the one OOD set calibrate takes


@dataclass
class CalibrationReport:
    """What :func:`calibrate` measured: the :class:`~textmix.core.assessment.Assessment` (the same
    type and numbers a run's ``metrics.json`` holds) and the arrays its figures need.

    Attributes:
        assessment: every block: "none" and each calibrator, on test (and OOD).
        probs: (N, K) uncalibrated test probabilities; logits: (N, K) what the calibrators read.
        labels: (N,) test labels.
    """

    assessment: Assessment
    probs: np.ndarray = field(repr=False)
    logits: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    val: Scores | None = field(default=None, repr=False)
    sets: ConformalSettings | None = field(default=None, repr=False)
    seed: int = 0

    @property
    def n_bins(self) -> int:
        """Reliability bins of the calibration errors."""
        return self.assessment.n_bins

    @property
    def metrics(self) -> dict:
        """Test metrics of the uncalibrated predictions."""
        return self.assessment.test.blocks[NONE].metrics

    @property
    def intervals(self) -> dict:
        """95% bootstrap intervals of the uncalibrated test metrics ({} without)."""
        return self.assessment.test.blocks[NONE].intervals

    @property
    def calibrated(self) -> dict[str, Block]:
        """Calibrator name → its test block (metrics, intervals, validation metrics, conformal sets)."""
        return {name: b for name, b in self.assessment.test.blocks.items() if name != NONE}

    @property
    def chosen(self) -> str | None:
        """The calibrator with the lowest cross-fitted validation NLL (None without a validation split)."""
        return self.assessment.chosen

    @property
    def calibrator(self) -> Calibrator | None:
        """The chosen fitted calibrator (None without a validation split)."""
        return self.assessment.calibrators.get(self.chosen) if self.chosen else None

    @property
    def scaled(self) -> dict | None:
        """Test metrics after the chosen calibrator."""
        return self.calibrated[self.chosen].metrics if self.chosen else None

    @property
    def conformal(self) -> dict:
        """α → score → probability source → set metrics."""
        return self.assessment.conformal_results()

    def to_dict(self) -> dict:
        """The report as plain JSON values (what calibration.json holds)."""
        return self.assessment.to_json()

    def calibrated_probs(self, name: str) -> np.ndarray:
        """(N, K) test probabilities after the fitted calibrator ``name``."""
        return self.assessment.calibrators[name](self.logits.astype(np.float64))

    def label_sets(self) -> dict[tuple[str, float, str], np.ndarray]:
        """(method, α, probabilities) → (N, K) bool: each test example's conformal set, as measured
        (thresholds from the validation split, after each calibrator too)."""
        if self.sets is None or self.val is None:
            return {}
        calibrators = self.assessment.calibrators
        val_probs = source_probs(self.val, calibrators)
        test_probs = source_probs(Scores(self.logits, self.probs), calibrators)
        out = {}
        for alpha in self.sets.alpha:
            for method in self.sets.methods:
                for source, probs in test_probs.items():
                    predictor = conformal_predictor(self.sets, method, alpha, val_probs[source], self.val.labels,
                                                    self.seed)  # fmt: skip
                    out[method, alpha, source] = predictor.predict(probs)
        return out

    def conformal_table(self) -> str:
        """Coverage, mean set size (with 95% intervals), singleton and empty rates per α, method and
        probabilities (uncalibrated, after each calibrator)."""
        lines = [f"{'alpha':>6s} {'method':8s} {'probabilities':20s} {'coverage %':>10s} {'95% interval':>16s} "
                 f"{'mean size':>9s} {'95% interval':>14s} {'size floor':>10s} {'single %':>8s} "
                 f"{'empty %':>7s} {'lowest class coverage %':>24s}"]  # fmt: skip
        for alpha, methods in self.conformal.items():
            for method, by_probs in methods.items():
                for probs, m in by_probs.items():
                    iv = m.get("intervals", {})
                    cov = f"[{100 * iv['coverage']['low']:.2f}, {100 * iv['coverage']['high']:.2f}]" if iv else "—"
                    size = f"[{iv['mean_size']['low']:.2f}, {iv['mean_size']['high']:.2f}]" if iv else "—"
                    rates = f"{100 * m['singleton_rate']:8.2f} {100 * m['empty_rate']:7.2f}"
                    size_floor = f"{m['size_floor']:.2f}" if "size_floor" in m else "—"
                    lines.append(
                        f"{alpha:>6s} {method:8s} {probs:20s} {100 * m['coverage']:10.2f} {cov:>16s} "
                        f"{m['mean_size']:9.2f} {size:>14s} {size_floor:>10s} {rates} {lowest_class(m):>24s}"
                    )
        lines.append("size floor: 1 + max(0, 1 − α − accuracy), the smallest mean size of sets that hold the top "
                     "label whenever they are non-empty and reach the coverage; lowest class: the class whose "
                     "examples are covered least (class id: coverage, n); mondrian sets cover each class")  # fmt: skip
        return "\n".join(lines)

    def table(self) -> str:
        """One row per probability source (uncalibrated, then each calibrator; the chosen one marked):
        the metrics of :func:`~textmix.core.metric_table.shown_metrics` in their units, the 95%
        interval of ECE and the cross-fitted validation NLL; then the OOD AUROC of each source."""
        shown = shown_metrics()
        head = f"{'calibrator':22s} " + " ".join(f"{m.heading:>11s}" for m in shown)
        lines = [head + f" {'ECE 95% interval':>17s} {'ECE floor %':>12s} {'smECE floor %':>13s} {'val NLL (cf)':>12s}"]
        for name, block in self.assessment.test.blocks.items():
            ece = block.intervals.get("ece")
            interval = f"[{100 * ece['low']:.2f}, {100 * ece['high']:.2f}]" if ece else "—"
            val_nll = f"{block.crossfit_val['nll']:.4f}" if block.crossfit_val else ""
            mark = " *" if name == self.chosen else ""
            cells = " ".join(f"{floor_mark(m.show(block.metrics[m.name]), m.name, block):>11s}" for m in shown)
            floors = " ".join(f"{show_floor(block.floor.get(k)):>{w}s}" for k, w in (("ece", 12), ("smooth_ece", 13)))
            lines.append(f"{name + mark:22s} {cells} {interval:>17s} {floors} {val_nll:>12s}")
        chosen = "; * chosen by the lowest cross-fitted validation NLL" if self.chosen else ""
        lines.append(f"n = {self.metrics['n']}{chosen}")
        if any(b.floor for b in self.assessment.test.blocks.values()):
            lines.append(f"floor: mean (95th percentile) of the same estimator for a perfectly calibrated model with "
                         f"these confidences and n; {FLOOR_MARK} at or below the floor's 95th percentile: "
                         "indistinguishable from perfect calibration at this size")  # fmt: skip
        ood = self.assessment.ood.get(OOD_SET)
        if ood is not None:
            aurocs = ", ".join(f"{source} {100 * v['auroc']:.2f}" for source, v in ood.items() if source != "n")
            lines.append("OOD AUROC %: " + aurocs)
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
        for name in self.calibrated:
            probs = self.calibrated_probs(name)
            # uncompressed: probabilities barely compress, and zlib takes seconds a million rows
            written.append(atomic_save_npz(folder / f"calibrated_{name}.npz", False, probs=probs, labels=self.labels))
            figure = reliability_diagram(probs, self.labels, self.n_bins, title=f"after {name}")
            written.append(save_figure(figure, folder / f"reliability_{name}.png"))
        return written


def _check(scores, kind: str, what: str, labels=None) -> np.ndarray:
    """(N, K) scores, checked: finite, and for probabilities in [0, 1] with rows summing to 1;
    labels in 0..K-1. Messages name the row and the fix. Probabilities are float64; logits keep
    float32 or float64 (the uncalibrated probabilities of a run's float32 logits are computed in
    float32, so ``calibrate`` on a run's saved logits gives its numbers; calibrators read float64)."""
    if kind not in KINDS:
        raise ArgumentError(f"kind={kind!r} must be one of {', '.join(KINDS)}")
    x = as_logits(scores.detach().cpu() if isinstance(scores, torch.Tensor) else np.asarray(scores), what)
    if kind == "probs":
        x = x.double()
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


def _scores(x: np.ndarray, kind: str, labels=None) -> Scores:
    y = None if labels is None else np.asarray(labels)
    return Scores.of_probs(x, y) if kind == "probs" else Scores.of_logits(x, y)


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
    floor_draws: int = FLOOR_DRAWS,
    seed: int = 0,
    conformal=(),
    conformal_methods=("lac",),
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
        floor_draws: label draws of the noise floor beside each ECE (:mod:`textmix.core.noise_floor`;
            0: none; fewer for very large N).
        seed: seed of the bootstrap, the noise floor and the cross-fit folds.
        conformal: miscoverage levels α of split-conformal prediction sets calibrated on ``val``
            (coverage, set size...: ``report.conformal``), with raw and calibrated probabilities.
        conformal_methods: conformal scores: lac (the default), aps, raps, saps (these three need
            three or more classes: non-randomized, they put both labels in nearly every two-class set).
    """
    x = _check(scores, kind, "scores", labels)
    if x.shape[1] > MAX_CLASSES:
        raise ArgumentError(f"the scores have {x.shape[1]} columns (classes); calibrate handles up to {MAX_CLASSES}: "
                            "check that the score columns are the model's classes only")  # fmt: skip
    test = _scores(x, kind, labels)
    resamples = _affordable(len(test), bootstrap_resamples)
    val_scores, names = None, ()
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise ArgumentError("val must be a pair (scores (M, K), labels (M,))")
        v = _check(val[0], kind, "validation scores", val[1])
        if v.shape[1] != x.shape[1]:
            raise ArgumentError(f"validation scores have {v.shape[1]} classes, the test scores {x.shape[1]}")
        val_scores, names = _scores(v, kind, val[1]), _calibrators(calibrators, x.shape[1])
    elif conformal:
        raise ArgumentError("conformal prediction sets need a calibration split: give val (--val)")
    ood_sets = {}
    if ood is not None:
        o = _check(ood, kind, "OOD scores")
        if o.shape[1] != x.shape[1]:
            raise ArgumentError(f"OOD scores have {o.shape[1]} classes, the test scores {x.shape[1]}")
        ood_sets[OOD_SET] = _scores(o, kind)
    sets = ConformalSettings(alpha=list(conformal), methods=list(conformal_methods)) if conformal else None
    if sets is not None:
        sets.check_classes(x.shape[1], "drop it from the conformal methods (--conformal-methods)")
    # the conformal thresholds are calibrated on the validation split the calibrators were fitted on
    assessment = assess(val_scores, test, calibrators=names, conformal=sets, conformal_rows=val_scores,
                        n_bins=n_bins, bootstrap=resamples, floor=floor_draws, seed=seed, ood=ood_sets)  # fmt: skip
    return CalibrationReport(assessment, test.probs, test.logits, test.labels, val_scores, sets, seed)


def lowest_class(report: dict) -> str:
    """The least-covered class of a set report as "class: coverage % (n)" of a set report ("—" before textmix 0.4)."""
    by_class = report.get("coverage_by_class")
    if not by_class:
        return "—"
    k, worst = min(by_class.items(), key=lambda item: item[1]["coverage"])
    return f"{k}: {100 * worst['coverage']:.2f} ({worst['n']})"


def _affordable(n: int, resamples: int) -> int:
    """``resamples``, or 0 (with a notice) when n × resamples exceeds MAX_BOOTSTRAP_DRAWS."""
    if n * resamples <= MAX_BOOTSTRAP_DRAWS:
        return resamples
    logger.warning(f"notice: no bootstrap intervals for {n:,} examples × {resamples:,} resamples (more than "
                   f"{MAX_BOOTSTRAP_DRAWS:.0e} draws); at this size they are narrower than {1 / np.sqrt(n):.4f} "
                   "(1/sqrt(N)); fewer resamples (--bootstrap) give some")  # fmt: skip
    return 0


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
