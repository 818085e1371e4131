"""Regenerate README sections that must not go stale: ``python -m textmix.docs README.md``."""

from __future__ import annotations

import dataclasses
import sys
import typing
from importlib.metadata import entry_points
from pathlib import Path

from textmix.core.calibrators import BUILT_IN as CALIBRATORS_BUILT_IN
from textmix.core.conformal import BUILT_IN as SCORES_BUILT_IN
from textmix.core.methods import BUILT_IN as METHODS_BUILT_IN
from textmix.core.methods import describe_methods, get_method
from textmix.engine.recipe import Recipe, shared_sections, type_name
from textmix.engine.tasks import ENTRY_POINT_GROUP, get_task

START, END = "<!-- recipe-keys:start -->", "<!-- recipe-keys:end -->"
METHODS_START, METHODS_END = "<!-- methods:start -->", "<!-- methods:end -->"


def section_fields(name: str, cls: type) -> list[tuple[str, str, object, str]]:
    """(key, type, default, description) of every key of one section dataclass, from its fields
    and its ``Args:`` docstring (used to generate the README table)."""
    defaults = dataclasses.asdict(cls())
    hints = typing.get_type_hints(cls)
    return [
        (f"{name}.{f.name}", type_name(hints[f.name]), defaults[f.name], _describe(cls, f.name))
        for f in dataclasses.fields(cls)
    ]


def recipe_fields() -> list[tuple[str, str, object, str]]:
    """The shared keys: ``task``, ``method`` and the engine's sections, for textmix's own methods,
    calibrators and tasks (not those a program registered in this process)."""
    rows = [(key, "str", getattr(Recipe, key), _describe(Recipe, key)) for key in ("task", "method")]
    for name, cls in shared_sections().items():
        rows += section_fields(name, cls)
    own_keys = {f"loss.{key}" for name in METHODS_BUILT_IN for key in get_method(name).params}
    rows = [row for row in rows if not row[0].startswith("loss.") or row[0] in own_keys]
    facts = {
        "{methods}": describe_methods(METHODS_BUILT_IN),
        "{calibrators}": ", ".join(c.name for c in CALIBRATORS_BUILT_IN),
        "{scores}": ", ".join(c.name for c in SCORES_BUILT_IN),
    }
    return [(k, t, d, _fill(text, facts)) for k, t, d, text in rows]


def _fill(text: str, facts: dict[str, str]) -> str:
    for placeholder, value in facts.items():
        text = text.replace(placeholder, value)
    return text


def _describe(cls, name: str) -> str:
    lines = (cls.__doc__ or "").splitlines()
    text, capture = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(f"{name}:"):
            capture = True
            text.append(stripped[len(name) + 1 :].strip())
        elif capture and stripped and ":" not in stripped.split()[0]:
            text.append(stripped)
        elif capture:
            break
    return " ".join(text)


def _table(rows) -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, text in rows:
        lines.append(f"| `{key}` | {kind.replace(' | ', ' or ')} | `{default!r}` | {text.replace('|', '/')} |")
    return "\n".join(lines)


def recipe_key_table() -> str:
    """The shared keys, then each registered task's own sections."""
    parts = ["Every recipe:", "", _table(recipe_fields())]
    for name in sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)):  # the installed tasks
        task = get_task(name)
        rows = [row for section, cls in task.sections.items() for row in section_fields(section, cls)]
        parts += ["", f"`task: {name}` recipes:", "", _table(rows)]
    return "\n".join(parts)


def method_table() -> str:
    """textmix's training methods: name, paper, what it does, its recipe keys, forward passes a step."""
    header = "| `method:` | paper | what it trains on | `loss.*` keys | forward passes a step |"
    lines = [header, "|---|---|---|---|---|"]
    for name in METHODS_BUILT_IN:
        cls = get_method(name)
        keys = ", ".join(f"`{key}`" for key in cls.params) or "—"
        uses = " (`mixup.*`)" if cls.mixing else ""
        lines.append(f"| `{name}` | {cls.paper or '—'} | {cls.summary}{uses} | {keys} | {cls.passes} |")
    return "\n".join(lines)


def _replace(text: str, start: str, end: str, body: str) -> str:
    head, found_start, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not found_start or not found_end:
        raise ValueError(f"README lacks the markers {start} ... {end}")
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(readme: str) -> str:
    """``readme`` with the generated tables (training methods, recipe keys) replaced by current ones."""
    readme = _replace(readme, METHODS_START, METHODS_END, method_table())
    return _replace(readme, START, END, recipe_key_table())


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:] or ["README.md"])[0])
    path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
