"""``textmix report RUN_DIR... --out DIR``: tables (mean ± std over seeds) and figures.

Runs are grouped by dataset, model and method settings (α, ε, κ); seeds are the repetitions.
Writes ``README.md`` (markdown tables), ``results.json`` (the aggregate) and PNG figures, each
drawn when the runs hold what it needs:

1. ``metrics_by_method.png``: accuracy / ECE / OE per dataset and method (paper Figure 4),
2. ``reliability_<ds>_<model>.png``: baseline vs the best mixup setting, seeds pooled,
3. ``alpha_<ds>_<model>.png``: ECE / OE / accuracy against α (Figure 2 h–j),
4. ``label_entropy_<ds>_<model>.png``: entropy of the mixed training labels per α (Figure 5),
5. ``ood_<ds>_<model>.png``: winning scores in- vs out-of-distribution per scoring method, with
   AUROC (Section 7, Table 1); needs ``eval.ood``,
6. ``joint_density_<ds>_<model>.png``: accuracy vs confidence of validation mini-batches at
   several epochs (Figure 1),
7. ``perturbation_<ds>_<model>.png``: accuracy, winning score and entropy against the distance μ
   from the data (Figure 10); needs ``eval.perturbation``,
8. ``curves_<ds>_<model>.png``: training loss, validation accuracy and ECE per epoch (Figure 7).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from textmix.calibration import entropy
from textmix.io import atomic_write_json, atomic_write_text
from textmix.mixup import Mixup
from textmix.plots import draw_joint_density, draw_reliability, save_figure

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
    recipes: list[dict] = field(default_factory=list)

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
        usual = "input" if recipe.get("task") == "vision" else "embeddings"
        where = "" if point == usual else f", at {point}"
        return alpha, f"{method} α={alpha:g}{extra}{where}"
    if method == "label_smoothing":
        return None, f"label_smoothing ε={recipe['loss']['label_smoothing']:g}"
    if method == "erl":
        return None, f"erl κ={recipe['loss']['erl_kappa']:g}"
    return None, method


def expand_run_dirs(paths: list[Path]) -> list[Path]:
    """Run directories as given, with a sweep folder (``textmix sweep --out``) replaced by its runs.

    Raises FileNotFoundError for a path that is neither a finished run nor a sweep folder whose
    runs have all finished (a report over a half-finished sweep would silently drop seeds).
    """
    runs = []
    for path in paths:
        if (path / "metrics.json").is_file():
            runs.append(path)
            continue
        children = sorted(c for c in path.iterdir() if (c / "recipe.yaml").is_file()) if path.is_dir() else []
        unfinished = [c.name for c in children if not (c / "metrics.json").is_file()]
        if not children:
            raise FileNotFoundError(f"{path} is neither a finished run (no metrics.json) nor a sweep folder of runs")
        if unfinished:
            raise FileNotFoundError(
                f"sweep folder {path} has unfinished runs {unfinished}; run the sweep again to finish them"
            )
        runs.extend(children)
    return runs


# Recipe keys that may differ between the repetitions of one setting: what is repeated (seed, CV
# fold, split seed) and what does not change the result (where and how often it logs or uploads).
REPETITION_KEYS = ("train.seed", "data.fold", "data.split_seed", "train.output_dir", "train.log_every", "hub")


def recipe_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted recipe keys whose values differ between ``a`` and ``b``, repetition keys left out."""
    keys = []
    for key in sorted(set(a) | set(b)):
        name = f"{prefix}{key}"
        if any(name == r or name.startswith(f"{r}.") for r in REPETITION_KEYS):
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += recipe_differences(va, vb, f"{name}.")
        elif va != vb:
            keys.append(name)
    return keys


def collect(run_dirs: list[Path]) -> list[Group]:
    """Runs grouped by dataset, model and method setting.

    Raises ValueError when two runs of one group differ in more than their repetition keys (say
    12 and 45 epochs): averaging them as seeds would silently mix two experiments.
    """
    groups: dict[tuple, Group] = {}
    for run in expand_run_dirs(run_dirs):
        metrics = json.loads((run / "metrics.json").read_text())
        recipe = yaml.safe_load((run / "recipe.yaml").read_text())
        alpha, setting = describe(recipe, metrics["method"])
        key = (recipe["data"]["name"], recipe["model"]["name"], setting)
        group = groups.setdefault(key, Group(key[0], key[1], metrics["method"], alpha, setting))
        differences = recipe_differences(group.recipes[0], recipe) if group.recipes else []
        if differences:
            raise ValueError(
                f"runs {group.runs[0]} and {run} are both '{setting}' on {key[0]} / {key[1]} but their recipes "
                f"differ in {', '.join(differences)}; they are not seeds of one experiment: report them separately"
            )
        group.runs.append(run)
        group.metrics.append(metrics)
        group.recipes.append(recipe)
    return sorted(groups.values(), key=lambda g: (g.dataset, g.model, g.method != "baseline", g.setting))


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


SCORINGS = {"baseline": "softmax", "temperature_scaled": "temperature scaled", "mc_dropout": "MC dropout"}


def mixed_label_entropy(label_counts: list[int], alpha: float, batch_size: int, draws: int = 20_000, seed: int = 0):
    """Entropies (nats) of ``draws`` mixed training targets drawn by textmix's Mixup (one λ per
    batch of ``batch_size``) from labels with these class counts (the paper's Figure 5)."""
    rng = np.random.default_rng(seed)
    pool = np.repeat(np.arange(len(label_counts)), label_counts)
    mixer = Mixup(alpha, generator=torch.Generator().manual_seed(seed))
    out = []
    while sum(len(h) for h in out) < draws:
        batch = torch.from_numpy(rng.choice(pool, size=batch_size, replace=False))
        out.append(entropy(mixer.plan(batch_size).mix_targets(batch, len(label_counts)).numpy()))
    return np.concatenate(out)[:draws]


def figure_label_entropy(sweep: list[Group]) -> Figure:
    counts = sweep[0].metrics[0]["data"]["train_label_counts"]
    batch_size = min(sweep[0].recipes[0]["train"]["batch_size"], sum(counts))
    alphas = sorted({g.alpha for g in sweep})
    fig, axes = _figure(3.6 * len(alphas), 3.4, cols=len(alphas))
    for ax, alpha in zip(axes[0], alphas):
        h = mixed_label_entropy(counts, alpha, batch_size)
        ax.hist(h, bins=np.linspace(0, np.log(2), 15), weights=np.full(len(h), 1 / len(h)), color="tab:blue")
        ax.set_title(f"α={alpha:g}: mean {h.mean():.3f} nats", fontsize=9)
        ax.set_xlabel("label entropy (nats; max ln 2)")
    axes[0][0].set_ylabel("share of training labels")
    fig.suptitle(f"{sweep[0].dataset}: entropy of mixed training labels\n({len(counts)} classes, batch {batch_size})")
    fig.tight_layout()
    return fig


def _scores(group: Group) -> dict[str, np.ndarray]:
    """Winning scores of all seeds pooled: {"<set>/<scoring>": (N · seeds,)}."""
    pooled = defaultdict(list)
    for run in group.runs:
        with np.load(run / "scores.npz") as scores:
            for key in scores:
                pooled[key].append(scores[key])
    return {key: np.concatenate(v) for key, v in pooled.items()}


def figure_ood(groups: list[Group]) -> Figure:
    """Rows: settings; columns: scoring methods; in-distribution vs each OOD set, AUROC in the legend."""
    scorings = [m for m in SCORINGS if all(f"test/{m}" in _scores(g) for g in groups)]
    fig, axes = _figure(4.2 * len(scorings), 3.2 * len(groups), rows=len(groups), cols=len(scorings))
    bins = np.linspace(0, 1, 26)
    for row, group in enumerate(groups):
        scores = _scores(group)
        for col, scoring in enumerate(scorings):
            ax = axes[row][col]
            ax.hist(scores[f"test/{scoring}"], bins=bins, density=True, alpha=0.5, label="test (in)")
            for name in group.metrics[0]["ood"]:
                auroc = np.mean([m["ood"][name][scoring]["auroc"] for m in group.metrics])
                ax.hist(
                    scores[f"{name}/{scoring}"],
                    bins=bins,
                    density=True,
                    histtype="step",
                    lw=1.5,
                    label=f"{name}: AUROC {auroc:.3f}",
                )
            ax.set_title(f"{group.setting} — {SCORINGS[scoring]}", fontsize=9)
            ax.set_xlabel("winning score")
            ax.legend(fontsize=7)
    fig.suptitle(f"{groups[0].dataset} / {groups[0].model}: in- vs out-of-distribution winning scores")
    fig.tight_layout()
    return fig


def batch_points(confidence: np.ndarray, correct: np.ndarray, size: int = 25, seed: int = 0):
    """(mean confidence, accuracy) of random disjoint chunks of ``size`` examples."""
    order = np.random.default_rng(seed).permutation(len(confidence))[: len(confidence) // size * size]
    chunks = order.reshape(-1, size)
    return confidence[chunks].mean(1), correct[chunks].mean(1)


def figure_joint_density(groups: list[Group]) -> Figure:
    """Accuracy vs confidence of validation mini-batches (25 examples, seeds pooled) at the first,
    a middle and the last epoch, one row per setting (the paper's Figure 1)."""
    epochs = len(groups[0].metrics[0]["history"])
    chosen = sorted({1, max(1, epochs // 3), epochs})
    fig, axes = _figure(3.6 * len(chosen), 3.3 * len(groups), rows=len(groups), cols=len(chosen))
    for row, group in enumerate(groups):
        for col, epoch in enumerate(chosen):
            conf, acc = [], []
            for seed, run in enumerate(group.runs):
                with np.load(run / "epoch_predictions.npz") as saved:
                    c, a = batch_points(saved[f"confidence_{epoch}"], saved[f"correct_{epoch}"], seed=seed)
                conf.append(c)
                acc.append(a)
            draw_joint_density(
                axes[row][col], np.concatenate(conf), np.concatenate(acc), f"{group.setting}, epoch {epoch}", bins=15
            )
    fig.tight_layout()
    return fig


def _line_panels(groups: list[Group], keys: tuple[str, ...], series, xlabel: str, title: str, log_x: bool = False):
    """One panel per key, one line per setting; ``series(group, key)`` → (x, y)."""
    fig, axes = _figure(4 * len(keys), 3.5, cols=len(keys))
    for ax, key in zip(axes[0], keys):
        for group in groups:
            ax.plot(*series(group, key), marker="o" if log_x else None, label=group.setting)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(key.replace("_", " "))
        ax.legend(fontsize=7)
    fig.suptitle(f"{groups[0].dataset} / {groups[0].model}: {title}")
    fig.tight_layout()
    return fig


def figure_perturbation(groups: list[Group]) -> Figure:
    """Accuracy, winning score and entropy against μ (log scale), mean over seeds."""

    def series(group, key):
        rows = [m["perturbation"] for m in group.metrics]
        return [r["mu"] for r in rows[0]], np.mean([[r[key] for r in run] for run in rows], axis=0)

    return _line_panels(
        groups,
        ("accuracy", "winning_score", "entropy"),
        series,
        "μ (distance moved from the test image)",
        "test images moved to x + μ·d/‖d‖",
        log_x=True,
    )


def figure_curves(groups: list[Group]) -> Figure:
    """Training loss, validation accuracy and validation ECE per epoch (mean over seeds)."""

    def series(group, key):
        histories = [m["history"] for m in group.metrics]
        length = min(len(h) for h in histories)
        return range(1, length + 1), np.mean([[h[e][key] for e in range(length)] for h in histories], axis=0)

    return _line_panels(groups, ("train_loss", "val_accuracy", "val_ece"), series, "epoch", "training curves")


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


def _has(group: Group, file: str) -> bool:
    return all((run / file).is_file() for run in group.runs)


FIGURE_KINDS = (
    "metrics_by_method",
    "reliability",
    "alpha",
    "label_entropy",
    "ood",
    "joint_density",
    "perturbation",
    "curves",
)


def report(run_dirs: list[Path], out: Path, figure_kinds: list[str] | None = None) -> dict:
    """Write the tables, figures and aggregate of ``run_dirs`` to ``out``; return the aggregate.

    Args:
        run_dirs: finished run directories (each with ``metrics.json`` and ``recipe.yaml``) or
            sweep folders (``textmix sweep --out``), which stand for all their runs.
        out: output folder, created if missing.
        figure_kinds: which figures to draw (names from ``FIGURE_KINDS``); None draws every one
            the runs hold data for. Tables and ``results.json`` are always written.
    """
    if not run_dirs:
        raise ValueError("textmix report needs at least one run directory")
    wanted = set(FIGURE_KINDS if figure_kinds is None else figure_kinds)
    unknown = [k for k in figure_kinds or [] if k not in FIGURE_KINDS]  # in the order given
    if unknown:
        raise ValueError(f"unknown figure kind(s) {unknown}; choose from {', '.join(FIGURE_KINDS)}")
    groups = collect(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    figures = []

    def draw(kind: str, name: str, make_figure, *inputs) -> None:
        if kind in wanted:
            save_figure(make_figure(*inputs), out / name)
            figures.append(name)

    draw("metrics_by_method", "metrics_by_method.png", figure_metrics, groups)
    for (dataset, model), members in _by(groups, lambda g: (g.dataset, g.model)).items():
        baseline = next((g for g in members if g.method == "baseline"), None)
        mixups = [g for g in members if g.method == "mixup" and g.setting.count(",") == 0]
        if baseline is not None and mixups:
            best = min(mixups, key=lambda g: g.values("ece").mean())
            draw("reliability", f"reliability_{dataset}_{model}.png", figure_reliability, baseline, best)
        if len(mixups) > 1:
            draw("alpha", f"alpha_{dataset}_{model}.png", figure_alpha, baseline, mixups)
        with_counts = [g for g in mixups if all("train_label_counts" in m["data"] for m in g.metrics)]
        shown = [g for g in (baseline, *mixups) if g is not None]
        drawers = [
            ("label_entropy", with_counts, figure_label_entropy),
            ("ood", [g for g in members if _has(g, "scores.npz") and all("ood" in m for m in g.metrics)], figure_ood),
            ("joint_density", [g for g in shown if _has(g, "epoch_predictions.npz")], figure_joint_density),
            ("perturbation", [g for g in members if all("perturbation" in m for m in g.metrics)], figure_perturbation),
            ("curves", members, figure_curves),
        ]
        for kind, chosen, make in drawers:
            if chosen:
                draw(kind, f"{kind}_{dataset}_{model}.png", make, chosen)
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
    text = "\n".join(t for t in (tables(groups), ood_table(groups), perturbation_table(groups)) if t)
    atomic_write_text(out / "README.md", f"# textmix report\n\n{text}\n{images}\n")
    return aggregate
