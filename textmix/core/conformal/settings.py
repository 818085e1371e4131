"""``eval.conformal`` (and ``textmix calibrate --conformal``): which conformal sets to measure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from textmix.core.conformal.base import SCORES


@dataclass
class ConformalSettings:
    """``eval.conformal`` read and checked (see :class:`EvalConfig`)."""

    alpha: list[float] = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: ["lac", "aps", "raps"])
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
        fixed = [m for m in methods if not SCORES.get(m).can_randomize]
        if settings.randomized and fixed:
            raise ValueError(
                f"eval.conformal.randomized: {', '.join(fixed)} has no randomized variant; drop it from methods"
            )
        return settings
