"""``textmix report RUN_DIR... --out DIR``: tables (mean ± std over seeds) and figures.

Runs are grouped by dataset, model and method settings (α, ε, κ); seeds are the repetitions.
Writes ``README.md`` (markdown tables), ``results.json`` (the aggregate) and PNG figures:
accuracy / ECE / OE per dataset and method, reliability diagrams baseline vs the best mixup
setting (test predictions of all seeds pooled), and ECE / OE / accuracy against α.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from textmix.io import atomic_write_json, atomic_write_text
from textmix.plots import draw_reliability, save_figure

METRICS = ("accuracy", "ece", "oe", "mce", "nll", "brier")
SCALED = ("ece", "oe", "nll")


@dataclass
class Group:
    """Runs of one setting, one per seed."""

    dataset: str
    model: str
    method: str
    alpha: float | None
    setting: str
    runs: list[Path] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)

    def values(self, key: str, split: str = "test") -> np.ndarray:
        if split == "temperature_scaled":
            return np.array([m["temperature_scaled"]["test"][key] for m in self.metrics if "temperature_scaled" in m])
        return np.array([m[split][key] for m in self.metrics])

    def pooled_predictions(self) -> tuple[np.ndarray, np.ndarray]:
        loaded = [np.load(run / "predictions.npz") for run in self.runs]
        return np.concatenate([p["test_probs"] for p in loaded]), np.concatenate([p["test_labels"] for p in loaded])


def describe(recipe: dict, method: str) -> tuple[float | None, str]:
    """(α or None, a short label of the method setting)."""
    if method in ("mixup", "mixup_features_only"):
        alpha = float(recipe["mixup"]["alpha"])
        extra = ", per-sample λ" if recipe["mixup"]["per_sample"] else ""
        point = recipe["mixup"]["mix_point"]
        where = "" if point == "embeddings" else f", at {point}"
        return alpha, f"{method} α={alpha:g}{extra}{where}"
    if method == "label_smoothing":
        return None, f"label_smoothing ε={recipe['loss']['label_smoothing']:g}"
    if method == "erl":
        return None, f"erl κ={recipe['loss']['erl_kappa']:g}"
    return None, method


def collect(run_dirs: list[Path]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for run in run_dirs:
        if not (run / "metrics.json").is_file():
            raise FileNotFoundError(f"{run} is not a finished run (no metrics.json)")
        metrics = json.loads((run / "metrics.json").read_text())
        recipe = yaml.safe_load((run / "recipe.yaml").read_text())
        alpha, setting = describe(recipe, metrics["method"])
        key = (recipe["data"]["name"], recipe["model"]["name"], setting)
        group = groups.setdefault(key, Group(key[0], key[1], metrics["method"], alpha, setting))
        group.runs.append(run)
        group.metrics.append(metrics)
    return sorted(groups.values(), key=lambda g: (g.dataset, g.model, g.method != "baseline", g.setting))


def mean_std(values: np.ndarray, scale: float = 100.0) -> str:
    if len(values) == 0:
        return "—"
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{scale * values.mean():.2f} ± {scale * std:.2f}"


def tables(groups: list[Group]) -> str:
    lines = [
        "All values in percent (NLL and Brier × 100), mean ± sample std over seeds, test split at the "
        "best-validation-accuracy epoch; 'TS' = after temperature scaling fitted on validation.",
        "",
    ]
    header = ["setting", "seeds", *METRICS, *(f"TS {k}" for k in SCALED)]
    for (dataset, model), members in _by(groups, lambda g: (g.dataset, g.model)).items():
        lines += [f"### {dataset} / {model}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for g in members:
            cells = [g.setting, str(len(g.metrics))]
            cells += [mean_std(g.values(k)) for k in METRICS]
            cells += [mean_std(g.values(k, "temperature_scaled")) for k in SCALED]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _by(groups, key):
    out = defaultdict(list)
    for g in groups:
        out[key(g)].append(g)
    return out


def _figure(width: float, height: float, rows: int = 1, cols: int = 1):
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def figure_metrics(groups: list[Group]) -> Figure:
    """Accuracy, ECE and OE per dataset and method (the paper's Figure 4)."""
    keys = list(_by(groups, lambda g: (g.dataset, g.model)).items())
    fig, axes = _figure(4.5 * len(keys), 3.6 * 3, rows=3, cols=len(keys))
    for col, ((dataset, model), members) in enumerate(keys):
        for row, metric in enumerate(("accuracy", "ece", "oe")):
            ax = axes[row][col]
            means = [g.values(metric).mean() for g in members]
            stds = [g.values(metric).std(ddof=1) if len(g.metrics) > 1 else 0 for g in members]
            colors = ["tab:gray" if g.method == "baseline" else "tab:blue" for g in members]
            ax.bar(range(len(members)), means, yerr=stds, color=colors, capsize=3)
            ax.set_xticks(range(len(members)), [g.setting for g in members], rotation=60, ha="right", fontsize=7)
            ax.set_ylabel(metric)
            if row == 0:
                ax.set_title(f"{dataset} / {model}")
    fig.tight_layout()
    return fig


def figure_reliability(baseline: Group, mixup: Group) -> Figure:
    fig, axes = _figure(9, 4.5, cols=2)
    for ax, group in zip(axes[0], (baseline, mixup)):
        probs, labels = group.pooled_predictions()
        draw_reliability(ax, probs, labels, title=f"{group.dataset} {group.setting}")
    fig.tight_layout()
    return fig


def figure_alpha(baseline: Group | None, sweep: list[Group]) -> Figure:
    """ECE, OE and accuracy against α (the paper's Figure 2 h–j); baseline as a dashed line."""
    sweep = sorted(sweep, key=lambda g: g.alpha)
    alphas = [g.alpha for g in sweep]
    fig, axes = _figure(12, 3.5, cols=3)
    for ax, metric in zip(axes[0], ("ece", "oe", "accuracy")):
        means = np.array([g.values(metric).mean() for g in sweep])
        stds = np.array([g.values(metric).std(ddof=1) if len(g.metrics) > 1 else 0 for g in sweep])
        ax.errorbar(alphas, means, yerr=stds, marker="o", capsize=3, label="mixup")
        if baseline is not None:
            ax.axhline(baseline.values(metric).mean(), ls="--", color="gray", label="baseline")
        ax.set_xlabel("α")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    fig.suptitle(f"{sweep[0].dataset} / {sweep[0].model}")
    fig.tight_layout()
    return fig


def report(run_dirs: list[Path], out: Path) -> dict:
    """Write the tables, figures and aggregate of ``run_dirs`` to ``out``; return the aggregate."""
    if not run_dirs:
        raise ValueError("textmix report needs at least one run directory")
    groups = collect(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    save_figure(figure_metrics(groups), out / "metrics_by_method.png")
    figures.append("metrics_by_method.png")
    for (dataset, model), members in _by(groups, lambda g: (g.dataset, g.model)).items():
        baseline = next((g for g in members if g.method == "baseline"), None)
        mixups = [g for g in members if g.method == "mixup" and g.setting.count(",") == 0]
        if baseline is not None and mixups:
            best = min(mixups, key=lambda g: g.values("ece").mean())
            name = f"reliability_{dataset}_{model}.png"
            save_figure(figure_reliability(baseline, best), out / name)
            figures.append(name)
        if len(mixups) > 1:
            name = f"alpha_{dataset}_{model}.png"
            save_figure(figure_alpha(baseline, mixups), out / name)
            figures.append(name)
    aggregate = {
        "groups": [
            {
                "dataset": g.dataset,
                "model": g.model,
                "method": g.method,
                "setting": g.setting,
                "alpha": g.alpha,
                "seeds": len(g.metrics),
                "runs": [str(r) for r in g.runs],
                "test": {
                    k: {
                        "mean": float(g.values(k).mean()),
                        "std": float(g.values(k).std(ddof=1)) if len(g.metrics) > 1 else 0.0,
                    }
                    for k in METRICS
                },
            }
            for g in groups
        ],
        "figures": figures,
    }
    atomic_write_json(out / "results.json", aggregate)
    images = "\n".join(f"![{name}]({name})" for name in figures)
    atomic_write_text(out / "README.md", f"# textmix report\n\n{tables(groups)}\n{images}\n")
    return aggregate
