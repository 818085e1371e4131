"""A run's ``metrics.json`` is input to ``textmix report``: a hand-edited or damaged file is named
(file and key) before any table is drawn, never a crash deep in a table and never a silent "—".

Every value the report reads must be a finite number or null ("not measured", e.g. the risk among
no answered texts); names are allowed only under the keys that hold names; a stored calibrator
must load. A block some runs of a setting have and others lack is said.
"""

from __future__ import annotations

import logging
import math

from textmix.core.assessment_legacy import upgrade
from textmix.core.calibrators import calibrator_from_json
from textmix.core.errors import ArgumentError, RunDirError, TextmixError
from textmix.engine.run_directory import RunDir

logger = logging.getLogger(__name__)

NAME_KEYS = frozenset({"method", "chosen", "setting", "procedure"})  # keys whose values are names
FREE_FORM = frozenset({"data", "timing"})  # facts about the run the report does not compute with
OPTIONAL_BLOCKS = ("intervals", "floor", "calibrated", "conformal", "risk_control", "ood", "shift")


def _walk(value, path: str, file) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "calibrator" and isinstance(item, dict):
                try:
                    calibrator_from_json(item, f"{file} field {path}.{key}")
                except ArgumentError as error:
                    raise RunDirError(str(error)) from None
            elif key in NAME_KEYS:
                if item is not None and not isinstance(item, str):
                    raise RunDirError(f"{file} field {path}.{key} is {item!r}, not a name; fix or retrain the run")
            elif not (path == "" and key in FREE_FORM):
                _walk(item, f"{path}.{key}" if path else str(key), file)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", file)
    elif value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    ):
        raise RunDirError(f"{file} field {path} is {value!r}, not a number; fix or retrain the run")


def checked_metrics(run: RunDir) -> dict:
    """A run's metrics.json in the current layout, checked: the method's name, the val and test
    blocks, every number finite (or null), names only where names belong, the chosen calibrator
    among those fitted, every stored calibrator loadable."""
    try:
        metrics = run.read_metrics()
    except ValueError as error:
        raise RunDirError(f"{run.metrics} is not valid JSON ({error})") from None
    if not isinstance(metrics, dict):
        raise RunDirError(f"{run.metrics} is not a JSON object; it is not a finished textmix run")
    if not isinstance(metrics.get("method"), str):
        raise RunDirError(f"{run.metrics} field method is {metrics.get('method')!r}, not a method's name")
    for split in ("val", "test"):
        if not isinstance(metrics.get(split), dict):
            raise RunDirError(f"{run.metrics} has no '{split}' metrics; it is not a finished textmix run")
    layout = metrics.get("assessment")
    if layout is not None and (isinstance(layout, bool) or not isinstance(layout, int)):
        raise RunDirError(f"{run.metrics} field assessment is {layout!r}, not a layout number; fix or retrain the run")
    try:
        current = upgrade(metrics)
    except (TextmixError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunDirError(f"{run.metrics} cannot be read ({type(error).__name__}: {error})") from None
    _walk(current, "", run.metrics)
    for block in OPTIONAL_BLOCKS:
        if block in current and not isinstance(current[block], dict):
            raise RunDirError(f"{run.metrics} field {block} is {type(current[block]).__name__}, not a mapping")
    calibrated = current.get("calibrated", {})
    for name, block in calibrated.items():
        if not isinstance(block, dict) or not isinstance(block.get("test"), dict):
            raise RunDirError(f"{run.metrics} field calibrated.{name} has no 'test' metrics; fix or retrain the run")
    chosen = current.get("calibrator_choice", {}).get("chosen")
    if chosen is not None and chosen not in calibrated:
        raise RunDirError(f"{run.metrics} field calibrator_choice.chosen is {chosen!r}, which the run did not fit "
                          f"(it fitted: {', '.join(calibrated) or 'none'}); fix or retrain the run")  # fmt: skip
    return metrics


def blocks_present(metrics: dict) -> set[str]:
    """The optional blocks of a run's metrics (calibrators, shift sets, OOD sets by name)."""
    current = upgrade(metrics)
    present = {block for block in OPTIONAL_BLOCKS if current.get(block)}
    for block in ("calibrated", "shift", "ood"):
        present |= {f"{block}.{name}" for name in current.get(block, {})}
    for alpha, scores in current.get("conformal", {}).get("results", {}).items():
        present |= {f"conformal.results.{alpha}.{score}" for score in scores}
    present |= {f"risk_control.results.{e}" for e in current.get("risk_control", {}).get("results", {})}
    return present


def say_missing_blocks(runs: list[RunDir], metrics: list[dict], setting: str) -> None:
    """Warn, naming the file, where a run lacks a block the other runs of its setting have (its
    tables then leave that run or that block out)."""
    present = [blocks_present(m) for m in metrics]
    every = set().union(*present) if present else set()
    for run, have in zip(runs, present):
        missing = sorted(every - have)
        if missing:
            logger.warning("%s lacks %s, which other runs of '%s' have: tables of %s leave it out",
                           run.metrics, ", ".join(missing), setting, "them" if len(missing) > 1 else "it")  # fmt: skip
