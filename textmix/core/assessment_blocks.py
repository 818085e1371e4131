"""The blocks of an :class:`textmix.core.assessment.Assessment`: one set's scores, what one
probability source measured on one labelled set, and their JSON layout in ``metrics.json``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from textmix.core.assessment_legacy import NONE
from textmix.core.calibrators import uncalibrated_probs


@dataclass
class Scores:
    """One set's scores: the logits calibrators read, the uncalibrated probabilities and labels.

    Attributes:
        logits: (N, K) logits (for probabilities: their logarithm, which softmax maps back).
        probs: (N, K) uncalibrated probabilities.
        labels: (N,) integer labels, or None for an unlabelled (out-of-distribution) set.
        features: (N, D) the model's pooled representation (weighted conformal sets under shift), or None.
    """

    logits: np.ndarray
    probs: np.ndarray
    labels: np.ndarray | None = None
    features: np.ndarray | None = None

    @classmethod
    def of_logits(cls, logits, labels=None, features=None) -> Scores:
        """Scores of (N, K) logits (probabilities by softmax), with labels and pooled features where known."""
        return cls(np.asarray(logits), uncalibrated_probs(logits), None if labels is None else np.asarray(labels),
                   features)  # fmt: skip

    @classmethod
    def of_probs(cls, probs, labels=None) -> Scores:
        """Scores of (N, K) probabilities (no logits: logit-based calibrators cannot be fitted on them)."""
        probs = np.asarray(probs)
        return cls(np.log(np.clip(probs, 1e-12, 1.0)), probs, None if labels is None else np.asarray(labels))

    def rows(self, index: np.ndarray) -> Scores:
        """The scores of the examples at ``index`` (a carve-out, a bootstrap resample)."""
        return Scores(self.logits[index], self.probs[index], None if self.labels is None else self.labels[index],
                      None if self.features is None else self.features[index])  # fmt: skip

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
        risk_control: ε ("0.1") → abstention with a guarantee (:mod:`textmix.core.risk_control`):
            the threshold chosen on the calibration rows and the coverage and risk it gives here.
    """

    metrics: dict
    intervals: dict = field(default_factory=dict)
    val: dict | None = None
    crossfit_val: dict | None = None
    calibrator: dict | None = None
    conformal: dict = field(default_factory=dict)
    floor: dict = field(default_factory=dict)
    risk_control: dict = field(default_factory=dict)


@dataclass
class SetAssessment:
    """A labelled set: one block per source, "none" first, then the calibrators (the chosen first)."""

    n: int
    blocks: dict[str, Block]


def block_json(block: Block, with_val: bool) -> dict:
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


def block_from_json(data: dict) -> Block:
    return Block(data["test"], data.get("intervals", {}), data.get("val"), data.get("crossfit_val"),
                 data.get("calibrator"), floor=data.get("floor", {}))  # fmt: skip


def conformal_results(s: SetAssessment) -> dict:
    """α → score → source → set report (the blocks' conformal reports, regrouped)."""
    out = {}
    for source, block in s.blocks.items():
        for alpha, by_score in block.conformal.items():
            for score, report in by_score.items():
                out.setdefault(alpha, {}).setdefault(score, {})[source] = report
    return out


def risk_results(s: SetAssessment) -> dict:
    """ε → source → abstention report (the blocks' risk-control reports, regrouped)."""
    out = {}
    for source, block in s.blocks.items():
        for epsilon, report in block.risk_control.items():
            out.setdefault(epsilon, {})[source] = report
    return out


def set_json(s: SetAssessment) -> dict:
    none = s.blocks[NONE]
    out = {"n": s.n, "test": none.metrics}
    if none.intervals:
        out["intervals"] = none.intervals
    if none.floor:
        out["floor"] = none.floor
    out["calibrated"] = {name: block_json(b, with_val=False) for name, b in s.blocks.items() if name != NONE}
    results = conformal_results(s)
    if results:
        out["conformal"] = results
    risks = risk_results(s)
    if risks:
        out["risk_control"] = risks
    return out


def shift_from_json(s: dict) -> SetAssessment:
    none = Block(s["test"], s.get("intervals", {}), floor=s.get("floor", {}))
    return blocks_from_json(int(s.get("n", 0)), none, s.get("calibrated", {}), s.get("conformal", {}),
                            s.get("risk_control", {}))  # fmt: skip


def blocks_from_json(n: int, none: Block, calibrated: dict, conformal: dict, risks: dict) -> SetAssessment:
    blocks = {NONE: none, **{name: block_from_json(b) for name, b in calibrated.items()}}
    for alpha, by_score in conformal.items():
        for score, by_source in by_score.items():
            for source, report in by_source.items():
                if source in blocks:
                    blocks[source].conformal.setdefault(alpha, {})[score] = report
    for epsilon, by_source in risks.items():
        for source, report in by_source.items():
            if source in blocks:
                blocks[source].risk_control[epsilon] = report
    return SetAssessment(n, blocks)
