"""Markdown tables over grouped runs: metrics (mean ± std over seeds), OOD AUROC, perturbation."""

from __future__ import annotations

import numpy as np

from textmix.engine.report.collect import Group, group_by

METRICS = ("accuracy", "ece", "oe", "mce", "nll", "brier")

SCALED = ("ece", "oe", "nll")

SCORINGS = {"baseline": "softmax", "temperature_scaled": "temperature scaled", "mc_dropout": "MC dropout"}


def mean_std(values: np.ndarray, scale: float = 100.0) -> str:
    if len(values) == 0:
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
    if not rows:
        return ""
    header = "| data / model | setting | OOD set | " + " | ".join(f"AUROC {v}" for v in SCORINGS.values()) + " |"
    return "\n".join(
        ["### Out-of-distribution detection (AUROC of the winning score, %)", "", header, "|" + "---|" * 6, *rows, ""]
    )


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
    if not rows:
        return ""
    header = "| data / model | setting | μ | accuracy % | winning score % | entropy (nats) |"
    return "\n".join(["### Moving away from the data: x + μ·d/‖d‖", "", header, "|" + "---|" * 6, *rows, ""])
