"""Abstention with a guarantee in the report: per risk level ε, each setting × calibrator cell's share
answered (coverage) at the Learn-then-Test threshold, its test risk, how often a run's test risk
exceeded ε, and the coverage against the baseline's after the same calibrator (paired by run)."""

from __future__ import annotations

import numpy as np

from textmix.core.assessment import Assessment
from textmix.engine.report.cells import paired, values
from textmix.engine.report.collect import Group, group_by
from textmix.engine.report.comparisons import Family
from textmix.engine.report.tables import FAMILY_NOTE, markdown_table, mean_std


def risk_report(assessment: Assessment, source: str, epsilon: str) -> dict:
    return assessment.risk_results().get(epsilon, {}).get(source, {})


def risk_levels(members: list[Group]) -> list[str]:
    """The levels ε every run of ``members`` measured, in the recipes' order."""
    levels = None
    for g in members:
        for a in g.assessments:
            found = list(a.risk_results())
            levels = found if levels is None else [e for e in levels if e in found]
    return levels or []


def _per_run(g: Group, source: str, epsilon: str, key: str) -> dict:
    """Repetition → ``key`` of the abstention report (NaN where absent or, for risk, nothing answered)."""
    out = {}
    for rep, a in zip(g.repetitions, g.assessments):
        value = risk_report(a, source, epsilon).get(key)
        out[rep] = np.nan if value is None else float(value)
    return out


def risk_cells_table(groups: list[Group]) -> str:
    """One table per (dataset, model) with ``eval.risk_control`` in every run."""
    parts = []
    for (dataset, model), members in group_by(groups, lambda g: (g.dataset, g.model)).items():
        levels = risk_levels(members)
        if not levels:
            continue
        first = members[0].assessments[0].risk_settings
        baseline = next((g for g in members if g.role == "reference"), None)
        rows, family = [], Family()
        for epsilon in levels:
            for g in members:
                for source in g.calibrators():
                    coverage = _per_run(g, source, epsilon, "coverage")
                    risk = values(_per_run(g, source, epsilon, "risk"))
                    over = f"{int(np.sum(risk[~np.isnan(risk)] > float(epsilon)))} / {len(risk)}"
                    shown_risk = mean_std(risk[~np.isnan(risk)]) if (~np.isnan(risk)).any() else "— (abstains)"
                    base = _per_run(baseline, source, epsilon, "coverage") if baseline else {}
                    delta = "" if g is baseline or not base else family.add(paired(coverage, base), bound=1.0)
                    rows.append([epsilon, g.setting, source, mean_std(values(coverage)), shown_risk, over, delta])
        header = ["ε", "setting", "calibrator", "answered %", "test risk %", "runs with risk > ε",
                  "Δ answered vs baseline (same calibrator)"]  # fmt: skip
        title = (f"{dataset} / {model}: abstention with a guarantee (Learn then Test, δ = {first.get('delta')}, "
                 f"{first.get('procedure')}; thresholds from {first.get('n_calibration')} calibration examples; "
                 f"at most a δ share of runs should exceed ε; Δ: {FAMILY_NOTE})")  # fmt: skip
        parts.append(markdown_table(title, header, rows, family))
    return "\n".join(parts)
