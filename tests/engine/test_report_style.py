"""One look for every report figure: a method's colour and marker are its own in every figure
(distinct across the registered methods, whatever order runs come in), calibrators distinct,
grids wrapped at a page width, reliability diagrams without the confidences no model can give."""

from types import SimpleNamespace

import numpy as np
from matplotlib.figure import Figure

from textmix.core.methods import METHODS
from textmix.core.plots import draw_adaptive_reliability, draw_confidence_histogram, draw_reliability
from textmix.engine.report.style import PAGE_COLUMNS, calibrator_color, grid, group_styles, method_style
from textmix.names import CALIBRATORS


def test_every_registered_method_has_its_own_colour_and_marker_in_any_order():
    methods = list(METHODS.names())
    assert len(methods) >= 12
    styles = [method_style(m) for m in methods]
    assert len({s["color"] for s in styles}) == len(methods) and len({s["marker"] for s in styles}) == len(methods)
    shuffled = [g.method for g in reversed([SimpleNamespace(method=m) for m in methods])]
    assert [method_style(m) for m in shuffled] == styles[::-1]  # by name, not by position in a report
    assert method_style("a_plugin_method") == method_style("a_plugin_method")  # stable for names not registered


def test_settings_of_one_method_differ_by_line_style_and_keep_its_colour():
    groups = [SimpleNamespace(method=m) for m in ("baseline", "mixup", "mixup", "mixup", "regmixup")]
    styles = group_styles(groups)
    assert [s["linestyle"] for s in styles] == ["-", "-", "--", ":", "-"]
    assert len({s["color"] for s in styles[1:4]}) == 1 and styles[0]["color"] != styles[1]["color"]


def test_calibrators_and_uncalibrated_have_distinct_colours():
    colors = [calibrator_color(n) for n in ("none", *CALIBRATORS)]
    assert len(set(colors)) == len(colors)


def test_grids_wrap_at_a_page_width():
    assert grid(1) == (1, 1) and grid(4) == (1, 4) and grid(5) == (2, PAGE_COLUMNS) and grid(13) == (4, 4)


def test_reliability_axes_start_at_the_lowest_possible_confidence():
    rng = np.random.default_rng(0)
    for k in (2, 6):
        probs = rng.dirichlet(np.ones(k), size=500)
        labels = rng.integers(0, k, size=500)
        fig = Figure()
        axes = fig.subplots(1, 3)
        draw_reliability(axes[0], probs, labels)
        draw_adaptive_reliability(axes[1], probs, labels)
        draw_confidence_histogram(axes[2], probs, labels)
        assert [ax.get_xlim()[0] for ax in axes[:2]] == [1 / k, 1 / k]  # binary: the empty half cropped
        accuracy = (probs.argmax(1) == labels).mean()
        assert axes[2].get_xlim()[0] == min(1 / k, accuracy)  # a worse-than-chance accuracy stays in view
