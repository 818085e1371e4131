"""``eval.conformal`` (and ``textmix calibrate --conformal``): which conformal sets to measure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from textmix.core.conformal.base import SCORES, make_score


@dataclass
class ConformalSettings:
    """``eval.conformal`` read and checked (see :class:`EvalConfig`)."""

    alpha: list[float] = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: ["lac"])
    split: float = 0.0
    mondrian: bool = False
    randomized: bool = False

    @classmethod
    def parse(cls, values: dict) -> ConformalSettings:
        """ValueError naming the key and what it must be."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(
                f"eval.conformal has unknown keys {unknown}; use alpha, methods, split, mondrian, randomized"
            )
        settings = cls(**values)
        alphas, methods = settings.alpha, settings.methods
        if not isinstance(alphas, list) or not all(isinstance(a, (int, float)) and 0 < a < 1 for a in alphas):
            raise ValueError(f"eval.conformal.alpha={alphas!r} must be a list of levels in (0, 1), e.g. [0.1, 0.05]")
        if not isinstance(methods, list) or not methods or not set(methods) <= set(SCORES.names()):
            raise ValueError(f"eval.conformal.methods={methods!r} must be a list of {', '.join(SCORES.names())}")
        if not isinstance(settings.split, (int, float)) or not 0 <= settings.split < 1:
            raise ValueError(f"eval.conformal.split={settings.split!r} must be in [0, 1)")
        if not isinstance(settings.randomized, bool) or not isinstance(settings.mondrian, bool):
            raise ValueError("eval.conformal.randomized and eval.conformal.mondrian must be true or false")
        return settings

    def score(self, method: str):
        """The score of ``method``, randomized where these settings ask and it has a randomized variant
        (LAC has none: its score is already continuous)."""
        return make_score(method, self.randomized and SCORES.get(method).can_randomize)

    def check_classes(self, num_classes: int, fix: str = "eval.conformal.randomized: true") -> None:
        """ArgumentError, before any training, for a score that cannot inform on ``num_classes`` labels
        (non-randomized APS / RAPS / SAPS on two classes); ``fix`` says the other way out."""
        for method in self.methods:
            self.score(method).check_classes(num_classes, fix)
