"""Paired comparisons of a report table: t-tests written out, Holm's step-down by hand, the
Bonferroni interval, too few seeds, and intervals clipped to the range of a difference."""

import math

import numpy as np
import pytest
from scipy import stats

from textmix.engine.report.comparisons import Family, holm, p_value


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_the_p_value_is_the_paired_t_test_written_out():
    diff = np.array([0.01, 0.02, 0.04, 0.03])
    t = diff.mean() / (diff.std(ddof=1) / math.sqrt(4))
    assert p_value(diff) == pytest.approx(2 * stats.t.sf(t, 3))
    assert p_value(np.zeros(3)) == 1.0 and p_value(np.full(3, 0.2)) == 0.0


def test_a_family_is_adjusted_together_and_resolved_only_after_adjustment():
    family = Family()
    strong = family.add([0.050, 0.052, 0.048, 0.051])  # p ≈ 1e-5
    weak = family.add([0.01, 0.03, 0.00, 0.02])  # p ≈ 0.09 raw
    borderline = family.add([0.010, 0.020, 0.015, 0.012])  # p ≈ 0.004 raw
    noise = [family.add(np.random.default_rng(s).normal(0, 0.01, 4)) for s in range(7)]
    family.finish()
    raw = [p_value(np.asarray(c.diff)) for c in (strong, weak, borderline, *noise)]
    adjusted = holm(raw)
    assert strong.adjusted == pytest.approx(adjusted[0]) and borderline.adjusted == pytest.approx(adjusted[2])
    assert str(strong).endswith(" resolved") and "not resolved" not in str(strong)
    assert raw[2] < 0.05 and adjusted[2] > raw[2]
    assert ("not resolved" in str(borderline)) == (adjusted[2] >= 0.05)
    # the adjusted interval is the Bonferroni one: t quantile at 1 − 0.05 / (2 · 10)
    d = np.asarray(strong.diff)
    half = stats.t.ppf(1 - 0.05 / 20, 3) * d.std(ddof=1) / 2
    assert f"adj. [{100 * (d.mean() - half):.2f}, {100 * (d.mean() + half):.2f}]" in str(strong)


def test_too_few_seeds_and_bounded_intervals():
    family = Family()
    two = family.add([0.9, -0.5])
    wide = family.add([0.95, 0.99, -0.2], bound=1.0)  # an accuracy difference cannot leave [-1, 1]
    missing = family.add([0.1, np.nan, 0.2])
    family.finish()
    assert str(two) == "+20.00 (too few seeds)"
    low_high = [float(x) for x in str(wide).split("]")[0].split("[")[1].split(",")]
    assert low_high[0] >= -100 and low_high[1] == 100.0
    assert str(missing) == "—"
    with pytest.raises(RuntimeError):
        str(Family().add([1, 2, 3]))
