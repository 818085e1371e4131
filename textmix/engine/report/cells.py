"""Method × calibrator cells: which training method and which post-hoc calibrator to use.

A cell is one setting (a group of seeds) with one calibrator ("none": raw softmax). Runs that fitted
several calibrators (``eval.calibrators``) and, optionally, conformal sets (``eval.conformal``) and
shifted domains (``eval.shift``) hold every number a cell needs; these tables rank the cells and
compare them with the baseline, paired by (seed, split seed), with 95% Student-t intervals and
Holm-adjusted p-values over each table's comparisons (:mod:`textmix.engine.report.comparisons`). A
difference is "resolved" when its Holm-adjusted p-value is below 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textmix.core.assessment import NONE, Assessment, Block
from textmix.core.noise_floor import FLOOR_MARK
from textmix.engine.report.collect import Group, group_by
from textmix.engine.report.comparisons import FLOOR_NOTE, Family
from textmix.engine.report.tables import FAMILY_NOTE, markdown_table, mean_std, metric_bound, set_label


def _block(assessment: Assessment, source: str, shifted: str | None) -> Block | None:
    """The block of ``source`` on test or on the shifted set ``shifted`` (None where not measured)."""
    measured = assessment.shift.get(shifted) if shifted else assessment.test
    return measured.blocks.get(source) if measured else None


@dataclass(frozen=True, eq=False)  # cells are told apart by identity (a Group is unhashable)
class Cell:
    group: Group
    calibrator: str

    def test(self, key: str) -> dict[int, float]:
        """Repetition → the test metric after this cell's calibrator."""
        return dict(zip(self.group.repetitions, self.group.calibrated_values(self.calibrator, key)))

    def floor(self, key: str) -> dict:
        """Repetition → the noise floor ({mean, p95}) of ``key`` after this cell's calibrator ({} where
        a run has none)."""
        return {r: (a.block(self.calibrator).floor.get(key, {}) if a.block(self.calibrator) else {})
                for r, a in zip(self.group.repetitions, self.group.assessments)}  # fmt: skip

    def within_floor(self, key: str = "ece") -> bool:
        """Whether the mean over repetitions lies at or below the mean 95th percentile of its floor."""
        floors = list(self.floor(key).values())
        if not floors or not all(floors):
            return False
        return bool(np.nanmean(values(self.test(key))) <= np.mean([f["p95"] for f in floors]))

    def conformal(self, alpha: str, method: str, key: str, shifted: str | None = None) -> dict[int, float]:
        """Seed → a conformal set metric at ``alpha`` (as metrics.json writes it) after this cell's
        calibrator, on test or on the shifted set ``shifted``; NaN where a run lacks it."""
        out = {}
        for rep, assessment in zip(self.group.repetitions, self.group.assessments):
            block = _block(assessment, self.calibrator, shifted)
            report = block.conformal.get(alpha, {}).get(method, {}) if block else {}
            out[rep] = report.get(key, np.nan)
        return out

    def shift_within_floor(self, name: str, key: str = "ece") -> bool:
        """Whether the mean of ``key`` on the shifted set is at or below its floor's mean 95th percentile."""
        blocks = [_block(a, self.calibrator, name) for a in self.group.assessments]
        if not all(b is not None and b.floor.get(key) for b in blocks):
            return False
        return bool(np.mean([b.metrics[key] for b in blocks]) <= np.mean([b.floor[key]["p95"] for b in blocks]))

    def shifted(self, name: str, key: str) -> dict[int, float]:
        """Seed → a metric on the shifted set ``name`` after the in-domain calibrator."""
        out = {}
        for rep, assessment in zip(self.group.repetitions, self.group.assessments):
            block = _block(assessment, self.calibrator, name)
            out[rep] = block.metrics.get(key, np.nan) if block else np.nan
        return out


def values(per_seed: dict[int, float]) -> np.ndarray:
    return np.array(list(per_seed.values()), dtype=float)


def paired(ours: dict, theirs: dict) -> np.ndarray:
    """ours − theirs over the repetitions (seed, split seed) both have."""
    return np.array([ours[s] - theirs[s] for s in ours if s in theirs], dtype=float)


def cell_groups(groups: list[Group]) -> dict[tuple[str, str], list[Group]]:
    """Per (dataset, model), the settings whose runs fitted more than one calibrator."""
    chosen = group_by([g for g in groups if len(g.calibrators()) > 2], lambda g: (g.dataset, g.model))
    return dict(chosen)


def cells_of(members: list[Group]) -> list[Cell]:
    """Every setting × every calibrator all its runs fitted."""
    return [Cell(g, name) for g in members for name in g.calibrators()]


def conformal_levels(members: list[Group]) -> tuple[list[str], list[str]]:
    """(α levels, conformal methods) every run of ``members`` measured, in the recipes' order."""
    alphas, methods = None, None
    for g in members:
        for a in g.assessments:
            results = a.conformal_results()
            found = list(results)
            alphas = found if alphas is None else [a for a in alphas if a in found]
            names = list(next(iter(results.values()), {}))
            methods = names if methods is None else [n for n in methods if n in names]
    return alphas or [], methods or []


def ranked(cells: list[Cell], key: str = "ece") -> list[Cell]:
    return sorted(cells, key=lambda c: np.nanmean(values(c.test(key))) if len(c.group.metrics) else np.inf)


def ranking_table(groups: list[Group]) -> str:
    """Every cell ranked by test ECE: ECE, its paired difference from the top cell (is the ranking
    resolved?), NLL, AURC, accuracy at 90% coverage, the conformal set size of the first α and
    method (the target coverage is guaranteed, so smaller is better) and accuracy."""
    parts = []
    for (dataset, model), members in cell_groups(groups).items():
        cells = ranked(cells_of(members))
        alphas, methods = conformal_levels(members)
        set_header = [f"set size {methods[0].upper()} α={alphas[0]}"] if alphas and methods else []
        header = ["rank", "setting", "calibrator", "ECE %", "Δ ECE vs rank 1", "NLL × 100", "AURC %",
                  "acc @90% cov. %", *set_header, "accuracy %"]  # fmt: skip
        rows, family = [], Family()
        best = cells[0].test("ece")
        for rank, cell in enumerate(cells, 1):
            floored = cell.within_floor("ece")
            row = [str(rank), cell.group.setting, cell.calibrator,
                   mean_std(values(cell.test("ece"))) + (FLOOR_MARK if floored else "")]  # fmt: skip
            both = floored and cells[0].within_floor("ece")
            row.append("" if rank == 1 else family.add(paired(cell.test("ece"), best), bound=1.0, within_floor=both))
            row += [mean_std(values(cell.test(k))) for k in ("nll", "aurc", "accuracy_at_90")]
            if set_header:
                row.append(mean_std(values(cell.conformal(alphas[0], methods[0], "mean_size")), 1.0))
            row.append(mean_std(values(cell.test("accuracy"))))  # vector, histogram, ... may move argmax
            rows.append(row)
        title = (f"{dataset} / {model}: method × calibrator cells ranked by test ECE (mean ± std over runs; "
                 f"Δ: paired by seed and split, {FAMILY_NOTE}; {FLOOR_MARK}: within the noise floor; "
                 f"{FLOOR_NOTE}: both cells within it, a ranking of noise)")  # fmt: skip
        parts.append(markdown_table(title, header, rows, family))
    return "\n".join(parts)


def against_baseline_table(groups: list[Group]) -> str:
    """Each setting minus the baseline, both after the same calibrator, paired by seed: does a
    method's gain survive post-hoc calibration?"""
    parts = []
    for (dataset, model), members in cell_groups(groups).items():
        baseline = next((g for g in members if g.role == "reference"), None)
        if baseline is None:
            continue
        rows, family = [], Family()
        for g in members:
            if g is baseline:
                continue
            for name in g.calibrators():
                if name not in baseline.calibrators():
                    continue
                ours, base = Cell(g, name), Cell(baseline, name)
                row = [g.setting, name]
                for k in ("ece", "nll", "aurc", "accuracy"):
                    both = k == "ece" and ours.within_floor(k) and base.within_floor(k)
                    row.append(family.add(paired(ours.test(k), base.test(k)), bound=metric_bound(k), within_floor=both))
                rows.append(row)
        header = ["setting", "calibrator", "Δ ECE %", "Δ NLL × 100", "Δ AURC %", "Δ accuracy %"]
        title = (f"{dataset} / {model}: setting − baseline after the same calibrator (paired by seed and split; "
                 f"{FAMILY_NOTE}; {FLOOR_NOTE}: both ECEs within their noise floor)")  # fmt: skip
        parts.append(markdown_table(title, header, rows, family))
    return "\n".join(parts)


def choice_table(groups: list[Group]) -> str:
    """Per setting: the calibrator cross-fitted validation NLL chose, the ones best on test, how often
    the choice is the test-best, and what the choice costs in test NLL against the per-seed best."""
    parts = []
    for (dataset, model), members in cell_groups(groups).items():
        rows = []
        for g in members:
            names = [n for n in g.calibrators() if n != NONE]
            chosen = [a.chosen for a in g.assessments]
            nll = {n: g.calibrated_values(n, "nll") for n in names}
            ece = {n: g.calibrated_values(n, "ece") for n in names}
            table = np.array([nll[n] for n in names])  # (calibrators, seeds)
            seed_best = [names[i] for i in np.nanargmin(table, axis=0)]
            regret = np.array([nll[c][k] - table[:, k].min() if c in nll else np.nan for k, c in enumerate(chosen)])
            counts = {n: chosen.count(n) for n in dict.fromkeys(chosen) if n}
            row = [
                g.setting,
                ", ".join(f"{n} ×{c}" for n, c in sorted(counts.items(), key=lambda kv: -kv[1])),
                min(names, key=lambda n: np.nanmean(nll[n])),
                min(names, key=lambda n: np.nanmean(ece[n])),
                f"{sum(c == b for c, b in zip(chosen, seed_best))} of {len(chosen)}",
                mean_std(regret),
            ]
            rows.append("| " + " | ".join(row) + " |")
        header = ["setting", "chosen by cross-fitted val NLL", "best test NLL", "best test ECE",
                  "chosen = test-best NLL", "test NLL regret × 100"]  # fmt: skip
        parts.append(markdown_table(f"{dataset} / {model}: choosing the calibrator", header, rows))
    return "\n".join(parts)


def conformal_cells_table(groups: list[Group], calibrators: tuple[str, ...] | None = None) -> str:
    """Per α and conformal method: each setting's coverage and mean set size before and after
    calibration (``calibrators``; default: none and the calibrator the first run chose), and its set
    size minus the baseline's (same calibrator, paired by seed)."""
    parts = []
    for (dataset, model), members in cell_groups(groups).items():
        shown = calibrators or (NONE, members[0].assessments[0].chosen)
        baseline = next((g for g in members if g.role == "reference"), None)
        alphas, methods = conformal_levels(members)
        rows, family = [], Family()
        for alpha in alphas:
            for method in methods:
                for g in members:
                    row = [alpha, method.upper(), g.setting]
                    for name in shown:
                        cell = Cell(g, name)
                        row.append(mean_std(values(cell.conformal(alpha, method, "coverage"))))
                        size = cell.conformal(alpha, method, "mean_size")
                        row.append(mean_std(values(size), 1.0))
                        row.append(mean_std(values(cell.conformal(alpha, method, "size_floor")), 1.0))
                        base = Cell(baseline, name).conformal(alpha, method, "mean_size") if baseline else {}
                        row.append("" if g is baseline or not base else family.add(paired(size, base), 1.0))
                    rows.append(row)
        header = ["α", "score", "setting"]
        for name in shown:
            header += [f"coverage % ({name})", f"set size ({name})", f"size floor ({name})",
                       f"Δ size vs baseline ({name})"]  # fmt: skip
        title = (f"{dataset} / {model}: conformal sets per setting, before and after calibration (test split; size "
                 f"floor 1 + max(0, 1 − α − accuracy); Δ: {FAMILY_NOTE})")  # fmt: skip
        parts.append(markdown_table(title, header, rows, family))
    return "\n".join(parts)


def shift_cells_table(groups: list[Group]) -> str:
    """Per shifted set: each cell's ECE and conformal coverage in-domain and on the shifted set,
    ranked by how far the shifted ECE moves from the in-domain one."""
    parts = []
    for (dataset, model), members in cell_groups(groups).items():
        alphas, methods = conformal_levels(members)
        baseline = next((g for g in members if g.role == "reference"), None)
        for shift in shift_names(members):
            label = set_label(shift)  # a file's name, not the path it was read from
            rows, family = [], Family()
            cells = cells_of(members)
            moved = {c: paired(c.shifted(shift, "ece"), c.test("ece")) for c in cells}
            for cell in sorted(cells, key=lambda c: np.nanmean(values(c.shifted(shift, "ece")))):
                mark = FLOOR_MARK if cell.shift_within_floor(shift) else ""
                row = [cell.group.setting, cell.calibrator, mean_std(values(cell.test("ece"))),
                       mean_std(values(cell.shifted(shift, "ece"))) + mark, family.add(moved[cell], bound=1.0),
                       mean_std(values(cell.shifted(shift, "accuracy")))]  # fmt: skip
                if alphas and methods:
                    row.append(mean_std(values(cell.conformal(alphas[0], methods[0], "coverage"))))
                    row.append(mean_std(values(cell.conformal(alphas[0], methods[0], "coverage", shift))))
                    row.append(mean_std(values(cell.conformal(alphas[0], methods[0], "mean_size", shift)), 1.0))
                if baseline is not None:
                    against = Cell(baseline, cell.calibrator).shifted(shift, "ece")
                    row.append("" if cell.group is baseline else family.add(paired(cell.shifted(shift, "ece"), against),
                                                                            bound=1.0))  # fmt: skip
                rows.append(row)
            header = ["setting", "calibrator", "ECE % in-domain", f"ECE % {label}", "Δ ECE (shift − in-domain)",
                      f"accuracy % {label}"]  # fmt: skip
            if alphas and methods:
                tag = f"{methods[0].upper()} α={alphas[0]}"
                header += [f"coverage % in-domain ({tag})", f"coverage % {label}", f"set size {label}"]
            if baseline is not None:
                header.append(f"Δ ECE {label} vs baseline (same calibrator)")
            title = (f"{dataset} / {model} → {label}: cells ranked by ECE on the shifted domain (calibrated "
                     "in-domain; "
                     f"Δ: {FAMILY_NOTE}; {FLOOR_MARK}: within the noise floor on the shifted set)")  # fmt: skip
            parts.append(markdown_table(title, header, rows, family))
    return "\n".join(parts)


def cell_tables(groups: list[Group]) -> str:
    parts = (
        ranking_table(groups),
        against_baseline_table(groups),
        choice_table(groups),
        conformal_cells_table(groups),
        shift_cells_table(groups),
    )
    return "\n".join(p for p in parts if p)


def shift_names(members: list[Group]) -> list[str]:
    """The shifted sets (``eval.shift``) every run of ``members`` measured."""
    first = members[0].assessments[0].shift
    return [n for n in first if all(n in a.shift for g in members for a in g.assessments)]


def percent(per_seed: dict[int, float]) -> dict[int, float]:
    return {seed: 100 * value for seed, value in per_seed.items()}


def cell_panels(members: list[Group]) -> list[tuple[str, str, object]]:
    """The heat-map panels of ``members``: test ECE, the first α and method's set size, and ECE on
    each shifted domain every run measured."""
    panels = [("test ECE %", ".1f", lambda c: percent(c.test("ece")))]
    alphas, methods = conformal_levels(members)
    if alphas and methods:
        alpha, method = alphas[0], methods[0]
        title = f"set size {method.upper()} α={alpha}"
        panels.append((title, ".2f", lambda c: c.conformal(alpha, method, "mean_size")))
    for name in shift_names(members):
        panels.append((f"ECE % on {set_label(name)}", ".1f", lambda c, name=name: percent(c.shifted(name, "ece"))))
    return panels
