"""``textmix report RUN_DIR... --out DIR``: tables (mean ± std over seeds) and figures.

Runs are grouped by dataset, model and method settings (α, ε, κ); seeds are the repetitions.
Writes ``README.md`` (markdown tables), ``results.json`` (the aggregate), PNG figures, each
drawn when the runs hold what it needs, and with ``--html`` one self-contained ``report.html``:

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
8. ``curves_<ds>_<model>.png``: training loss, validation accuracy and ECE per epoch (Figure 7),
9. ``risk_coverage_<ds>_<model>.png`` and ``adaptive_reliability_<ds>_<model>.png``,
10. ``calibrators_<ds>_<model>.png``: test ECE per setting after each post-hoc calibrator; needs
    runs that fitted more than temperature scaling (``eval.calibrators``),
11. ``conformal_<ds>_<model>.png``: mean set size against coverage per setting and conformal
    method; needs ``eval.conformal``,
12. ``cells_<ds>_<model>.png``: heat maps of method × calibrator cells (test ECE, conformal set
    size, ECE on each shifted domain); needs runs that fitted more than temperature scaling.

Runs with several calibrators also get the cell tables (``cells.py``): every method × calibrator
cell ranked by test ECE, each setting against the baseline after the same calibrator, the
calibrator choice, conformal sets against the baseline, and the shifted domains.
"""

from __future__ import annotations

from pathlib import Path

from textmix import names
from textmix.core.atomic_files import atomic_write_json, atomic_write_text
from textmix.core.errors import RecipeError
from textmix.core.plots import save_figure
from textmix.engine.report import figures as fig
from textmix.engine.report.cells import cell_groups, cell_panels, cell_tables
from textmix.engine.report.collect import collect, group_by, has_file
from textmix.engine.report.html import write_html
from textmix.engine.report.risk_cells import risk_cells_table
from textmix.engine.report.tables import (
    calibrator_table,
    conformal_table,
    interval_table,
    ood_table,
    paired_table,
    perturbation_table,
    shift_conformal_table,
    shift_table,
    shown_names,
    tables,
    variance_table,
)
from textmix.engine.run_directory import RunDir

FIGURE_KINDS = names.FIGURE_KINDS  # the figures report() can draw, in drawing order


def report(run_dirs: list[Path], out: Path, figure_kinds: list[str] | None = None, html: bool = False) -> dict:
    """Write the tables, figures and aggregate of ``run_dirs`` to ``out``; return the aggregate.

    Args:
        run_dirs: finished run directories (each with ``metrics.json`` and ``recipe.yaml``) or
            sweep folders (``textmix sweep --out``), which stand for all their runs.
        out: output folder, created if missing.
        figure_kinds: which figures to draw (names from ``FIGURE_KINDS``); None draws every one
            the runs hold data for. Tables and ``results.json`` are always written.
        html: also write ``report.html``, one self-contained file (see ``report/html.py``).
    """
    if not run_dirs:
        raise RecipeError("textmix report needs at least one run directory")
    wanted = set(FIGURE_KINDS if figure_kinds is None else figure_kinds)
    unknown = [k for k in figure_kinds or [] if k not in FIGURE_KINDS]  # in the order given
    if unknown:
        raise RecipeError(f"unknown figure kind(s) {unknown}; choose from {', '.join(FIGURE_KINDS)}")
    groups = collect(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    figures = []

    def draw(kind: str, name: str, make_figure, *inputs) -> None:
        if kind in wanted:
            save_figure(make_figure(*inputs), out / name)
            figures.append(name)

    draw("metrics_by_method", "metrics_by_method.png", fig.figure_metrics, groups)
    for (dataset, model), members in group_by(groups, lambda g: (g.dataset, g.model)).items():
        baseline = next((g for g in members if g.role == "reference"), None)
        mixups = [g for g in members if g.role == "mixup" and g.setting.count(",") == 0]
        best = min(mixups, key=lambda g: g.values("ece").mean()) if mixups else None
        if baseline is not None and best is not None:
            draw("reliability", f"reliability_{dataset}_{model}.png", fig.figure_reliability, baseline, best)
            adaptive = f"adaptive_reliability_{dataset}_{model}.png"
            draw("adaptive_reliability", adaptive, fig.figure_adaptive_reliability, baseline, best)
        others = [g for g in members if g.role is None]  # regmixup, smoothing, erl, ...
        selective = [g for g in (baseline, best, *others) if g is not None and has_file(g, RunDir.PREDICTIONS)]
        if baseline in selective:
            draw("risk_coverage", f"risk_coverage_{dataset}_{model}.png", fig.figure_risk_coverage, selective)
        if len(mixups) > 1:
            draw("alpha", f"alpha_{dataset}_{model}.png", fig.figure_alpha, baseline, mixups)
        with_counts = [g for g in mixups if all("train_label_counts" in m["data"] for m in g.metrics)]
        shown = [g for g in (baseline, *mixups) if g is not None]
        drawers = [
            ("label_entropy", with_counts, fig.figure_label_entropy),
            (
                "ood",
                [g for g in members if has_file(g, RunDir.SCORES) and all(a.ood for a in g.assessments)],
                fig.figure_ood,
            ),
            ("joint_density", [g for g in shown if has_file(g, RunDir.EPOCH_PREDICTIONS)], fig.figure_joint_density),
            (
                "perturbation",
                [g for g in members if all("perturbation" in m for m in g.metrics)],
                fig.figure_perturbation,
            ),
            ("curves", members, fig.figure_curves),
        ]
        several = [g for g in members if len(g.calibrators()) > 2]
        drawers.append(("calibrators", several, fig.figure_calibrators))
        drawers.append(("conformal", [g for g in members if all(a.conformal_results() for a in g.assessments)],
                        fig.figure_conformal))  # fmt: skip
        for kind, chosen, make in drawers:
            if chosen:
                draw(kind, f"{kind}_{dataset}_{model}.png", make, chosen)
    for (dataset, model), members in cell_groups(groups).items():
        draw("cells", f"cells_{dataset}_{model}.png", fig.figure_cells, members, cell_panels(members))
    aggregate = {"groups": [_summary(g) for g in groups], "figures": figures}
    atomic_write_json(out / "results.json", aggregate)
    embedded = "\n".join(f"![{name}]({name})" for name in figures)
    text = all_tables(groups)
    atomic_write_text(out / "README.md", f"# textmix report\n\n{text}\n{embedded}\n")
    if html:
        write_html(out, text, figures)
    return aggregate


def all_tables(groups) -> str:
    """The report's markdown tables, each only where the runs hold its data."""
    parts = (
        tables(groups),
        interval_table(groups),
        variance_table(groups),
        paired_table(groups),
        shift_table(groups),
        shift_conformal_table(groups),
        calibrator_table(groups),
        conformal_table(groups),
        ood_table(groups),
        perturbation_table(groups),
        cell_tables(groups),
        risk_cells_table(groups),
    )
    return "\n".join(t for t in parts if t)


def _summary(g) -> dict:
    """One group of results.json: the setting, its runs, and mean / std of the test metrics."""
    return {
        "dataset": g.dataset,
        "model": g.model,
        "method": g.method,
        "setting": g.setting,
        "alpha": g.alpha,
        "seeds": len(g.metrics),  # runs: training seeds × split seeds
        "split_seeds": g.split_seeds,
        "runs": [str(r) for r in g.runs],
        "test": {
            k: {"mean": float(g.values(k).mean()), "std": float(g.values(k).std(ddof=1)) if len(g.metrics) > 1 else 0.0}
            for k in shown_names()
        },
    }
