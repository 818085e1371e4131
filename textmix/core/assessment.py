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

from textmix.core.assessment_blocks import (
    Block,
    Scores,
    SetAssessment,
    block_json,
    blocks_from_json,
    conformal_results,
    risk_results,
    set_json,
    shift_from_json,
)
from textmix.core.assessment_legacy import LAYOUT, NONE, upgrade
from textmix.core.bootstrap import bootstrap_intervals
from textmix.core.calibrators import (
    Calibrator,
    calibrator_from_json,
    can_crossfit,
    choose_calibrator,
    crossfit_reports,
    make_calibrator,
)
from textmix.core.conformal import ConformalPredictor, make_score, set_report
from textmix.core.conformal.settings import ConformalSettings
from textmix.core.conformal.weighted import WeightedConformal, domain_weights
from textmix.core.metrics import calibration_report, ood_auroc
from textmix.core.noise_floor import DRAWS as FLOOR_DRAWS
from textmix.core.noise_floor import affordable_draws, noise_floor
from textmix.core.risk_control import RiskSettings


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
        risk_settings: with abstention under a guarantee (``eval.risk_control``): delta, procedure
            and n_calibration, the rows the thresholds were chosen on ({} without).
    """

    n_bins: int
    test: SetAssessment
    chosen: str | None = None
    choice: str | None = None
    shift: dict[str, SetAssessment] = field(default_factory=dict)
    ood: dict[str, dict] = field(default_factory=dict)
    conformal_split: float = 0.0
    n_calibration: int | None = None
    risk_settings: dict = field(default_factory=dict)
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
        return conformal_results(self.test)

    def risk_results(self) -> dict:
        """ε → source → abstention report on the test set ({} without ``eval.risk_control``)."""
        return risk_results(self.test)

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
        calibrated = {name: block_json(b, with_val=True) for name, b in self.test.blocks.items() if name != NONE}
        if calibrated:
            out["calibrated"] = calibrated
            out["calibrator_choice"] = {"chosen": self.chosen, "setting": self.choice}
        results = self.conformal_results()
        if results:
            out["conformal"] = {"split": self.conformal_split, "n_calibration": self.n_calibration, "results": results}
        if self.risk_settings:
            out["risk_control"] = {**self.risk_settings, "results": self.risk_results()}
        if self.ood:
            out["ood"] = self.ood
        if self.shift:
            out["shift"] = {name: set_json(s) for name, s in self.shift.items()}
        return out

    @classmethod
    def from_json(cls, data: dict) -> Assessment:
        """An assessment from :meth:`to_json` output or from any ``metrics.json``, ``evaluation.json``
        or ``calibration.json`` that textmix 0.2 or 0.3 wrote (see :mod:`textmix.core.assessment_legacy`)."""
        data = upgrade(data)
        none = Block(data["test"], data.get("intervals", {}).get("test", {}), data.get("val"),
                     floor=data.get("floor", {}).get("test", {}))  # fmt: skip
        risk = dict(data.get("risk_control", {}))
        test = blocks_from_json(int(data["test"].get("n", 0)), none, data.get("calibrated", {}),
                                data.get("conformal", {}).get("results", {}), risk.pop("results", {}))  # fmt: skip
        choice = data.get("calibrator_choice", {})
        conformal = data.get("conformal")
        return cls(
            n_bins=int(data.get("n_bins", 15)),
            test=test,
            chosen=choice.get("chosen"),
            choice=choice.get("setting"),
            shift={name: shift_from_json(s) for name, s in data.get("shift", {}).items()},
            ood=data.get("ood", {}),
            conformal_split=conformal.get("split", 0.0) if conformal else 0.0,
            n_calibration=conformal.get("n_calibration") if conformal else None,
            risk_settings=risk,
        )


def assess(
    val: Scores | None,
    test: Scores,
    *,
    calibrators=(),
    choose: str = "auto",
    conformal: ConformalSettings | None = None,
    conformal_rows: Scores | None = None,
    risk_control: RiskSettings | None = None,
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
        risk_control: abstention with a guarantee at each level ε (:mod:`textmix.core.risk_control`),
            its thresholds chosen on ``conformal_rows`` too.
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
    measure = _Measure(n_bins, bootstrap, floor, seed, conformal, conformal_rows, risk_control)
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
        result.shift[name] = measure(scores, ordered, conformal_resamples=0, weighted=True)
    if ood:
        in_probs = source_probs(test, ordered) | {k: v["test"] for k, v in (extra_sources or {}).items()}
        for name, scores in ood.items():
            out_probs = source_probs(scores, ordered) | {k: v[name] for k, v in (extra_sources or {}).items()}
            result.ood[name] = {"n": len(scores), **_ood_table(in_probs, out_probs)}
    if conformal is not None and conformal.alpha and conformal_rows is not None:
        result.conformal_split, result.n_calibration = conformal.split, len(conformal_rows)
    if risk_control is not None and risk_control.risk and conformal_rows is not None:
        result.risk_settings = {"delta": risk_control.delta, "procedure": risk_control.procedure,
                                "n_calibration": len(conformal_rows)}  # fmt: skip
    return result


def _fit_calibrators(val: Scores | None, calibrators) -> dict[str, Calibrator]:
    """Every calibrator fitted on ``val`` (float64 logits), by name, in the order given."""
    if val is None or not calibrators:
        return {}
    made = [make_calibrator(c) if isinstance(c, str) else c for c in calibrators]
    return {c.name: c.fit(val.logits.astype(np.float64), val.labels) for c in made}


def source_probs(scores: Scores, calibrators: dict[str, Calibrator]) -> dict[str, np.ndarray]:
    """Probabilities of every source: uncalibrated as given, calibrated from float64 logits."""
    logits = scores.logits.astype(np.float64)
    return {NONE: scores.probs, **{name: c(logits) for name, c in calibrators.items()}}


@dataclass
class _Measure:
    """Metrics, intervals, noise floors, conformal sets and guaranteed abstention of every source on
    one labelled set."""

    n_bins: int
    bootstrap: int
    floor: int
    seed: int
    conformal: ConformalSettings | None
    rows: Scores | None
    risk_control: RiskSettings | None = None

    def __call__(
        self, scores: Scores, calibrators, conformal_resamples: int | None = None, weighted: bool = False
    ) -> SetAssessment:
        probs = source_probs(scores, calibrators)
        blocks = {}
        for source, p in probs.items():
            labels, seed = scores.labels, self.seed
            intervals = bootstrap_intervals(p, labels, self.n_bins, self.bootstrap, seed) if self.bootstrap else {}
            draws = affordable_draws(len(p), self.floor)
            floor = noise_floor(p.max(1), self.n_bins, draws, self.floor // 5, seed) if draws else {}
            blocks[source] = Block(calibration_report(p, labels, self.n_bins), intervals, floor=floor)
        settings, rows = self.conformal, self.rows
        if settings is not None and settings.alpha and rows is not None:
            calibration = source_probs(rows, calibrators)
            resamples = self.bootstrap if conformal_resamples is None else conformal_resamples
            for alpha in settings.alpha:
                for method in settings.methods:
                    for source, p in probs.items():
                        predictor = conformal_predictor(settings, method, alpha, calibration[source], rows.labels,
                                                        self.seed)  # fmt: skip
                        report = set_report(predictor.predict(p), scores.labels, alpha, resamples, self.seed,
                                            accuracy=blocks[source].metrics["accuracy"])  # fmt: skip
                        blocks[source].conformal.setdefault(f"{alpha:g}", {})[method] = report
        if weighted and settings is not None and settings.alpha and rows is not None:
            self.weighted_sets(scores, rows, probs, source_probs(rows, calibrators), blocks)
        if self.risk_control is not None and self.risk_control.risk and rows is not None:
            calibration = source_probs(rows, calibrators)
            for source, p in probs.items():
                report = self.risk_control.report(calibration[source], rows.labels, p, scores.labels)
                blocks[source].risk_control = report
        return SetAssessment(len(scores), blocks)

    def weighted_sets(self, scores: Scores, rows: Scores, probs: dict, calibration: dict, blocks: dict) -> None:
        """Weighted split conformal sets ("<method> weighted") on a shifted set, each calibration row
        and shifted example weighted by the likelihood ratio a domain classifier estimates from the
        model's pooled features (calibration rows against the shifted set's texts, no labels)."""
        if scores.features is None or rows.features is None:
            return
        source, target = domain_weights(rows.features, scores.features, self.seed)
        for alpha in self.conformal.alpha:
            for method in self.conformal.methods:
                score = make_score(method)
                if score.needs_tuning() or (score.binary_needs_randomizing and probs[NONE].shape[1] == 2):
                    continue  # weighted sets take a fixed, informative score
                for name, p in probs.items():
                    sets = (
                        WeightedConformal(score, alpha).fit(calibration[name], rows.labels, source).predict(p, target)
                    )
                    report = set_report(sets, scores.labels, alpha, 0, self.seed,
                                        accuracy=blocks[name].metrics["accuracy"])  # fmt: skip
                    blocks[name].conformal.setdefault(f"{alpha:g}", {})[f"{method} weighted"] = report


def conformal_predictor(settings: ConformalSettings, method: str, alpha: float, probs, labels, seed: int):
    """A split-conformal predictor of ``settings`` for one score and α, fitted on (probs, labels)."""
    return ConformalPredictor(settings.score(method), alpha, settings.mondrian, seed).fit(probs, labels)


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
