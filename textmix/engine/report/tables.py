"""Markdown tables over grouped runs: metrics (mean ± std over seeds), OOD AUROC, perturbation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from textmix.core.assessment import NONE
from textmix.core.assessment_blocks import conformal_results
from textmix.core.metric_table import METRICS, shown_metrics
from textmix.core.noise_floor import FLOOR_MARK
from textmix.engine.report.collect import Group, group_by
from textmix.engine.report.comparisons import MIN_REPETITIONS, TOO_FEW, Family


def shown_names() -> list[str]:
    """The metrics of the main table (:func:`textmix.core.metric_table.shown_metrics`)."""
    return [m.name for m in shown_metrics()]


SCALED = ("ece", "oe", "nll")

EXTRA_SOURCES = {NONE: "softmax", "mc_dropout": "MC dropout"}  # sources that are no calibrator


def set_label(name: str) -> str:
    """A shifted set (eval.shift) in a table or figure: a built-in name as is, a file by its name
    (not the full path it was read from)."""
    return Path(name).name if "/" in name or "\\" in name else name


def source_label(source: str) -> str:
    """A probability source in a table: softmax, MC dropout, or "after <calibrator>"."""
    return EXTRA_SOURCES.get(source, f"after {source}")


INTERVAL_METRICS = ("accuracy", "ece", "oe", "aurc")


def markdown_table(title: str, header: list[str], rows: list, family: Family | None = None) -> str:
    """A titled markdown table ("" when there are no rows). Rows are lists of cells (strings or the
    ``family``'s comparisons, adjusted for multiplicity before they are shown) or ready row lines."""
    if not rows:
        return ""
    if family is not None:
        family.finish()
    lines = [row if isinstance(row, str) else "| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join([f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *lines, ""])


def metric_range(key: str) -> tuple[float, float]:
    """The range of a metric's values (unbounded for one the metric table does not know)."""
    return (METRICS.get(key).low, METRICS.get(key).high) if key in METRICS else (-np.inf, np.inf)


def metric_bound(key: str) -> float:
    """How far apart two values of ``key`` can be."""
    low, high = metric_range(key)
    return high - low


def mean_std(values: np.ndarray, scale: float = 100.0) -> str:
    if len(values) == 0 or np.isnan(values).any():
        return "—"
    if len(values) == 1:  # one seed has no spread; "± 0.00" would claim one
        return f"{scale * values[0]:.2f}"
    return f"{scale * values.mean():.2f} ± {scale * values.std(ddof=1):.2f}"


def tables(groups: list[Group]) -> str:
    lines = [
        "All values in percent (NLL and Brier × 100), mean ± sample std over runs (seeds × split seeds), test "
        "split at the best-validation-accuracy epoch; 'chosen' = after the calibrator each run chose (fitted on "
        f"validation; with one calibrator, that one). {FLOOR_MARK}: within the noise floor (the mean is at or "
        "below the mean 95th percentile of what a perfectly calibrated model with the same confidences and test "
        "size scores): indistinguishable from perfect calibration.",
        "",
    ]
    header = ["setting", "runs", *(m.label for m in shown_metrics()), *(f"chosen {k}" for k in SCALED)]
    for (dataset, model), members in group_by(groups, lambda g: (g.dataset, g.model)).items():
        lines += [f"### {dataset} / {model}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for g in members:
            cells = [g.setting, str(len(g.metrics))]
            cells += [mean_std(g.values(k)) + (FLOOR_MARK if g.within_floor(k) else "") for k in shown_names()]
            first = g.assessments[0].chosen
            chosen = first if all(a.chosen == first for a in g.assessments) else None
            cells += [mean_std(g.chosen_values(k)) + (FLOOR_MARK if g.within_floor(k, chosen) else "") for k in SCALED]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def ood_table(groups: list[Group]) -> str:
    """AUROC (mean ± std over seeds) per setting, OOD set and scoring method."""
    rows = []
    measured = [g for g in groups if all(a.ood for a in g.assessments)]
    sources = ood_sources(measured)
    for g in measured:
        for name in g.assessments[0].ood:
            cells = [f"{g.dataset} / {g.model}", g.setting, name]
            for source in sources:
                values = np.array([a.ood[name][source]["auroc"] for a in g.assessments if source in a.ood[name]])
                cells.append(mean_std(values))
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "OOD set", *(f"AUROC {source_label(s)}" for s in sources)]
    return markdown_table("Out-of-distribution detection (AUROC of the winning score, %)", header, rows)


def ood_sources(groups: list[Group]) -> list[str]:
    """The probability sources of the groups' OOD tables, in order of first appearance."""
    sources = {}
    for g in groups:
        for a in g.assessments:
            for table in a.ood.values():
                sources.update(dict.fromkeys(k for k in table if k != "n"))
    return list(sources)


def perturbation_table(groups: list[Group]) -> str:
    rows = []
    for g in groups:
        if not all("perturbation" in m for m in g.metrics):
            continue
        for k, row in enumerate(g.metrics[0]["perturbation"]):
            cells = [f"{g.dataset} / {g.model}", g.setting, f"{row['mu']:g}"]
            for key, scale in (("accuracy", 100), ("winning_score", 100), ("entropy", 1)):
                cells.append(mean_std(np.array([m["perturbation"][k][key] for m in g.metrics]), scale))
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "μ", "accuracy %", "winning score %", "entropy (nats)"]
    return markdown_table("Moving away from the data: x + μ·d/‖d‖", header, rows)


def t_interval(values: np.ndarray, key: str | None = None) -> tuple[float, float] | None:
    """95% Student-t interval of the mean, clipped to the range of the metric ``key`` (None for
    fewer than MIN_REPETITIONS values or missing ones)."""
    if len(values) < MIN_REPETITIONS or np.isnan(values).any():
        return None
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    low, high = metric_range(key) if key else (-np.inf, np.inf)
    return max(values.mean() - half, low), min(values.mean() + half, high)


def _interval(bounds, scale: float = 100.0) -> str:
    return "—" if bounds is None else f"[{scale * bounds[0]:.2f}, {scale * bounds[1]:.2f}]"


def interval_table(groups: list[Group]) -> str:
    """95% intervals: of the mean over repetitions (t-interval, clipped to the metric's range) or,
    for one run, the run's bootstrap interval; 2 runs: too few for an interval."""
    header = ["data / model", "setting", "runs", *INTERVAL_METRICS]
    rows = []
    for g in groups:
        cells = [f"{g.dataset} / {g.model}", g.setting, str(len(g.metrics))]
        for key in INTERVAL_METRICS:
            bounds = t_interval(g.values(key), key)
            boot = g.assessments[0].test.blocks[NONE].intervals.get(key)
            if len(g.metrics) == 1 and boot:
                cells.append(_interval((boot["low"], boot["high"])) + " (bootstrap)")
            elif bounds is None and not np.isnan(g.values(key)).any():
                cells.append(TOO_FEW)
            else:
                cells.append(_interval(bounds))
        rows.append(cells)
    title = (f"95% intervals (%): of the mean over runs (Student t, clipped to the metric's range; fewer than "
             f"{MIN_REPETITIONS} runs: {TOO_FEW}); one run: percentile bootstrap over test examples")  # fmt: skip
    return markdown_table(title, header, rows)


def paired_table(groups: list[Group]) -> str:
    """Each setting minus the baseline of the same data / model, paired by (seed, split seed): mean
    difference, raw and Holm-adjusted comparison (:mod:`textmix.engine.report.comparisons`)."""
    rows, family = [], Family()
    for (dataset, model), members in group_by(groups, lambda g: (g.dataset, g.model)).items():
        baseline = next((g for g in members if g.role == "reference"), None)
        if baseline is None:
            continue
        base = dict(zip(baseline.repetitions, baseline.metrics))
        for g in members:
            if g is baseline:
                continue
            common = [r for r in g.repetitions if r in base]
            ours = dict(zip(g.repetitions, g.metrics))
            cells = [f"{dataset} / {model}", g.setting, str(len(common))]
            for key in INTERVAL_METRICS:
                diff = [ours[r]["test"].get(key, np.nan) - base[r]["test"].get(key, np.nan) for r in common]
                cells.append(family.add(diff, bound=metric_bound(key)))
            rows.append(cells)
    header = ["data / model", "setting", "paired runs", *(f"Δ {k}" for k in INTERVAL_METRICS)]
    return markdown_table(f"Against the baseline (setting − baseline, same seed and split; %; {FAMILY_NOTE})",
                          header, rows, family)  # fmt: skip


FAMILY_NOTE = ("95% t-interval, then the Bonferroni-adjusted interval and the paired t-test's p-value, raw and "
               "Holm-adjusted over every comparison of this table; resolved: Holm p < 0.05")  # fmt: skip


SHIFT_METRICS = ("accuracy", "ece", "oe", "nll", "brier", "aurc")


def shift_table(groups: list[Group]) -> str:
    """``eval.shift`` sets: metrics (mean ± std over seeds) before and after the in-domain temperature."""
    rows = []
    for g in groups:
        if not all(a.shift for a in g.assessments):
            continue
        for name in g.assessments[0].shift:
            sets = [a.shift[name] for a in g.assessments]
            cells = [f"{g.dataset} / {g.model}", g.setting, set_label(name), str(sets[0].n)]
            cells += [mean_std(np.array([s.blocks[NONE].metrics[k] for s in sets])) for k in SHIFT_METRICS]
            chosen = [s.blocks.get(a.chosen) for a, s in ((a, a.shift[name]) for a in g.assessments)]
            chosen = [b.metrics for b in chosen if b is not None]
            cells += [mean_std(np.array([c[k] for c in chosen])) for k in ("ece", "oe")]
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "shifted to", "n", *SHIFT_METRICS, "chosen ece", "chosen oe"]
    title = ("Another domain, same labels (eval.shift; %, mean ± std over seeds; chosen = the in-domain "
             "calibrator each run chose)")  # fmt: skip
    return markdown_table(title, header, rows)


def shift_conformal_table(groups: list[Group]) -> str:
    """Conformal sets on each ``eval.shift`` set, calibrated in-domain, plain and weighted by the
    estimated likelihood ratio (weighted split conformal; after the calibrator each run chose):
    does weighting restore the target coverage, and at what set size?"""
    rows = []
    for g in groups:
        if not all(a.shift for a in g.assessments):
            continue
        for name in g.assessments[0].shift:
            results = [conformal_results(a.shift[name]) for a in g.assessments]
            for alpha, by_method in results[0].items():
                for method in [m for m in by_method if f"{m} weighted" in by_method]:
                    pick = [(r[alpha][method], r[alpha][f"{method} weighted"], a.chosen or NONE)
                            for r, a in zip(results, g.assessments)]  # fmt: skip
                    test = [a.conformal_results().get(alpha, {}).get(method, {}).get(a.chosen or NONE, {})
                            for a in g.assessments]  # fmt: skip
                    cells = [f"{g.dataset} / {g.model}", g.setting, set_label(name), alpha, method.upper(),
                             mean_std(np.array([t.get("coverage", np.nan) for t in test]))]  # fmt: skip
                    for key, scale in (("coverage", 100.0), ("mean_size", 1.0)):
                        for kind in (0, 1):
                            cells.append(mean_std(np.array([p[kind][src][key] for *p, src in pick]), scale))
                    rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "shifted to", "α", "score", "coverage % in-domain", "coverage % shifted",
              "coverage % shifted, weighted", "set size shifted", "set size shifted, weighted"]  # fmt: skip
    title = ("Conformal sets under the shift (thresholds calibrated in-domain; weighted: each calibration and "
             "shifted example weighted by the likelihood ratio of a domain classifier on the model's pooled "
             "features, Tibshirani et al. 2019; after the calibrator each run chose; %, mean ± std over "
             "runs)")  # fmt: skip
    return markdown_table(title, header, rows)


def calibrator_table(groups: list[Group]) -> str:
    """Test ECE, NLL and Brier (mean ± std over seeds) per setting and post-hoc calibrator, and how
    often each was the one chosen by cross-fitted validation NLL; only for runs that fitted more
    than temperature scaling."""
    rows = []
    for g in groups:
        names = g.calibrators()
        if len(names) <= 2:  # none and one calibrator: the main table has them
            continue
        chosen = [a.chosen for a in g.assessments]
        for name in names:
            cells = [f"{g.dataset} / {g.model}", g.setting, name]
            cells += [mean_std(g.calibrated_values(name, k)) for k in ("ece", "nll", "brier")]
            cells.append(f"{chosen.count(name)} of {len(chosen)}" if name != "none" else "")
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "calibrator", "ECE %", "NLL × 100", "Brier × 100", "chosen"]
    return markdown_table("Post-hoc calibrators (test split; chosen: by cross-fitted validation NLL)", header, rows)


def shown_probabilities(by_probs: dict, chosen: str | None) -> list[str]:
    """Which probabilities the conformal table and figure show: raw and the run's calibrator, or, for
    runs that measured sets after several calibrators (the cell tables have them all), raw and the
    chosen one."""
    names = list(by_probs)
    return names if len(names) <= 2 else [n for n in (NONE, chosen) if n in names]


def conformal_table(groups: list[Group]) -> str:
    """Coverage and mean set size (mean ± std over seeds) per setting, α, conformal method and
    probabilities (raw, after the run's calibrator), for runs with ``eval.conformal``."""
    rows = []
    for g in groups:
        if not all(a.conformal_results() for a in g.assessments):
            continue
        runs = [a.conformal_results() for a in g.assessments]
        results = runs[0]
        for alpha, methods in results.items():
            for method, by_probs in methods.items():
                for probs in shown_probabilities(by_probs, g.assessments[0].chosen):
                    values = [r.get(alpha, {}).get(method, {}).get(probs) for r in runs]
                    if any(v is None for v in values):
                        continue
                    cells = [f"{g.dataset} / {g.model}", g.setting, alpha, method, probs]
                    cells.append(mean_std(np.array([v["coverage"] for v in values])))
                    cells.append(mean_std(np.array([v["mean_size"] for v in values]), 1.0))
                    cells.append(mean_std(np.array([v.get("size_floor", np.nan) for v in values]), 1.0))
                    cells.append(mean_std(np.array([v["singleton_rate"] for v in values])))
                    cells.append(mean_std(np.array([v["covgap"] for v in values])))
                    cells.append(lowest_class(values))
                    rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "α", "method", "probabilities", "coverage %", "mean size", "size floor",
              "singletons %", "CovGap %", "lowest class coverage %"]  # fmt: skip
    title = ("Conformal prediction sets (test split; size floor: 1 + max(0, 1 − α − accuracy), the smallest mean "
             "size of sets that hold the top label and reach the coverage; lowest class: the class covered least "
             "on average over runs, and its coverage)")  # fmt: skip
    return markdown_table(title, header, rows)


def lowest_class(reports: list[dict]) -> str:
    """The class whose coverage, averaged over runs, is lowest: "class: mean ± std" ("—" for runs of
    textmix < 0.4, which did not record coverage per class)."""
    if not all(r.get("coverage_by_class") for r in reports):
        return "—"
    classes = list(reports[0]["coverage_by_class"])
    per_class = {k: np.array([r["coverage_by_class"].get(k, {}).get("coverage", np.nan) for r in reports])
                 for k in classes}  # fmt: skip
    worst = min(classes, key=lambda k: np.nanmean(per_class[k]))
    return f"{worst}: {mean_std(per_class[worst])}"


VARIANCE_METRICS = ("accuracy", "ece", "nll")


def variance_table(groups: list[Group]) -> str:
    """Where the spread comes from, for settings run on several split seeds with several training
    seeds each: the standard deviation over training seeds within a split (pooled), over the split
    means (one-way random effects: the between-split component, with the within-split noise of the
    means removed), and over all runs."""
    rows = []
    for g in groups:
        by_split = {}
        for (_, split), m in zip(g.repetitions, g.metrics):
            by_split.setdefault(split, []).append(m["test"])
        sizes = {len(v) for v in by_split.values()}
        if len(by_split) < 2 or min(sizes) < 2:
            continue
        cells = [f"{g.dataset} / {g.model}", g.setting, f"{len(by_split)} × {min(sizes)}"]
        for key in VARIANCE_METRICS:
            table = [np.array([m.get(key, np.nan) for m in runs]) for runs in by_split.values()]
            within = np.mean([t.var(ddof=1) for t in table])  # pooled over splits (balanced or nearly)
            between = max(np.var([t.mean() for t in table], ddof=1) - within / np.mean([len(t) for t in table]), 0.0)
            total = np.concatenate(table).std(ddof=1)
            cells.append(f"{100 * np.sqrt(within):.2f} / {100 * np.sqrt(between):.2f} / {100 * total:.2f}")
        rows.append(cells)
    header = ["data / model", "setting", "splits × seeds", *(f"{k} std %: seeds / splits / all" for k in
                                                          VARIANCE_METRICS)]  # fmt: skip
    title = ("Sources of variance (standard deviations, %; NLL × 100): training seeds within a split, the data split "
             "(random-effects component), all runs")  # fmt: skip
    return markdown_table(title, header, rows)
