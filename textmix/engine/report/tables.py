"""Markdown tables over grouped runs: metrics (mean ± std over seeds), OOD AUROC, perturbation."""

from __future__ import annotations

import numpy as np
from scipy import stats

from textmix.engine.report.collect import Group, group_by

METRICS = ("accuracy", "ece", "oe", "mce", "nll", "brier")

SCALED = ("ece", "oe", "nll")

SCORINGS = {"baseline": "softmax", "temperature_scaled": "temperature scaled", "mc_dropout": "MC dropout"}


INTERVAL_METRICS = ("accuracy", "ece", "oe", "aurc")


def markdown_table(title: str, header: list[str], rows: list[str]) -> str:
    """A titled markdown table from ready row lines ("" when there are no rows)."""
    if not rows:
        return ""
    return "\n".join([f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows, ""])


def mean_std(values: np.ndarray, scale: float = 100.0) -> str:
    if len(values) == 0 or np.isnan(values).any():
        return "—"
    if len(values) == 1:  # one seed has no spread; "± 0.00" would claim one
        return f"{scale * values[0]:.2f}"
    return f"{scale * values.mean():.2f} ± {scale * values.std(ddof=1):.2f}"


def tables(groups: list[Group]) -> str:
    lines = [
        "All values in percent (NLL and Brier × 100), mean ± sample std over seeds, test split at the "
        "best-validation-accuracy epoch; 'TS' = after temperature scaling fitted on validation.",
        "",
    ]
    header = ["setting", "seeds", *METRICS, *(f"TS {k}" for k in SCALED)]
    for (dataset, model), members in group_by(groups, lambda g: (g.dataset, g.model)).items():
        lines += [f"### {dataset} / {model}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for g in members:
            cells = [g.setting, str(len(g.metrics))]
            cells += [mean_std(g.values(k)) for k in METRICS]
            cells += [mean_std(g.values(k, "temperature_scaled")) for k in SCALED]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def ood_table(groups: list[Group]) -> str:
    """AUROC (mean ± std over seeds) per setting, OOD set and scoring method."""
    rows = []
    for g in groups:
        if not all("ood" in m for m in g.metrics):
            continue
        for name in g.metrics[0]["ood"]:
            cells = [f"{g.dataset} / {g.model}", g.setting, name]
            for scoring in SCORINGS:
                values = np.array([m["ood"][name][scoring]["auroc"] for m in g.metrics if scoring in m["ood"][name]])
                cells.append(mean_std(values))
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "OOD set", *(f"AUROC {v}" for v in SCORINGS.values())]
    return markdown_table("Out-of-distribution detection (AUROC of the winning score, %)", header, rows)


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


def t_interval(values: np.ndarray) -> tuple[float, float] | None:
    """95% Student-t interval of the mean (None for fewer than two values or missing ones)."""
    if len(values) < 2 or np.isnan(values).any():
        return None
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def _interval(bounds, scale: float = 100.0) -> str:
    return "—" if bounds is None else f"[{scale * bounds[0]:.2f}, {scale * bounds[1]:.2f}]"


def interval_table(groups: list[Group]) -> str:
    """95% intervals: of the mean over seeds (t-interval) or, for one seed, the run's bootstrap interval."""
    header = ["data / model", "setting", "seeds", *INTERVAL_METRICS]
    rows = []
    for g in groups:
        cells = [f"{g.dataset} / {g.model}", g.setting, str(len(g.metrics))]
        for key in INTERVAL_METRICS:
            bounds = t_interval(g.values(key))
            boot = g.metrics[0].get("intervals", {}).get("test", {}).get(key)
            if bounds is None and len(g.metrics) == 1 and boot:
                cells.append(_interval((boot["low"], boot["high"])) + " (bootstrap)")
            else:
                cells.append(_interval(bounds))
        rows.append("| " + " | ".join(cells) + " |")
    title = "95% intervals (%): of the mean over seeds (Student t); one seed: bootstrap over test examples"
    return markdown_table(title, header, rows)


def difference(diff: np.ndarray, scale: float = 100.0) -> str:
    """ "+1.23 [0.40, 2.06] resolved": a mean paired difference, its 95% t-interval, and whether the
    interval excludes 0 ("—" for fewer than two pairs or a missing value)."""
    bounds = t_interval(diff)
    if bounds is None:
        return "—"
    verdict = "resolved" if bounds[0] > 0 or bounds[1] < 0 else "not resolved"
    return f"{scale * diff.mean():+.2f} {_interval(bounds, scale)} {verdict}"


def paired_table(groups: list[Group]) -> str:
    """Each setting minus the baseline of the same data / model, paired by seed: mean difference, its
    95% t-interval, and whether the interval excludes 0 (resolved)."""
    rows = []
    for (dataset, model), members in group_by(groups, lambda g: (g.dataset, g.model)).items():
        baseline = next((g for g in members if g.method == "baseline"), None)
        if baseline is None:
            continue
        base = dict(zip(baseline.seeds, baseline.metrics))
        for g in members:
            if g is baseline:
                continue
            common = [s for s in g.seeds if s in base]
            ours = dict(zip(g.seeds, g.metrics))
            cells = [f"{dataset} / {model}", g.setting, str(len(common))]
            for key in INTERVAL_METRICS:
                diff = np.array([ours[s]["test"].get(key, np.nan) - base[s]["test"].get(key, np.nan) for s in common])
                cells.append(difference(diff))
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "paired seeds", *(f"Δ {k}" for k in INTERVAL_METRICS)]
    return markdown_table("Against the baseline (setting − baseline, same seeds; %, 95% t-interval)", header, rows)


SHIFT_METRICS = ("accuracy", "ece", "oe", "nll", "brier", "aurc")


def shift_table(groups: list[Group]) -> str:
    """``eval.shift`` sets: metrics (mean ± std over seeds) before and after the in-domain temperature."""
    rows = []
    for g in groups:
        if not all("shift" in m for m in g.metrics):
            continue
        for name in g.metrics[0]["shift"]:
            sets = [m["shift"][name] for m in g.metrics]
            cells = [f"{g.dataset} / {g.model}", g.setting, name, str(sets[0]["n"])]
            cells += [mean_std(np.array([s["test"][k] for s in sets])) for k in SHIFT_METRICS]
            scaled = [s["temperature_scaled"] for s in sets if "temperature_scaled" in s]
            cells += [mean_std(np.array([s[k] for s in scaled])) for k in ("ece", "oe")]
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "shifted to", "n", *SHIFT_METRICS, "TS ece", "TS oe"]
    title = "Another domain, same labels (eval.shift; %, mean ± std over seeds; TS = in-domain temperature)"
    return markdown_table(title, header, rows)


def calibrator_table(groups: list[Group]) -> str:
    """Test ECE, NLL and Brier (mean ± std over seeds) per setting and post-hoc calibrator, and how
    often each was the one chosen by cross-fitted validation NLL; only for runs that fitted more
    than temperature scaling."""
    rows = []
    for g in groups:
        names = g.calibrators()
        if len(names) <= 2:  # none and temperature: the main table has them
            continue
        chosen = [m.get("calibrator_choice", {}).get("chosen") for m in g.metrics]
        for name in names:
            cells = [f"{g.dataset} / {g.model}", g.setting, name]
            cells += [mean_std(g.calibrated_values(name, k)) for k in ("ece", "nll", "brier")]
            cells.append(f"{chosen.count(name)} of {len(chosen)}" if name != "none" else "")
            rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "calibrator", "ECE %", "NLL × 100", "Brier × 100", "chosen"]
    return markdown_table("Post-hoc calibrators (test split; chosen: by cross-fitted validation NLL)", header, rows)


def shown_probabilities(by_probs: dict) -> list[str]:
    """Which probabilities the conformal table and figure show: raw and the run's calibrator, or, for
    runs that measured sets after several calibrators (the cell tables have them all), raw and
    temperature scaling."""
    names = list(by_probs)
    return names if len(names) <= 2 else [n for n in ("none", "temperature") if n in names]


def conformal_table(groups: list[Group]) -> str:
    """Coverage and mean set size (mean ± std over seeds) per setting, α, conformal method and
    probabilities (raw, after the run's calibrator), for runs with ``eval.conformal``."""
    rows = []
    for g in groups:
        if not all("conformal" in m for m in g.metrics):
            continue
        results = g.metrics[0]["conformal"]["results"]
        for alpha, methods in results.items():
            for method, by_probs in methods.items():
                for probs in shown_probabilities(by_probs):
                    values = [m["conformal"]["results"][alpha][method].get(probs) for m in g.metrics]
                    if any(v is None for v in values):
                        continue
                    cells = [f"{g.dataset} / {g.model}", g.setting, alpha, method, probs]
                    cells.append(mean_std(np.array([v["coverage"] for v in values])))
                    cells.append(mean_std(np.array([v["mean_size"] for v in values]), 1.0))
                    cells.append(mean_std(np.array([v["singleton_rate"] for v in values])))
                    cells.append(mean_std(np.array([v["covgap"] for v in values])))
                    rows.append("| " + " | ".join(cells) + " |")
    header = ["data / model", "setting", "α", "method", "probabilities", "coverage %", "mean size", "singletons %",
              "CovGap %"]  # fmt: skip
    return markdown_table("Conformal prediction sets (test split)", header, rows)
