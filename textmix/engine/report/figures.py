"""Report figures over grouped runs, each a matplotlib ``Figure`` (no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from textmix.core.assessment import NONE
from textmix.core.calibrators import uncalibrated_probs
from textmix.core.conformal import SCORES
from textmix.core.plots import draw_adaptive_reliability, draw_joint_density, draw_reliability
from textmix.core.selective import risk_coverage
from textmix.engine.report.cells import Cell, values
from textmix.engine.report.collect import Group, group_by, pooled_scores
from textmix.engine.report.simulate import mixed_label_entropy
from textmix.engine.report.style import calibrator_color, grid, group_styles, method_style, readable
from textmix.engine.report.tables import ood_sources, shown_probabilities, source_label
from textmix.engine.run_directory import RunDir


def _figure(width: float, height: float, rows: int = 1, cols: int = 1):
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def figure_metrics(groups: list[Group]) -> Figure:
    """Accuracy, ECE and OE (%) per dataset and method (the paper's Figure 4), one colour a method."""
    keys = list(group_by(groups, lambda g: (g.dataset, g.model)).items())
    fig, axes = _figure(4.5 * len(keys), 3.6 * 3, rows=3, cols=len(keys))
    for col, ((dataset, model), members) in enumerate(keys):
        for row, (metric, name) in enumerate((("accuracy", "accuracy %"), ("ece", "ECE %"), ("oe", "OE %"))):
            ax = axes[row][col]
            means = [100 * g.values(metric).mean() for g in members]
            stds = [100 * g.values(metric).std(ddof=1) if len(g.metrics) > 1 else 0 for g in members]
            colors = [method_style(g.method)["color"] for g in members]
            ax.bar(range(len(members)), means, yerr=stds, color=colors, capsize=3)
            ax.set_xticks(range(len(members)), [g.setting for g in members], rotation=60, ha="right", fontsize=7)
            ax.set_ylabel(name)
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
    for ax, (metric, name) in zip(axes[0], (("ece", "ECE %"), ("oe", "OE %"), ("accuracy", "accuracy %"))):
        means = np.array([100 * g.values(metric).mean() for g in sweep])
        stds = np.array([100 * g.values(metric).std(ddof=1) if len(g.metrics) > 1 else 0 for g in sweep])
        ax.errorbar(alphas, means, yerr=stds, capsize=3, label=sweep[0].method, **method_style(sweep[0].method))
        if baseline is not None:
            color = method_style(baseline.method)["color"]
            ax.axhline(100 * baseline.values(metric).mean(), ls="--", color=color, label=baseline.setting)
        ax.set_xlabel("α")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    fig.suptitle(f"{sweep[0].dataset} / {sweep[0].model}")
    fig.tight_layout()
    return fig


def figure_label_entropy(sweep: list[Group]) -> Figure:
    counts = sweep[0].metrics[0]["data"]["train_label_counts"]
    batch_size = min(sweep[0].recipes[0]["train"]["batch_size"], sum(counts))
    alphas = sorted({g.alpha for g in sweep})
    fig, axes = _figure(3.6 * len(alphas), 3.4, cols=len(alphas))
    for ax, alpha in zip(axes[0], alphas):
        h = mixed_label_entropy(counts, alpha, batch_size)
        color = method_style(sweep[0].method)["color"]
        ax.hist(h, bins=np.linspace(0, np.log(2), 15), weights=np.full(len(h), 1 / len(h)), color=color)
        ax.set_title(f"α={alpha:g}: mean {h.mean():.3f} nats", fontsize=9)
        ax.set_xlabel("label entropy (nats; max ln 2)")
    axes[0][0].set_ylabel("share of training labels")
    fig.suptitle(f"{sweep[0].dataset}: entropy of mixed training labels\n({len(counts)} classes, batch {batch_size})")
    fig.tight_layout()
    return fig


def figure_ood(groups: list[Group]) -> Figure:
    """Rows: settings; columns: scoring methods; in-distribution vs each OOD set, AUROC in the legend."""
    scorings = [m for m in ood_sources(groups) if all(f"test/{m}" in pooled_scores(g) for g in groups)]
    fig, axes = _figure(4.2 * len(scorings), 3.2 * len(groups), rows=len(groups), cols=len(scorings))
    bins = np.linspace(0, 1, 26)
    for row, group in enumerate(groups):
        scores = pooled_scores(group)
        for col, scoring in enumerate(scorings):
            ax = axes[row][col]
            ax.hist(scores[f"test/{scoring}"], bins=bins, density=True, alpha=0.5, label="test (in)")
            for name in group.assessments[0].ood:
                auroc = np.mean([a.ood[name][scoring]["auroc"] for a in group.assessments])
                ax.hist(
                    scores[f"{name}/{scoring}"],
                    bins=bins,
                    density=True,
                    histtype="step",
                    lw=1.5,
                    label=f"{name}: AUROC {auroc:.3f}",
                )
            ax.set_title(f"{group.setting} — {source_label(scoring)}", fontsize=9)
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
                with np.load(run.epoch_predictions) as saved:
                    c, a = batch_points(saved[f"confidence_{epoch}"], saved[f"correct_{epoch}"], seed=seed)
                conf.append(c)
                acc.append(a)
            draw_joint_density(
                axes[row][col], np.concatenate(conf), np.concatenate(acc), f"{group.setting}, epoch {epoch}", bins=15
            )
    fig.tight_layout()
    return fig


def _line_panels(groups: list[Group], keys: dict[str, str], series, xlabel: str, title: str, log_x: bool = False):
    """One panel per key (``keys``: key → axis label, "%" in it: drawn in percent), one line per
    setting in its method's colour and marker; ``series(group, key)`` → (x, y)."""
    fig, axes = _figure(4 * len(keys), 3.5, cols=len(keys))
    for ax, (key, name) in zip(axes[0], keys.items()):
        scale = 100 if "%" in name else 1
        for group, style in zip(groups, group_styles(groups)):
            x, y = series(group, key)
            ax.plot(x, scale * np.asarray(y), ms=4, label=group.setting, **style)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
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
        {"accuracy": "accuracy %", "winning_score": "winning score", "entropy": "entropy (nats)"},
        series,
        "μ (distance moved from the test input)",
        "test inputs moved to x + μ·d/‖d‖",
        log_x=True,
    )


def figure_curves(groups: list[Group]) -> Figure:
    """Training loss, validation accuracy and validation ECE per epoch (mean over seeds)."""

    def series(group, key):
        histories = [m["history"] for m in group.metrics]
        length = min(len(h) for h in histories)
        return range(1, length + 1), np.mean([[h[e][key] for e in range(length)] for h in histories], axis=0)

    keys = {"train_loss": "training loss", "val_accuracy": "validation accuracy %", "val_ece": "validation ECE %"}
    return _line_panels(groups, keys, series, "epoch", "training curves")


def _pooled_scores(group: Group, calibrated: bool) -> tuple[np.ndarray, np.ndarray]:
    """(winning scores, correct) of the test split, seeds pooled; optionally after each run's chosen
    calibrator."""
    scores, correct = [], []
    for run, assessment in zip(group.runs, group.assessments):
        with np.load(run.file(RunDir.PREDICTIONS)) as saved:
            logits, labels = saved["test_logits"], saved["test_labels"]
        chosen = assessment.calibrators.get(assessment.chosen) if calibrated else None
        probs = chosen(logits.astype(np.float64)) if chosen else uncalibrated_probs(logits)
        scores.append(probs.max(1))
        correct.append(probs.argmax(1) == labels)
    return np.concatenate(scores), np.concatenate(correct)


def figure_risk_coverage(groups: list[Group]) -> Figure:
    """Risk against coverage when the least confident predictions are rejected (selective prediction),
    per setting, and the baseline after its chosen calibrator; AURC in the legend."""
    fig, axes = _figure(5.5, 4)
    ax = axes[0][0]
    styles = group_styles(groups)
    curves = [(g.setting, g, False, style) for g, style in zip(groups, styles)]
    curves += [(f"{g.setting} + {readable(g.assessments[0].chosen)}", g, True, style)
               for g, style in zip(groups, styles) if g.role == "reference" and g.assessments[0].chosen]  # fmt: skip
    for label, group, scaled, style in curves:
        scores, correct = _pooled_scores(group, scaled)
        coverage, risk, _ = risk_coverage(scores, correct)
        area = float((np.diff(np.concatenate([[0.0], coverage])) * risk).sum())
        # temperature scaling keeps a run's ranking, so its curve can coincide with the baseline's:
        # drawn wide and pale underneath, both stay visible
        width = {"lw": 4, "alpha": 0.35, "zorder": 1} if scaled else {"lw": 1.2, "zorder": 2}
        ax.plot(100 * coverage, 100 * risk, color=style["color"], linestyle=style["linestyle"], **width,
                label=f"{label}: AURC {100 * area:.2f}")  # fmt: skip
    ax.set_xlabel("coverage % (test examples answered)")
    ax.set_ylabel("risk (error % among answered)")
    ax.set_title(f"{groups[0].dataset} / {groups[0].model}: risk–coverage (seeds pooled)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_adaptive_reliability(baseline: Group, other: Group) -> Figure:
    """Equal-width (top) and equal-mass (bottom) reliability of the baseline and another setting."""
    fig, axes = _figure(9, 8.5, rows=2, cols=2)
    for col, group in enumerate((baseline, other)):
        probs, labels = group.pooled_predictions()
        draw_reliability(axes[0][col], probs, labels, title=f"{group.dataset} {group.setting}")
        draw_adaptive_reliability(axes[1][col], probs, labels, title=group.setting)
    fig.tight_layout()
    return fig


def figure_calibrators(groups: list[Group]) -> Figure:
    """Test ECE (mean ± std over seeds) after each post-hoc calibrator: one panel a setting, in a grid
    at most PAGE_COLUMNS wide, one colour a calibrator in every panel, a shared ECE axis."""
    names = list(dict.fromkeys(n for g in groups for n in g.calibrators()))
    rows, cols = grid(len(groups))
    fig, axes = _figure(3.4 * cols, 2.9 * rows + 0.6, rows=rows, cols=cols)
    top = 0.0
    for ax, g in zip(axes.flat, groups):
        values = [g.calibrated_values(name, "ece") for name in names]
        means = [100 * v.mean() if len(v) and not np.isnan(v).any() else np.nan for v in values]
        stds = [100 * v.std(ddof=1) if len(v) > 1 and not np.isnan(v).any() else 0 for v in values]
        ax.bar(range(len(names)), means, yerr=stds, capsize=2, color=[calibrator_color(n) for n in names])
        ax.set_xticks(range(len(names)), [readable(n) for n in names], rotation=50, ha="right", fontsize=7)
        ax.set_title(g.setting, fontsize=9, color=method_style(g.method)["color"])
        top = max(top, np.nanmax(np.add(means, stds)) if not np.isnan(means).all() else 0)
    for k, ax in enumerate(axes.flat):
        ax.set_ylim(0, 1.05 * top or 1)
        if k % cols == 0:
            ax.set_ylabel("test ECE %")
        if k >= len(groups):
            ax.set_visible(False)
    fig.suptitle(f"{groups[0].dataset} / {groups[0].model}: ECE after each post-hoc calibrator (mean ± std)")
    fig.tight_layout()
    return fig


def figure_conformal(groups: list[Group]) -> Figure:
    """Mean set size against coverage per setting (one marker a conformal method and α; filled after
    the run's calibrator, open on raw probabilities), the target coverages dashed."""
    fig, axes = _figure(6.5, 4.5)
    ax = axes[0][0]
    markers = dict(zip(SCORES.names(), "osD^vP*X"))
    colors = {g.setting: style["color"] for g, style in zip(groups, group_styles(groups))}
    alphas, used = set(), set()
    for g in groups:
        runs = [a.conformal_results() for a in g.assessments]
        for alpha, methods in runs[0].items():
            alphas.add(float(alpha))
            for method, by_probs in methods.items():
                used.add(method)
                for probs in shown_probabilities(by_probs, g.assessments[0].chosen):
                    values = [r[alpha][method][probs] for r in runs]
                    x = 100 * np.mean([v["coverage"] for v in values])
                    y = np.mean([v["mean_size"] for v in values])
                    face = colors[g.setting] if probs != NONE else "none"
                    ax.scatter(x, y, marker=markers.get(method, "x"), facecolors=face, edgecolors=colors[g.setting])
    for alpha in alphas:
        ax.axvline(100 * (1 - alpha), color="gray", ls="--", lw=0.8)
    for setting, color in colors.items():
        ax.scatter([], [], color=color, label=setting)
    for method, marker in markers.items():
        if method in used:  # the legend names only the scores drawn
            ax.scatter([], [], marker=marker, facecolors="none", edgecolors="k", label=method.upper())
    ax.set_xlabel("test coverage %  (dashed: 1 − α)")
    ax.set_ylabel("mean set size")
    ax.set_title(f"{groups[0].dataset} / {groups[0].model}: conformal sets (filled: after the calibrator)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_cells(members: list[Group], panels: list[tuple[str, str, object]]) -> Figure:
    """Heat maps of method × calibrator cells, one panel per quantity: rows are the settings, columns
    the calibrators, each cell annotated with its mean over seeds (blank where not measured).

    Args:
        panels: (title, number format, Cell → per-seed values) per panel, e.g. test ECE in percent.
    """
    names = list(dict.fromkeys(n for g in members for n in g.calibrators()))
    fig, axes = _figure(2.0 + 0.8 * len(names) * len(panels), 2.4 + 0.4 * len(members), cols=len(panels))
    for ax, (title, fmt, measure) in zip(axes[0], panels):
        grid = np.full((len(members), len(names)), np.nan)
        for i, g in enumerate(members):
            for j, name in enumerate(names):
                if name in g.calibrators():
                    per_seed = values(measure(Cell(g, name)))
                    grid[i, j] = np.nanmean(per_seed) if not np.isnan(per_seed).all() else np.nan
        shown = np.ma.masked_invalid(grid)
        heat = ax.imshow(shown, cmap="viridis_r", aspect="auto")
        fig.colorbar(heat, ax=ax, shrink=0.8)
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):  # dark text on the light (low) end of the colour map
                ink = "k" if heat.norm(value) < 0.5 else "w"
                ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=7, color=ink)
        ax.set_xticks(range(len(names)), [readable(n) for n in names], rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(members)), [g.setting for g in members], fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"{members[0].dataset} / {members[0].model}: method × calibrator (mean over seeds; lower is better)")
    fig.tight_layout()
    return fig
