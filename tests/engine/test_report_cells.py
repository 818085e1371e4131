"""Method × calibrator cells of `textmix report`: ranking, paired differences, calibrator choice,
conformal and shifted-domain tables, checked against numbers worked out by hand."""

import math

import pytest

from textmix.core.assessment import Assessment
from textmix.core.assessment_legacy import upgrade
from textmix.engine.report.cells import (
    Cell,
    against_baseline_table,
    cell_groups,
    cell_panels,
    choice_table,
    conformal_cells_table,
    ranked,
    ranking_table,
    shift_cells_table,
)
from textmix.engine.report.collect import Group
from textmix.engine.report.figures import figure_cells

T_975_2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (tables)


def run_metrics(ece: dict, nll: dict, chosen: str, sizes: dict, shifted_ece: dict) -> dict:
    """One run's metrics.json with the calibrators none / temperature / vector."""

    def block(name):
        return {"ece": ece[name], "nll": nll[name], "aurc": 0.1, "accuracy": 0.8, "accuracy_at_90": 0.85}

    conformal = {name: {"coverage": 0.9, "mean_size": size} for name, size in sizes.items()}
    return {
        "val": {"accuracy": 0.8},
        "test": block("none"),
        "temperature_scaled": {"test": block("temperature")},
        "calibrated": {"vector": {"test": block("vector")}},
        "calibrator_choice": {"chosen": chosen},
        "conformal": {"results": {"0.1": {"lac": conformal}}},
        "shift": {
            "imdb": {
                "test": {"ece": shifted_ece["none"]},
                "temperature_scaled": {"ece": shifted_ece["temperature"]},
                "vector": {"ece": shifted_ece["vector"]},
                "conformal": {"0.1": {"lac": {n: {"coverage": 0.8, "mean_size": 1.5} for n in sizes}}},
            }
        },
    }


def group(method: str, runs: list[dict]) -> Group:
    """A group of runs whose metrics.json have textmix 0.3's layout, read as the report reads any run."""
    g = Group("mr", "kim_cnn", method, None, method)
    g.metrics = [upgrade(m) for m in runs]
    g.assessments = [Assessment.from_json(m) for m in runs]
    g.recipes = [{"train": {"seed": seed}} for seed in (1, 2, 3)]
    return g


@pytest.fixture
def groups():
    # baseline: ECE none 0.15, temperature 0.03 / 0.04 / 0.05, vector 0.04 / 0.06 / 0.05
    baseline = group(
        "baseline",
        [
            run_metrics(
                {"none": 0.15, "temperature": t, "vector": v},
                {"none": 0.8, "temperature": 0.50, "vector": nv},
                chosen,
                {"none": 1.4, "temperature": 1.4, "vector": 1.5},
                {"none": 0.2, "temperature": 0.05, "vector": 0.07},
            )
            for t, v, nv, chosen in (
                (0.03, 0.04, 0.49, "temperature"),
                (0.04, 0.06, 0.52, "vector"),
                (0.05, 0.05, 0.51, "temperature"),
            )  # fmt: skip
        ],
    )
    # mixup: ECE none 0.06, 0.07, 0.08; temperature 0.05, 0.07, 0.06; vector 0.02 each seed
    mixup = group(
        "mixup",
        [
            run_metrics(
                {"none": n, "temperature": t, "vector": 0.02},
                {"none": 0.6, "temperature": 0.55, "vector": 0.53},
                "vector",
                {"none": 1.2, "temperature": size, "vector": 1.3},
                {"none": 0.1, "temperature": 0.06, "vector": 0.04},
            )
            for n, t, size in ((0.06, 0.05, 1.3), (0.07, 0.07, 1.2), (0.08, 0.06, 1.25))
        ],
    )
    return [baseline, mixup]


def t_interval_text(diffs: list[float], scale: float = 100.0) -> str:
    """The mean difference and its raw 95% t-interval, as the tables print them (before "adj.")."""
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = T_975_2 * sd / math.sqrt(n)
    return f"{scale * mean:+.2f} [{scale * (mean - half):.2f}, {scale * (mean + half):.2f}] adj."


def constant_text(diff: float, scale: float = 100.0) -> str:
    """A difference equal in every seed: zero-width intervals, p = 0 raw and adjusted."""
    d = f"{scale * diff:.2f}"
    return f"{scale * diff:+.2f} [{d}, {d}] adj. [{d}, {d}] p 0.000 (Holm 0.000) resolved"


def test_cells_are_ranked_by_mean_test_ece(groups):
    order = [(c.group.method, c.calibrator) for c in ranked([Cell(g, n) for g in groups for n in g.calibrators()])]
    # means: mixup+vector 2.0, baseline+temperature 4.0, baseline+vector 5.0, mixup+temperature 6.0,
    # mixup+none 7.0, baseline+none 15.0
    assert order == [("mixup", "vector"), ("baseline", "temperature"), ("baseline", "vector"),
                     ("mixup", "temperature"), ("mixup", "none"), ("baseline", "none")]  # fmt: skip


def test_ranking_table_gives_each_cell_its_paired_difference_from_the_top(groups):
    table = ranking_table(groups)
    # baseline + temperature − mixup + vector, seed by seed: 0.01, 0.02, 0.03: t = 0.02 / (0.01 / √3),
    # two-sided p with 2 degrees of freedom 0.074; Holm over the table's 5 comparisons: not resolved
    expected = t_interval_text([0.01, 0.02, 0.03])
    assert expected == "+2.00 [-0.48, 4.48] adj."
    row = next(line for line in table.splitlines() if line.startswith("| 2 | baseline | temperature | 4.00 ± 1.00 |"))
    assert f"| {expected} [" in row and "p 0.074 (Holm " in row and "not resolved | 50.00 ± 0.00 |" in row
    # baseline + none is 13 points above the top in every seed: resolved
    assert f"| 6 | baseline | none | 15.00 ± 0.00 | {constant_text(0.13)} |" in table
    assert "Holm-adjusted over every comparison of this table" in table
    assert table.index("| 1 | mixup | vector | 2.00 ± 0.00 |  |") < table.index("| 2 | baseline |")
    assert "set size LAC α=0.1" in table and "| 1.30 ± 0.00 | 80.00 ± 0.00 |" in table


def test_gains_are_compared_with_the_baseline_after_the_same_calibrator(groups):
    table = against_baseline_table(groups)
    # mixup − baseline after temperature: 0.05 − 0.03, 0.07 − 0.04, 0.06 − 0.05
    assert f"| mixup | temperature | {t_interval_text([0.02, 0.03, 0.01])} " in table
    assert f"| mixup | none | {t_interval_text([0.06 - 0.15, 0.07 - 0.15, 0.08 - 0.15])} " in table
    assert "| baseline |" not in table


def test_the_calibrator_choice_is_checked_against_the_test_best(groups):
    table = choice_table(groups)
    # baseline chose temperature, vector, temperature; the test-best NLL per seed is vector (0.49 <
    # 0.50), temperature (0.50 < 0.52), temperature (0.50 < 0.51): the choice matches in seed 3 only;
    # regrets 0.01, 0.02, 0.00 → 1.00 ± 1.00 (× 100)
    assert "| baseline | temperature ×2, vector ×1 | temperature | temperature | 1 of 3 | 1.00 ± 1.00 |" in table
    assert "| mixup | vector ×3 | vector | vector | 3 of 3 | 0.00 ± 0.00 |" in table


def test_conformal_set_sizes_are_paired_with_the_baseline(groups):
    table = conformal_cells_table(groups)
    # after temperature: mixup 1.3, 1.2, 1.25 against the baseline's 1.4 each seed (sizes are counts: scale 1)
    expected = t_interval_text([-0.1, -0.2, -0.15], scale=1.0)
    raw = f"90.00 ± 0.00 | 1.20 ± 0.00 | — | {constant_text(-0.2, 1.0)}"  # 1.2 against 1.4 in every seed
    assert f"| 0.1 | LAC | mixup | {raw} | 90.00 ± 0.00 | 1.25 ± 0.05 | — | {expected} [" in table


def test_the_shifted_domain_table_ranks_cells_by_ece_there(groups):
    table = shift_cells_table(groups)
    rows = [line for line in table.splitlines() if line.startswith("| mixup") or line.startswith("| baseline")]
    assert rows[0].startswith(f"| mixup | vector | 2.00 ± 0.00 | 4.00 ± 0.00 | {constant_text(0.02)} |")
    assert rows[-1].startswith("| baseline | none | 15.00 ± 0.00 | 20.00 ± 0.00 |")
    assert "| 90.00 ± 0.00 | 80.00 ± 0.00 | 1.50 ± 0.00 |" in rows[0]  # coverage drops 90 → 80 on the shift
    # mixup + vector against baseline + vector on the shifted set: 0.04 − 0.07 in every seed
    assert rows[0].endswith(f"| {constant_text(-0.03)} |")


def test_runs_with_temperature_only_have_no_cells(groups):
    for g in groups:
        for m in g.metrics:
            del m["calibrated"]
        g.assessments = [Assessment.from_json(m) for m in g.metrics]
    assert cell_groups(groups) == {} and ranking_table(groups) == ""


def test_the_heat_map_has_one_panel_per_quantity(groups):
    panels = cell_panels(groups)
    assert [title for title, _, _ in panels] == ["test ECE %", "set size LAC α=0.1", "ECE % on imdb"]
    figure = figure_cells(groups, panels)
    grid = figure.axes[0].images[0].get_array()
    assert grid.shape == (2, 3)  # settings × calibrators
    assert grid[1, 2] == pytest.approx(2.0) and grid[0, 0] == pytest.approx(15.0)  # mixup + vector, baseline + none


def test_settings_are_labelled_by_their_values_or_their_names():
    from textmix.engine.report.collect import describe

    assert describe({"loss": {}}, "focal") == (None, "focal γ=FLSD-53")  # γ = 0 is the FLSD-53 schedule
    assert describe({"loss": {"focal_gamma": 2}}, "focal") == (None, "focal γ=2")
    assert describe({"loss": {"label_smoothing": 0.05}}, "label_smoothing") == (None, "label_smoothing ε=0.05")
