"""One assessment of a classifier's probabilities: produced once, by :func:`assess`, for a run's
``metrics.json``, ``textmix calibrate`` / ``textmix.calibrate()`` and ``MixupTrainer`` alike.

The grid it fills: {uncalibrated ("none"), each fitted calibrator} × {metrics, bootstrap intervals,
validation metrics (in-sample and cross-fitted), conformal sets per α and score} for the test set
and for every shifted (labelled) set, and the AUROC of the winning score against every
out-of-distribution (unlabelled) set. Arrays in, no model, no accelerate::

    from textmix import Scores, assess
    result = assess(Scores.of_logits(val_logits, val_labels), Scores.of_logits(test_logits, test_labels),
                    calibrators=["temperature", "isotonic"], bootstrap=1000, seed=0)
    result.test.blocks["temperature"].metrics["ece"]    # test ECE after temperature scaling
    result.chosen                                       # the calibrator kept with a model
    Assessment.from_json(json.loads(Path("runs/x/metrics.json").read_text()))  # any textmix version

Calibrated probabilities always come from float64 logits (calibrators are fitted in float64; the
cross-fit, the intervals, conformal sets and OOD tables too); uncalibrated ones from the logits as
given (a model's float32 logits give the probabilities ``predict`` gives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from textmix.core.assessment_legacy import LAYOUT, NONE, upgrade
from textmix.core.bootstrap import bootstrap_intervals
from textmix.core.calibrators import (
    Calibrator,
    calibrator_from_json,
    can_crossfit,
    choose_calibrator,
    crossfit_reports,
    make_calibrator,
    uncalibrated_probs,
)
from textmix.core.conformal import ConformalPredictor, make_score, set_report
from textmix.core.conformal.settings import ConformalSettings
from textmix.core.metrics import calibration_report, ood_auroc
from textmix.core.noise_floor import DRAWS as FLOOR_DRAWS
from textmix.core.noise_floor import affordable_draws, noise_floor


@dataclass
class Scores:
    """One set's scores: the logits calibrators read, the uncalibrated probabilities and labels.

    Attributes:
        logits: (N, K) logits (for probabilities: their logarithm, which softmax maps back).
        probs: (N, K) uncalibrated probabilities.
        labels: (N,) integer labels, or None for an unlabelled (out-of-distribution) set.
    """

    logits: np.ndarray
    probs: np.ndarray
    labels: np.ndarray | None = None

    @classmethod
    def of_logits(cls, logits, labels=None) -> Scores:
        return cls(np.asarray(logits), uncalibrated_probs(logits), None if labels is None else np.asarray(labels))

    @classmethod
    def of_probs(cls, probs, labels=None) -> Scores:
        probs = np.asarray(probs)
        return cls(np.log(np.clip(probs, 1e-12, 1.0)), probs, None if labels is None else np.asarray(labels))

    def rows(self, index: np.ndarray) -> Scores:
        return Scores(self.logits[index], self.probs[index], None if self.labels is None else self.labels[index])

    def __len__(self) -> int:
        return len(self.probs)


@dataclass
class Block:
    """What one probability source measured on one set.

    Attributes:
        metrics: ``calibration_report`` of the set (accuracy, ECE, OE, MCE, NLL, Brier, AURC, ...).
        intervals: metric → {low, high, std}: 95% bootstrap intervals ({} without a bootstrap).
        val: metrics on the validation rows the calibrators were fitted on (in-sample for a
            calibrator: optimistic; test set blocks only).
        crossfit_val: metrics of the calibrator's out-of-fold validation probabilities (5-fold).
        calibrator: the fitted calibrator as ``Calibrator.to_json()`` (None for "none").
        conformal: α ("0.1") → score → set report (coverage, mean size, ...).
        floor: metric → {mean, p95}: the noise floor of each calibration error, what a perfectly
            calibrated model with these confidences would measure (:mod:`textmix.core.noise_floor`;
            {} when not computed).
    """

    metrics: dict
    intervals: dict = field(default_factory=dict)
    val: dict | None = None
    crossfit_val: dict | None = None
    calibrator: dict | None = None
    conformal: dict = field(default_factory=dict)
    floor: dict = field(default_factory=dict)


@dataclass
class SetAssessment:
    """A labelled set: one block per source, "none" first, then the calibrators (the chosen first)."""

    n: int
    blocks: dict[str, Block]


@dataclass
class Assessment:
    """The whole grid (see the module docstring).

    Attributes:
        n_bins: equal-width bins of ECE / OE / MCE.
        test: the test set.
        chosen: the calibrator kept with a model (None without calibrators).
        choice: how it was chosen: the setting ("auto" or a name).
        shift: name → a labelled set of another domain (calibrators and conformal thresholds
            fitted in-domain).
        ood: name → {"n", source → {auroc, mean_winning_score_in, mean_winning_score_out}}.
        conformal_split: share of validation carved for conformal calibration (0: all of it).
        n_calibration: conformal calibration rows (None without conformal sets).
    """

    n_bins: int
    test: SetAssessment
    chosen: str | None = None
    choice: str | None = None
    shift: dict[str, SetAssessment] = field(default_factory=dict)
    ood: dict[str, dict] = field(default_factory=dict)
    conformal_split: float = 0.0
    n_calibration: int | None = None
    fitted: dict[str, Calibrator] = field(default_factory=dict, repr=False, compare=False)

    @property
    def calibrators(self) -> dict[str, Calibrator]:
        """The fitted calibrators by name, the chosen one first (rebuilt from their JSON when read
        back from a file)."""
        if self.fitted:
            return self.fitted
        return {n: calibrator_from_json(b.calibrator) for n, b in self.test.blocks.items() if b.calibrator}

    def conformal_results(self) -> dict:
        """α → score → source → set report on the test set ({} without conformal sets)."""
        return _conformal_results(self.test)

    def block(self, source: str) -> Block | None:
        """The test block of ``source`` ("none" or a calibrator name), None when it was not fitted."""
        return self.test.blocks.get(source)

    def to_json(self) -> dict:
        """The layout of ``metrics.json`` (merged with a run's other records) and calibration.json."""
        none = self.test.blocks[NONE]
        out = {"assessment": LAYOUT, "n_bins": self.n_bins, "val": none.val, "test": none.metrics}
        if none.intervals:
            out["intervals"] = {"test": none.intervals}
        if none.floor:
            out["floor"] = {"test": none.floor}
        calibrated = {name: _block_json(b, with_val=True) for name, b in self.test.blocks.items() if name != NONE}
        if calibrated:
            out["calibrated"] = calibrated
            out["calibrator_choice"] = {"chosen": self.chosen, "setting": self.choice}
        results = self.conformal_results()
        if results:
            out["conformal"] = {"split": self.conformal_split, "n_calibration": self.n_calibration, "results": results}
        if self.ood:
            out["ood"] = self.ood
        if self.shift:
            out["shift"] = {name: _set_json(s) for name, s in self.shift.items()}
        return out

    @classmethod
    def from_json(cls, data: dict) -> Assessment:
        """An assessment from :meth:`to_json` output or from any ``metrics.json``, ``evaluation.json``
        or ``calibration.json`` that textmix 0.2 or 0.3 wrote (see :mod:`textmix.core.assessment_legacy`)."""
        data = upgrade(data)
        none = Block(data["test"], data.get("intervals", {}).get("test", {}), data.get("val"),
                     floor=data.get("floor", {}).get("test", {}))  # fmt: skip
        test = _blocks_from_json(int(data["test"].get("n", 0)), none, data.get("calibrated", {}),
                                 data.get("conformal", {}).get("results", {}))  # fmt: skip
        choice = data.get("calibrator_choice", {})
        conformal = data.get("conformal")
        return cls(
            n_bins=int(data.get("n_bins", 15)),
            test=test,
            chosen=choice.get("chosen"),
            choice=choice.get("setting"),
            shift={name: _shift_from_json(s) for name, s in data.get("shift", {}).items()},
            ood=data.get("ood", {}),
            conformal_split=conformal.get("split", 0.0) if conformal else 0.0,
            n_calibration=conformal.get("n_calibration") if conformal else None,
        )


def _block_json(block: Block, with_val: bool) -> dict:
    out = {"test": block.metrics}
    if block.calibrator is not None:
        out["calibrator"] = block.calibrator
    if with_val and block.val is not None:
        out["val"] = block.val
    if block.crossfit_val is not None:
        out["crossfit_val"] = block.crossfit_val
    if block.intervals:
        out["intervals"] = block.intervals
    if block.floor:
        out["floor"] = block.floor
    return out


def _block_from_json(data: dict) -> Block:
    return Block(data["test"], data.get("intervals", {}), data.get("val"), data.get("crossfit_val"),
                 data.get("calibrator"), floor=data.get("floor", {}))  # fmt: skip


def _conformal_results(s: SetAssessment) -> dict:
    """α → score → source → set report (the blocks' conformal reports, regrouped)."""
    out = {}
    for source, block in s.blocks.items():
        for alpha, by_score in block.conformal.items():
            for score, report in by_score.items():
                out.setdefault(alpha, {}).setdefault(score, {})[source] = report
    return out


def _set_json(s: SetAssessment) -> dict:
    none = s.blocks[NONE]
    out = {"n": s.n, "test": none.metrics}
    if none.intervals:
        out["intervals"] = none.intervals
    if none.floor:
        out["floor"] = none.floor
    out["calibrated"] = {name: _block_json(b, with_val=False) for name, b in s.blocks.items() if name != NONE}
    results = _conformal_results(s)
    if results:
        out["conformal"] = results
    return out


def _shift_from_json(s: dict) -> SetAssessment:
    none = Block(s["test"], s.get("intervals", {}), floor=s.get("floor", {}))
    return _blocks_from_json(int(s.get("n", 0)), none, s.get("calibrated", {}), s.get("conformal", {}))


def _blocks_from_json(n: int, none: Block, calibrated: dict, conformal: dict) -> SetAssessment:
    blocks = {NONE: none, **{name: _block_from_json(b) for name, b in calibrated.items()}}
    for alpha, by_score in conformal.items():
        for score, by_source in by_score.items():
            for source, report in by_source.items():
                if source in blocks:
                    blocks[source].conformal.setdefault(alpha, {})[score] = report
    return SetAssessment(n, blocks)


def assess(
    val: Scores | None,
    test: Scores,
    *,
    calibrators=(),
    choose: str = "auto",
    conformal: ConformalSettings | None = None,
    conformal_rows: Scores | None = None,
    n_bins: int = 15,
    bootstrap: int = 1000,
    floor: int = FLOOR_DRAWS,
    seed: int = 0,
    shift: dict[str, Scores] | None = None,
    ood: dict[str, Scores] | None = None,
    extra_sources: dict[str, dict[str, np.ndarray]] | None = None,
) -> Assessment:
    """Measure ``test`` (and every shifted and OOD set) uncalibrated and after each calibrator.

    Args:
        val: the validation rows every calibrator is fitted (and cross-fitted) on; None: no
            calibrators (metrics of the uncalibrated test set only).
        test: the test set (labelled).
        calibrators: registered calibrator names or unfitted Calibrator objects.
        choose: the calibrator to keep: ``auto`` (the lowest cross-fitted validation NLL) or a name.
        conformal: the conformal sets to measure (α levels, scores, Mondrian, randomized); with
            ``conformal_rows``, the labelled rows their thresholds are calibrated on (not used by the
            calibrators).
        n_bins: equal-width bins of ECE / OE / MCE.
        bootstrap: resamples of 95% intervals (0: none).
        floor: label draws of the noise floor of each calibration error (:mod:`textmix.core.noise_floor`;
            smooth ECE takes the first fifth of them; 0: none).
        seed: seed of the bootstrap, the noise floor, the cross-fit folds and randomized conformal scores.
        shift: labelled sets of another domain, measured like ``test`` (no validation metrics).
        ood: unlabelled out-of-distribution sets: AUROC of the winning score against ``test``.
        extra_sources: further probability sources (e.g. MC dropout): name → {"test": probs,
            <ood name>: probs}; they enter the OOD table only.
    """
    fitted = _fit_calibrators(val, calibrators)
    names = list(fitted)
    # cross-fitted validation metrics for every calibrator; a split too small for folds is refused
    # only where a choice among several needs them
    crossfit = {}
    if names and (len(names) > 1 or can_crossfit(len(val))):
        classes = [type(fitted[name]) for name in names]  # a program's unregistered calibrators too
        crossfit = crossfit_reports(classes, val.logits.astype(np.float64), val.labels, n_bins, seed)
    chosen = choose_calibrator(choose, names, crossfit)
    ordered = {name: fitted[name] for name in sorted(names, key=lambda n: n != chosen)}
    measure = _Measure(n_bins, bootstrap, floor, seed, conformal, conformal_rows)
    test_set = measure(test, ordered)
    none = test_set.blocks[NONE]
    if val is not None:
        none.val = calibration_report(val.probs, val.labels, n_bins)
    for name, calibrator in ordered.items():
        block = test_set.blocks[name]
        block.val = calibration_report(calibrator(val.logits.astype(np.float64)), val.labels, n_bins)
        block.crossfit_val = crossfit.get(name)
        block.calibrator = calibrator.to_json()
    result = Assessment(n_bins, test_set, chosen, choose if names else None, fitted=ordered)
    for name, scores in (shift or {}).items():
        # the seeds' spread gives the intervals of conformal sets here: no bootstrap of a large shifted set
        result.shift[name] = measure(scores, ordered, conformal_resamples=0)
    if ood:
        in_probs = _source_probs(test, ordered) | {k: v["test"] for k, v in (extra_sources or {}).items()}
        for name, scores in ood.items():
            out_probs = _source_probs(scores, ordered) | {k: v[name] for k, v in (extra_sources or {}).items()}
            result.ood[name] = {"n": len(scores), **_ood_table(in_probs, out_probs)}
    if conformal is not None and conformal.alpha and conformal_rows is not None:
        result.conformal_split, result.n_calibration = conformal.split, len(conformal_rows)
    return result


def _fit_calibrators(val: Scores | None, calibrators) -> dict[str, Calibrator]:
    """Every calibrator fitted on ``val`` (float64 logits), by name, in the order given."""
    if val is None or not calibrators:
        return {}
    made = [make_calibrator(c) if isinstance(c, str) else c for c in calibrators]
    return {c.name: c.fit(val.logits.astype(np.float64), val.labels) for c in made}


def _source_probs(scores: Scores, calibrators: dict[str, Calibrator]) -> dict[str, np.ndarray]:
    """Probabilities of every source: uncalibrated as given, calibrated from float64 logits."""
    logits = scores.logits.astype(np.float64)
    return {NONE: scores.probs, **{name: c(logits) for name, c in calibrators.items()}}


@dataclass
class _Measure:
    """Metrics, intervals, noise floors and conformal sets of every source on one labelled set."""

    n_bins: int
    bootstrap: int
    floor: int
    seed: int
    conformal: ConformalSettings | None
    rows: Scores | None

    def __call__(self, scores: Scores, calibrators, conformal_resamples: int | None = None) -> SetAssessment:
        probs = _source_probs(scores, calibrators)
        blocks = {}
        for source, p in probs.items():
            labels, seed = scores.labels, self.seed
            intervals = bootstrap_intervals(p, labels, self.n_bins, self.bootstrap, seed) if self.bootstrap else {}
            draws = affordable_draws(len(p), self.floor)
            floor = noise_floor(p.max(1), self.n_bins, draws, self.floor // 5, seed) if draws else {}
            blocks[source] = Block(calibration_report(p, labels, self.n_bins), intervals, floor=floor)
        settings, rows = self.conformal, self.rows
        if settings is not None and settings.alpha and rows is not None:
            calibration = _source_probs(rows, calibrators)
            resamples = self.bootstrap if conformal_resamples is None else conformal_resamples
            for alpha in settings.alpha:
                for method in settings.methods:
                    for source, p in probs.items():
                        predictor = conformal_predictor(settings, method, alpha, calibration[source], rows.labels,
                                                        self.seed)  # fmt: skip
                        report = set_report(predictor.predict(p), scores.labels, alpha, resamples, self.seed,
                                            accuracy=blocks[source].metrics["accuracy"])  # fmt: skip
                        blocks[source].conformal.setdefault(f"{alpha:g}", {})[method] = report
        return SetAssessment(len(scores), blocks)


def conformal_predictor(settings: ConformalSettings, method: str, alpha: float, probs, labels, seed: int):
    """A split-conformal predictor of ``settings`` for one score and α, fitted on (probs, labels)."""
    from textmix.core.conformal import SCORES

    score = make_score(method, settings.randomized and SCORES.get(method).can_randomize)
    return ConformalPredictor(score, alpha, settings.mondrian, seed).fit(probs, labels)


def _ood_table(in_probs: dict[str, np.ndarray], out_probs: dict[str, np.ndarray]) -> dict:
    """source → AUROC of the winning score (test = positive) and the mean winning scores."""
    return {
        source: {
            "auroc": ood_auroc(in_probs[source].max(1), out_probs[source].max(1)),
            "mean_winning_score_in": float(in_probs[source].max(1).mean()),
            "mean_winning_score_out": float(out_probs[source].max(1).mean()),
        }
        for source in in_probs
    }
