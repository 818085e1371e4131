"""One look for every report figure: each training method keeps one colour and one marker in every
figure and every report (its place in the methods registry, not the order runs were given), each
calibrator its own colour, settings of one method told apart by line style, percent on the axes
where the tables use percent, and grids wrapped to a page width."""

from __future__ import annotations

import math
import zlib

from textmix.core.methods import METHODS
from textmix.names import CALIBRATORS

# a qualitative palette of 16 distinguishable colours: Okabe & Ito's 8 (colour-blind safe, black
# left for text), then Paul Tol's bright and muted sets (https://personal.sron.nl/~pault/)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288",
           "#882255", "#44AA99", "#999933", "#AA4499", "#117733", "#88CCEE", "#661100", "#888888")  # fmt: skip
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "<", ">", "h", "p", "d", "8", "H", "1")
LINE_STYLES = ("-", "--", ":", "-.")
PAGE_COLUMNS = 4  # panels a row: a grid figure stays about a page wide


def _slot(name: str, known: tuple[str, ...]) -> int:
    """A stable index: the place among the registered names, else a hash of the name (plugins)."""
    return known.index(name) if name in known else len(known) + zlib.crc32(name.encode()) % len(PALETTE)


def method_style(method: str) -> dict:
    """matplotlib keywords (color, marker) of a training method, the same in every figure."""
    slot = _slot(method, tuple(METHODS.names()))
    return {"color": PALETTE[slot % len(PALETTE)], "marker": MARKERS[slot % len(MARKERS)]}


def group_styles(groups) -> list[dict]:
    """Each group's style: its method's colour and marker; a method's second, third... setting (an α
    sweep) in another line style."""
    seen: dict[str, int] = {}
    styles = []
    for g in groups:
        k = seen.setdefault(g.method, 0)
        seen[g.method] += 1
        styles.append({**method_style(g.method), "linestyle": LINE_STYLES[k % len(LINE_STYLES)]})
    return styles


def calibrator_color(name: str) -> str:
    """A post-hoc calibrator's colour; uncalibrated probabilities (none) grey."""
    return PALETTE[-1] if name == "none" else PALETTE[_slot(name, CALIBRATORS) % (len(PALETTE) - 1)]


def readable(name: str) -> str:
    """A registry name as a label: ensemble_temperature → ensemble temperature."""
    return name.replace("_", " ")


def grid(panels: int) -> tuple[int, int]:
    """(rows, columns) of a grid of ``panels``, at most PAGE_COLUMNS a row."""
    cols = min(panels, PAGE_COLUMNS)
    return math.ceil(panels / cols), cols
